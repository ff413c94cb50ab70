"""A request id on every log record: taken from the caller's X-Request-Id (when it is a sane
token) or made here, kept in a ContextVar for the request, echoed in the response.

Celery tasks carry their task id instead (RequestIdFilter reads Celery's current task), so a
log line of a web request or of a task can always be traced back to it.
"""

import logging
import re
import uuid
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from celery._state import get_current_task
from django.core.signals import request_finished
from django.dispatch import receiver

HEADER = "X-Request-Id"
# What we accept from a proxy or a client: a short token, nothing that could forge log lines.
VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_for(request) -> str:
    """The caller's X-Request-Id if it is a valid token, else a new random one."""
    given = request.headers.get(HEADER, "")
    return given if VALID.fullmatch(given) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Sets request.request_id and the ContextVar; adds X-Request-Id to the response.

    Sync and async: an async view (the relay's streaming views) is not pushed into a thread.
    The id stays set until the response is closed (request_finished), so Django's own
    "Not Found" / "Internal Server Error" lines, logged after the middleware returned, and a
    streamed body's log lines carry it too.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        self._start(request)
        return self._finish(request, self.get_response(request))

    async def __acall__(self, request):
        self._start(request)
        return self._finish(request, await self.get_response(request))

    @staticmethod
    def _start(request) -> None:
        request.request_id = request_id_for(request)
        REQUEST_ID.set(request.request_id)

    @staticmethod
    def _finish(request, response):
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
