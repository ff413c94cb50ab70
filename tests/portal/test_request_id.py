"""X-Request-Id: taken when sane, made otherwise, echoed, and on every log line of the request."""

import asyncio
import io
import logging
import re

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from portal.request_id import REQUEST_ID, RequestIdFilter, RequestIdMiddleware

pytestmark = pytest.mark.django_db


def test_a_request_without_an_id_gets_a_new_one(client):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-Id"])
    assert first["X-Request-Id"] != second["X-Request-Id"]


def test_the_caller_s_id_is_kept(client):
    response = client.get("/healthz", headers={"x-request-id": "lb-7f3a:0001.retry_2"})
    assert response["X-Request-Id"] == "lb-7f3a:0001.retry_2"


@pytest.mark.parametrize("given", ["", "two words", "x" * 129, "a\nFAKE LOG LINE", "ü"])
def test_an_id_that_could_forge_or_flood_the_logs_is_replaced(client, given):
    response = client.get("/healthz", headers={"x-request-id": given})
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-Id"])


@pytest.fixture
def console():
    """What the portal's console handler writes during the test."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RequestIdFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_log_lines_of_a_request_carry_its_id(client, console):
    client.get("/no/such/page", headers={"x-request-id": "trace-42"})
    lines = [line for line in console.getvalue().splitlines() if "/no/such/page" in line]
    assert lines and all("[trace-42]" in line for line in lines), console.getvalue()
    logging.getLogger("portal").warning("outside any request")
    assert "[None] outside any request" in console.getvalue()


def test_the_middleware_stays_async_and_the_id_is_set_inside_the_view():
    seen = {}

    async def view(request):
        await asyncio.sleep(0)
        seen["id"] = REQUEST_ID.get()
        return HttpResponse()

    middleware = RequestIdMiddleware(view)
    assert asyncio.iscoroutinefunction(middleware)
    request = RequestFactory().get("/", headers={"x-request-id": "async-1"})
    response = asyncio.run(middleware(request))
    assert seen["id"] == "async-1" == response["X-Request-Id"]


def test_the_id_lasts_until_the_response_is_closed():
    middleware = RequestIdMiddleware(lambda request: HttpResponse())
    response = middleware(RequestFactory().get("/", headers={"x-request-id": "sync-1"}))
    assert response["X-Request-Id"] == "sync-1" == REQUEST_ID.get()
    response.close()  # what the server does once the body is sent: request_finished
    assert REQUEST_ID.get() is None
