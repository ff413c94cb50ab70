"""One error shape for the whole REST API.

    {"error": {"code": "validation_error", "message": "...", "fields": {"name": ["..."]}}}

"fields" appears only for validation errors. The gateway endpoints keep the exact shapes
of their contract (docs/gateway-contract.md) and do not pass through here.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


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
