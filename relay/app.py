"""The relay's HTTP face under /v1/: OpenAI's paths, shapes and errors (relay.relay does the
work). A Starlette application beside Django's in portal/asgi.py, not Django views: Django's
request cycle (two hops to a worker thread per request for its sync signal receivers, URL
resolution across the whole portal, its middleware) cost the relay a third of its CPU, and the
relay needs none of it. Everything the relay does with the database still goes through
Django (relay.prepare, relay's recorder)."""

import time

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from portal import ids, json_input
from portal.metrics import observe_request
from portal.request_id import REQUEST_ID
from projects import tokens
from projects.authorize import Refusal
from relay import relay

PREFIX = "/v1"
MAX_MODEL_LENGTH = 150
# Tool schemas nest deeper than the portal's own bodies; Python's parser recurses per level.
MAX_BODY_DEPTH = 64
# Headers on every answer: a JSON API is never sniffed or framed as something else.
HEADERS = {"X-Content-Type-Options": "nosniff"}


def _error(error: relay.RelayError, request_id: str | None = None) -> JSONResponse:
    headers = {**HEADERS, **error.headers}
    if request_id:
        headers["X-Request-Id"] = request_id
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def _api_key(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise relay.RelayError(
            401, "Send your API key as 'Authorization: Bearer <key>'.",
            "invalid_request_error", "missing_api_key",
        )  # fmt: skip
    if tokens.API_KEY.prefix_of(token.strip()) is None:  # malformed: no body is read
        raise relay.refusal(Refusal.INVALID_KEY)
    return token.strip()


def _client_ip(request: Request) -> str:
    # uvicorn's proxy headers middleware has put the forwarded address here when trusted.
    return request.client.host if request.client else "0.0.0.0"  # noqa: S104 (never allowed)


async def _usable(request: Request, model: str | None = None) -> list[str]:
    """The served models the calling key may use (given `model`, only the one it names)."""
    return await relay.listable_models(
        api_key=_api_key(request), client_ip=_client_ip(request), model=model
    )


def _model_object(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "token-portal"}


async def models(request: Request) -> Response:
    """GET /v1/models: the models the calling key may use."""
    try:
        allowed = await _usable(request)
    except relay.RelayError as error:
        return _error(error)
    data = [_model_object(model) for model in allowed]
    return JSONResponse({"object": "list", "data": data}, headers=HEADERS)


async def model(request: Request) -> Response:
    """GET /v1/models/{model} (an id, which holds a slash, or an alias): the model when it is
    in the key's list, else 404; refusals of the key itself as the list answers them."""
    name = request.path_params["model"]
    try:
        # An over-long name is no model's, but the key is still checked.
        found = await _usable(request, name if len(name) <= MAX_MODEL_LENGTH else "")
        if not found:
            raise relay.RelayError(
                404, f"The model {name!r} does not exist or this key may not use it.",
                "invalid_request_error", "model_not_found",
            )  # fmt: skip
    except relay.RelayError as error:
        return _error(error)
    return JSONResponse(_model_object(found[0]), headers=HEADERS)


async def _body(request: Request) -> dict:
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise relay.RelayError(
                413, f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
                "invalid_request_error", "request_too_large",
            )  # fmt: skip
    try:
        # A NUL in a prompt is the caller's business: the relay stores none of the body.
        body = json_input.loads(bytes(raw), max_depth=MAX_BODY_DEPTH, allow_nul=True)
    except json_input.InvalidJson as error:
        raise relay.bad_request(str(error), "invalid_json") from None
    if not isinstance(body, dict):
        raise relay.bad_request("The body must be a JSON object.", "invalid_json")
    if not ids.is_model_id(body.get("model")):
        raise relay.bad_request("'model' is required.", "missing_model")
    return body


async def _checked_body(request: Request, api_key: str) -> dict:
    """The body; if it is refused, the key is checked first: a stranger learns only that."""
    try:
        return await _body(request)
    except relay.RelayError:
        await relay.listable_models(api_key=api_key, client_ip=_client_ip(request), model="")
        raise


class _Stream(StreamingResponse):
    """Closes the relay's stream however the response ends: a caller who left before the
    first event still pays for the prompt, and the upstream connection is released."""

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.body_iterator.close()


def _endpoint(path: str):
    async def endpoint(request: Request) -> Response:
        plan, started = None, time.monotonic()
        try:
            api_key = _api_key(request)
            body = await _checked_body(request, api_key)
            plan = await relay.prepare(
                api_key=api_key, model=body["model"], client_ip=_client_ip(request), started=started
            )
            REQUEST_ID.set(plan.request_id)  # the call's log lines carry its usage event's id
            answer = await relay.call(path=path, body=body, plan=plan)
        except relay.RelayError as error:
            return _error(error, plan.request_id if plan else None)
        headers = {**HEADERS, "X-Request-Id": answer.request_id}
        if answer.stream is not None:
            headers.update({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            return _Stream(answer.stream, media_type="text/event-stream", headers=headers)
        return Response(answer.content, answer.status, headers, media_type=answer.content_type)

    endpoint.__name__ = endpoint.__qualname__ = path.strip("/").replace("/", "_")
    return endpoint


async def _http_error(request: Request, error: HTTPException) -> Response:
    """Unknown paths and wrong methods, in OpenAI's shape too."""
    if error.status_code == 405:
        message, code = f"{request.method} is not allowed here.", "method_not_allowed"
    else:
        message, code = f"There is no {request.url.path} here.", "not_found"
    relay_error = relay.RelayError(error.status_code, message, "invalid_request_error", code)
    response = _error(relay_error)
    if error.headers:
        response.headers.update(error.headers)
    return response


async def _server_error(request: Request, error: Exception) -> Response:
    """A fault of ours, in OpenAI's shape; Starlette logs it with its traceback afterwards."""
    message = "The relay failed on its side; the call was not billed. Retry later."
    return _error(relay.RelayError(500, message, "server_error", "internal_error"))


ROUTES = [
    Route(f"{PREFIX}/models", models, methods=["GET"]),
    Route(f"{PREFIX}/models/{{model:path}}", model, methods=["GET"]),
    Route(f"{PREFIX}/chat/completions", _endpoint("/chat/completions"), methods=["POST"]),
    Route(f"{PREFIX}/completions", _endpoint("/completions"), methods=["POST"]),
    Route(f"{PREFIX}/embeddings", _endpoint("/embeddings"), methods=["POST"]),
]
# Metrics labels by endpoint (routing has put it in the scope): one label per route, not per path.
ROUTE_LABELS = {route.endpoint: route.path.lstrip("/") for route in ROUTES}


class _Guard:
    """Outermost: refuses hosts outside ALLOWED_HOSTS (Django's own check) and times each
    call to its answer's headers for /metrics, labelled like Django's routes."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        started = time.perf_counter()
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if not _host_allowed(host):
            error = relay.bad_request(f"Invalid host {host!r}.", "invalid_host")
            return await _error(error)(scope, receive, send)

        async def timed_send(message):
            if message["type"] == "http.response.start":
                route = ROUTE_LABELS.get(scope.get("endpoint"), "unmatched")
                observe_request(scope["method"], route, message["status"], started)
            await send(message)

        await self.app(scope, receive, timed_send)


def _host_allowed(host: str) -> bool:
    domain, _ = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:  # as Django: localhost while developing
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


handlers = {HTTPException: _http_error, Exception: _server_error}
application = _Guard(Starlette(routes=ROUTES, exception_handlers=handlers))
