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
    Under ASGI each request runs in a task of its own, so the value set there ends with it
    (and stays set while a streamed body is sent); under WSGI it is reset after the request.
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
        token = REQUEST_ID.set(self._start(request))
        try:
            response = self.get_response(request)
        finally:
            REQUEST_ID.reset(token)
        response[HEADER] = request.request_id
        return response

    async def __acall__(self, request):
        REQUEST_ID.set(self._start(request))
        response = await self.get_response(request)
        response[HEADER] = request.request_id
        return response

    @staticmethod
    def _start(request) -> str:
        request.request_id = request_id_for(request)
        return request.request_id


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (web) and `task_id` (Celery) to every record, None when absent."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        task = get_current_task()
        record.task_id = task.request.id if task is not None else None
        return True
