"""ASGI entry point (uvicorn in `make run`, gunicorn with uvicorn workers in production).

Two Django handlers share the URLconf: the relay's /v1/ routes (gateway/, authenticated by
API key, no session, no cookies, no static files) go through RELAY_MIDDLEWARE, whose members
all run async; everything else through MIDDLEWARE, whose sync members would otherwise cost the
relay a worker thread per call.

Django itself does not speak ASGI's lifespan protocol; this wrapper does, so that a worker
that stops first lets the relay record its pending calls and close its upstream connections.
"""

import os

import django
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.test.utils import override_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup(set_prefix=False)

from gateway import relay  # noqa: E402 (after Django is set up)

RELAY_PREFIX = "/v1/"


class RelayHandler(ASGIHandler):
    def load_middleware(self, is_async=False):
        with override_settings(MIDDLEWARE=settings.RELAY_MIDDLEWARE):
            super().load_middleware(is_async=is_async)

    async def __call__(self, scope, receive, send):
        # Without Django's ThreadSensitiveContext: the relay runs no thread-sensitive code of
        # its own, so the request cycle's few sync steps (signal receivers, response.close)
        # share asgiref's one thread instead of starting a thread per call.
        await self.handle(scope, receive, send)


django_application = ASGIHandler()
relay_application = RelayHandler()


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"].startswith(RELAY_PREFIX):
        return await relay_application(scope, receive, send)
    if scope["type"] != "lifespan":
        return await django_application(scope, receive, send)
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await relay.drain()
            await send({"type": "lifespan.shutdown.complete"})
            return
