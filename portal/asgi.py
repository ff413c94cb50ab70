"""ASGI entry point (uvicorn in `make run`, gunicorn with uvicorn workers in production).

Two applications share the process: the relay's /v1/ routes (gateway/app.py, a Starlette
application authenticated by API key: no session, cookies or static files, and none of
Django's per-request thread hops) and Django for everything else.

Django itself does not speak ASGI's lifespan protocol; this wrapper does, so that a worker
that starts replays the usage stopped relay processes journaled, and one that stops first
lets the relay bill its pending calls and close its upstream connections.
"""

import os

import django
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup(set_prefix=False)

from relay import relay  # noqa: E402 (after Django is set up)
from relay.app import PREFIX  # noqa: E402
from relay.app import application as relay_application  # noqa: E402

django_application = ASGIHandler()


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"].startswith(PREFIX + "/"):
        return await relay_application(scope, receive, send)
    if scope["type"] != "lifespan":
        return await django_application(scope, receive, send)
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            relay.start()  # replays usage that stopped relay processes journaled
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await relay.drain()
            await send({"type": "lifespan.shutdown.complete"})
            return
