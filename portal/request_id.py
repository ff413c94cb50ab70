"""A request id on every log record: taken from the caller's X-Request-Id (when it is a sane
token) or made here, kept in a ContextVar for the request, echoed in the response.

Celery tasks carry their task id instead (RequestIdFilter reads Celery's current task), so a
log line of a web request or of a task can always be traced back to it.
"""

import logging
import re
import uuid
from contextvars import ContextVar

from celery._state import get_current_task
from django.core.signals import request_finished
from django.dispatch import receiver

from portal.middleware import AroundViewMiddleware

HEADER = "X-Request-Id"
# What we accept from a proxy or a client: a short token, nothing that could forge log lines.
VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_for(request) -> str:
    """The caller's X-Request-Id if it is a valid token, else a new random one."""
    given = request.headers.get(HEADER, "")
    return given if VALID.fullmatch(given) else uuid.uuid4().hex


class RequestIdMiddleware(AroundViewMiddleware):
    """Sets request.request_id and the ContextVar; adds X-Request-Id to the response (sync
    and async). The id stays set until the response is closed (request_finished), so
    Django's own "Not Found" / "Internal Server Error" lines, logged after the middleware
    returned, and a streamed body's log lines carry it too.
    """

    def before(self, request):
        request.request_id = request_id_for(request)
        REQUEST_ID.set(request.request_id)

    def after(self, request, response, state):
        response[HEADER] = request.request_id
        return response


@receiver(request_finished)
def forget_request_id(**kwargs) -> None:
    REQUEST_ID.set(None)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (web) and `task_id` (Celery) to every record, None when absent."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        task = get_current_task()
        record.task_id = task.request.id if task is not None else None
        return True
