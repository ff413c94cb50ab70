"""/metrics: closed to the public; the counters move with real requests, authorize calls,
ingestion and task failures; the rollup lag is read when scraped."""

import asyncio
import json

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from prometheus_client.parser import text_string_to_metric_families

from billing.metering import services as metering
from portal.celery import app as celery_app
from portal.metrics import RequestMetricsMiddleware
from tests.billing.metering_world import build_world
from tests.conftest import wait_for
from tests.factories import ApiKeyFactory, GatewayCredentialFactory, LedgerEntryFactory

TOKEN = "metrics-test-token-7f3a"


def scrape(client) -> dict:
    """{(sample name, frozenset(labels)): value} from /metrics."""
    response = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN


@pytest.mark.django_db
def test_metrics_are_a_404_when_no_token_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"authorization": "Bearer "}).status_code == 404


@pytest.mark.django_db
def test_metrics_refuse_a_missing_or_wrong_token(client, token):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"authorization": "Bearer nope"}).status_code == 403
    assert client.get("/metrics", headers={"authorization": f"Basic {TOKEN}"}).status_code == 403
    assert b"portal_" not in client.get("/metrics").content


@pytest.mark.django_db
def test_requests_authorize_and_ingestion_move_the_counters(client, token):
    world = build_world()
    # Prepaid with money on the balance, so that the key is allowed.
    LedgerEntryFactory(organization=world.org, amount=1000)
    credential = GatewayCredentialFactory(name="gw").plaintext
    key = ApiKeyFactory(project=world.projects["a"], name="live").plaintext
    before = scrape(client)

    def authorize(api_key, bearer=credential):
        return client.post(
            "/api/v1/gateway/authorize",
            {"api_key": api_key, "model": "chat-1", "client_ip": "203.0.113.7"},
            content_type="application/json",
            headers={"authorization": f"Bearer {bearer}"},
        )

    assert authorize(key).status_code == 200
    assert authorize(key).status_code == 200
    assert authorize("sk-not-a-key").json()["reason"] == "invalid_key"
    assert authorize(key, bearer="gwc_wrong").status_code == 401
    events = [world.event(), world.event()]
    usage = client.post(
        "/api/v1/gateway/usage",
        {"events": [*events, events[0]]},
        content_type="application/json",
        headers={"authorization": f"Bearer {credential}"},
    )
    assert usage.json() == {"accepted": 2, "duplicates": 1}
    assert client.get("/models/").status_code == 200

    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("portal_authorize_decisions_total", decision="allowed") == 2
    assert moved("portal_authorize_decisions_total", decision="invalid_key") == 1
    assert moved("portal_authorize_decisions_total", decision="invalid_credential") == 1
    assert moved("portal_usage_events_total", outcome="accepted") == 2
    assert moved("portal_usage_events_total", outcome="duplicate") == 1
    # Latency by route pattern and status class, never by raw path.
    latency = "portal_http_request_duration_seconds_count"
    assert moved(latency, method="POST", route="api/v1/gateway/authorize", status="2xx") == 2
    assert moved(latency, method="POST", route="api/v1/gateway/authorize", status="4xx") == 2
    assert moved(latency, method="GET", route="models/", status="2xx") == 1
    # Read from the database at scrape time: the two new events wait for the rollup.
    assert value(after, "portal_usage_rollup_pending_events") == 2
    assert value(after, "portal_usage_rollup_lag_seconds") >= 0
    metering.roll_up()
    caught_up = scrape(client)
    assert value(caught_up, "portal_usage_rollup_pending_events") == 0
    assert value(caught_up, "portal_usage_rollup_lag_seconds") == 0


@pytest.mark.django_db
def test_an_unknown_path_is_one_route_not_one_series_per_path(client, token):
    before = scrape(client)
    client.get("/no/such/page-1")
    client.get("/no/such/page-2")
    after = scrape(client)
    name = "portal_http_request_duration_seconds_count"
    labels = {"method": "GET", "route": "unmatched", "status": "4xx"}
    assert value(after, name, **labels) - value(before, name, **labels) == 2
    assert not any("page-1" in str(key) for key in after)


def test_the_middleware_stays_async_for_async_views():
    async def view(request):
        await asyncio.sleep(0)
        return HttpResponse(status=201)

    middleware = RequestMetricsMiddleware(view)
    assert asyncio.iscoroutinefunction(middleware)
    request = RequestFactory().get("/somewhere")
    response = asyncio.run(middleware(request))
    assert response.status_code == 201


@pytest.mark.worker
def test_task_failures_in_a_worker_process_reach_the_scrape(
    client, token, tmp_path, monkeypatch, transactional_db
):
    """Multiprocess mode: the Celery worker writes its samples where the web process reads."""
    from tests.conftest import start_celery_worker, stop_celery_worker

    folder = tmp_path / "prometheus"
    folder.mkdir()
    worker, log_path = start_celery_worker(
        tmp_path, PROMETHEUS_MULTIPROC_DIR=str(folder), LOG_FORMAT="json"
    )
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    try:
        # A real task called with an argument it does not take: it fails in the worker.
        result = celery_app.send_task("portal.tasks.record_heartbeat", kwargs={"bogus": 1})

        def failure_counted():
            """the worker's failure shows in /metrics"""
            samples = scrape(client)
            failed = value(
                samples,
                "portal_celery_task_failures_total",
                task="portal.tasks.record_heartbeat",
            )
            return failed == 1

        wait_for(failure_counted, timeout=60)
    finally:
        stop_celery_worker(worker)
    # The worker logged the failure as JSON with the task's id.
    records = [
        json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")
    ]
    failure = [r for r in records if r.get("task_id") == result.id and r["level"] == "ERROR"]
    assert failure, log_path.read_text()[-3000:]
    assert {"time", "logger", "message", "request_id"} <= failure[0].keys()
