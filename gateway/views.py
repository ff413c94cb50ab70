"""The relay's endpoints, under /v1/: OpenAI's paths, shapes and errors (gateway.relay)."""

import json

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from gateway import relay

MAX_MODEL_LENGTH = 150


def _error(error: relay.RelayError, request_id: str | None = None) -> JsonResponse:
    response = JsonResponse(error.body(), status=error.status)
    if request_id:
        response["X-Request-Id"] = request_id
    response._has_been_logged = True  # an answer to the caller, not a server error
    return response


def _api_key(request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise relay.RelayError(
            401, "Send your API key as 'Authorization: Bearer <key>'.",
            "invalid_request_error", "missing_api_key",
        )  # fmt: skip
    return token.strip()


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104 (never in an allow list)


@csrf_exempt
@require_GET
async def models(request):
    """GET /v1/models: the models the calling key may use."""
    try:
        allowed = await relay.listable_models(
            api_key=_api_key(request), client_ip=_client_ip(request)
        )
    except relay.RelayError as error:
        return _error(error)
    return JsonResponse(
        {
            "object": "list",
            "data": [
                {"id": model, "object": "model", "created": 0, "owned_by": "token-portal"}
                for model in allowed
            ],
        }
    )


def _body(request) -> dict:
    try:
        body = json.loads(request.body)
    except ValueError:
        raise relay.bad_request("The body must be JSON.", "invalid_json") from None
    if not isinstance(body, dict):
        raise relay.bad_request("The body must be a JSON object.", "invalid_json")
    model = body.get("model")
    if not isinstance(model, str) or not 0 < len(model) <= MAX_MODEL_LENGTH:
        raise relay.bad_request("'model' is required.", "missing_model")
    return body


def _endpoint(path: str):
    @csrf_exempt
    @require_POST
    async def view(request):
        plan = None
        try:
            api_key, body = _api_key(request), _body(request)
            plan = await relay.prepare(
                api_key=api_key, model=body["model"], client_ip=_client_ip(request)
            )
            answer = await relay.call(path=path, body=body, plan=plan)
        except relay.RelayError as error:
            return _error(error, plan.request_id if plan else None)
        if answer.stream is not None:
            response = StreamingHttpResponse(answer.stream, content_type="text/event-stream")
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"
        else:
            response = HttpResponse(
                answer.content, status=answer.status, content_type=answer.content_type
            )
        response["X-Request-Id"] = answer.request_id
        return response

    view.__name__ = view.__qualname__ = path.strip("/").replace("/", "_")
    return view


chat_completions = _endpoint("/chat/completions")
completions = _endpoint("/completions")
embeddings = _endpoint("/embeddings")
