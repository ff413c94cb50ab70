"""The shape of our middleware that runs around a view: sync or async, whichever the stack
is, so an async view (the relay's) is never pushed into a thread; and the input guard."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import BadRequest
from django.http import Http404, HttpResponse, JsonResponse, QueryDict
from django.utils.translation import gettext as _

from portal import json_input


class AroundViewMiddleware:
    """Subclasses define before(request) -> state and after(request, response, state) ->
    response; neither may do I/O of its own (they run on the event loop under ASGI)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        state = self.before(request)
        return self.after(request, self.get_response(request), state)

    async def __acall__(self, request):
        state = self.before(request)
        return self.after(request, await self.get_response(request), state)

    def before(self, request):
        raise NotImplementedError

    def after(self, request, response, state):
        raise NotImplementedError


FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")  # files are not read


class InputGuardMiddleware:
    """The last line of defence for what reaches the database: no NUL character in the path
    (404: no such page), the query string or a form's fields (400), as PostgreSQL stores none;
    nor a JSON value in a field nested too deeply to parse (allauth's security key forms
    parse one). And allauth's headless API reads JSON as the REST API does
    (portal.json_input: bounded depth and size), answering a bad body in its own shape."""

    HEADLESS_NAMESPACE = "headless"
    HEADLESS_MAX_BYTES = 64 * 1024  # sign-in, sign-up and reset bodies; a WebAuthn credential

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info:
            raise Http404
        refusal = _refusal(request.GET)
        if refusal is None and request.content_type in FORMS:
            refusal = _refusal(request.POST)
        if refusal is not None:
            return _bad_request(request, refusal)
        return self.get_response(request)

    def process_view(self, request, view, args, kwargs):
        if self.HEADLESS_NAMESPACE not in request.resolver_match.namespaces:
            return None
        if request.method == "GET" or request.content_type != "application/json":
            return None
        if len(request.body) > self.HEADLESS_MAX_BYTES:  # Django stops reading at 2.5 MB
            return _headless_error(_("The body is too large."), status=413)
        try:
            json_input.loads(request.body)
        except json_input.InvalidJson as error:
            return _headless_error(str(error))
        return None


def _refusal(query: QueryDict) -> str | None:
    """Why these fields are refused, or None."""
    for key, values in query.lists():
        for value in (key, *values):
            if "\x00" in value:
                return _("Requests may not contain NUL characters.")
            if value[:1] in ("[", "{") and json_input.depth(value.encode()) > json_input.MAX_DEPTH:
                return _("The JSON nests more than %(depth)d levels.") % {
                    "depth": json_input.MAX_DEPTH
                }
    return None


def _bad_request(request, message: str) -> HttpResponse:
    """A 400 in the shape of the API the path belongs to."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"error": {"code": "invalid_request", "message": message}}, status=400)
    if request.path_info.startswith("/_allauth/"):
        return _headless_error(message)
    raise BadRequest(message)


def _headless_error(message: str, status: int = 400) -> JsonResponse:
    """allauth headless' error shape (its OpenAPI specification, /_allauth/openapi.html)."""
    errors = [{"message": message, "code": "invalid"}]
    return JsonResponse({"status": status, "errors": errors}, status=status)
