"""One error shape for the whole REST API.

    {"error": {"code": "validation_error", "message": "...", "fields": {"name": ["..."]}}}

"fields" appears only for validation errors. The gateway endpoints keep the exact shapes
of their contract (docs/architecture.md) and do not pass through here.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(
        exc, DjangoValidationError
    ):  # raised by a service: the same 400 as a serializer's
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        fields["non_field_errors"] = fields.pop("__all__", None)
        exc = exceptions.ValidationError({k: v for k, v in fields.items() if v})
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
