"""ASGI entry point (uvicorn in `make run`, gunicorn with uvicorn workers in production).

Django itself does not speak ASGI's lifespan protocol; this wrapper does, so that a worker
that stops first lets the relay finish billing its calls and close its upstream connections.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_application = get_asgi_application()

from gateway import relay  # noqa: E402 (after Django is set up)


async def application(scope, receive, send):
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
