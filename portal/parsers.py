"""The REST API's JSON parser (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES; a module of its own,
as DRF imports it while its views module loads)."""

from django.conf import settings
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, parsers, status

from portal import json_input


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = gettext_lazy("The body is too large.")
    default_code = "request_too_large"


class JSONParser(parsers.JSONParser):
    """JSON bodies through portal.json_input.loads, at most `max_body_bytes` of the view
    (DATA_UPLOAD_MAX_MEMORY_SIZE by default: DRF's own parser reads bodies of any size)."""

    def parse(self, stream, media_type=None, parser_context=None):
        view = (parser_context or {}).get("view")
        limit = getattr(view, "max_body_bytes", settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise RequestTooLarge
        try:
            return json_input.loads(raw)
        except json_input.InvalidJson as error:
            raise exceptions.ParseError(str(error)) from None
