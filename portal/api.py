"""One error shape for the whole REST API.

    {"error": {"code": "validation_error", "message": "...", "fields": {"name": ["..."]}}}

"fields" appears only for validation errors. The gateway endpoints keep the exact shapes
of their contract (docs/gateway-contract.md) and do not pass through here.

Also the fields that take ids (portal.ids' grammar) and the router whose routes take them.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, serializers
from rest_framework.routers import SimpleRouter
from rest_framework.views import exception_handler as drf_exception_handler

from portal import ids


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):  # raised by a service: a serializer's 400
        exc = exceptions.ValidationError(_service_errors(exc, context.get("view")))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = {"code": "validation_error", "message": _("Invalid input."), "fields": detail}
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        body = {"code": codes if isinstance(codes, str) else "error", "message": str(exc.detail)}
    else:  # Http404 / PermissionDenied from Django, already translated to a status by DRF
        code = "not_found" if response.status_code == 404 else "permission_denied"
        body = {"code": code, "message": str(response.data.get("detail", ""))}
    response.data = {"error": body}
    return response


def _service_errors(error: DjangoValidationError, view) -> dict:
    """A service's errors by the API's field names: a service names a model field, and a
    serializer field may read it under another name (`source=`)."""
    fields = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
    fields["non_field_errors"] = fields.pop("__all__", None)
    serializer_class = getattr(view, "serializer_class", None)
    api_names = {}
    if serializer_class is not None:
        api_names = {
            field.source: name
            for name, field in serializer_class().fields.items()
            if field.source != name
        }
    return {api_names.get(key, key): value for key, value in fields.items() if value}


def _no_nul(value) -> bool:
    return not isinstance(value, str) or "\x00" not in value


# slug_field -> is this a value it could hold (portal/ids.py)
ID_GRAMMARS = {"public_id": ids.is_public_id, "model_id": ids.is_model_id}


class SlugRelatedField(serializers.SlugRelatedField):
    """DRF's, but a value outside the grammar of its slug (a public id, a model id; no NUL
    for any other) is refused as invalid without a query."""

    def to_internal_value(self, data):
        if not ID_GRAMMARS.get(self.slug_field, _no_nul)(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class PublicIdField(serializers.RegexField):
    """A public id sent in a body (portal/ids.py)."""

    def __init__(self, **kwargs):
        super().__init__(rf"^{ids.PUBLIC_ID.pattern}\Z", **kwargs)


class ModelIdField(serializers.RegexField):
    """A catalog model id or alias sent in a body (portal/ids.py)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", gettext_lazy("A catalog model id or alias."))
        super().__init__(rf"^{ids.MODEL_ID.pattern}\Z", **kwargs)


class Router(SimpleRouter):
    """DRF's router whose detail routes take a public id (the public_id path converter): any
    other value is a 404 before the view."""

    def __init__(self, trailing_slash=True):
        super().__init__(trailing_slash=trailing_slash, use_regex_path=False)

    def get_lookup_regex(self, viewset, lookup_prefix=""):
        kwarg = getattr(viewset, "lookup_url_kwarg", None) or viewset.lookup_field
        return f"<public_id:{lookup_prefix}{kwarg}>"
