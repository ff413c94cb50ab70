"""The gateway contract (docs/gateway-contract.md): the three endpoints any gateway calls,
ours (the relay) or another, with a gateway credential: authorize, usage and ping."""

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.fields import empty
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.metering import services as metering
from billing.packages.models import Entitlement
from portal.api import ModelIdField, PublicIdField
from portal.parsers import JSONParser
from projects import authorize


def _bearer(request) -> str | None:
    """The Bearer token of the request; None without one."""
    header = get_authorization_header(request).split()
    if not header or header[0].lower() != b"bearer":
        return None
    if len(header) != 2:
        raise exceptions.AuthenticationFailed(_("Invalid Authorization header."))
    return header[1].decode("latin-1")


class GatewayCredentialAuthentication(BaseAuthentication):
    """`Authorization: Bearer <gateway credential>`; anything else is 401."""

    def authenticate(self, request):
        token = _bearer(request)
        if token is None:
            return None
        credential = authorize.gateway_credential(token)
        if credential is None:
            raise exceptions.AuthenticationFailed(_("Unknown or revoked gateway credential."))
        return (AnonymousUser(), credential)

    def authenticate_header(self, request):
        return 'Bearer realm="gateway"'


class GatewayCredentialScheme(OpenApiAuthenticationExtension):
    target_class = GatewayCredentialAuthentication
    name = "gatewayCredential"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer"}


class IsGateway(BasePermission):
    def has_permission(self, request, view):
        return request.auth is not None


class GatewayView(APIView):
    authentication_classes = [GatewayCredentialAuthentication]
    permission_classes = [IsGateway]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]


class AuthorizeRequestSerializer(serializers.Serializer):
    api_key = serializers.CharField(max_length=200, trim_whitespace=False)
    model = ModelIdField()
    client_ip = serializers.IPAddressField(help_text=_("Address of the gateway's caller."))


# The serializer's fields, built once: a serializer per call deep-copies its fields, which
# costs more than the rest of the authorize call together.
AUTHORIZE_FIELDS = AuthorizeRequestSerializer().fields


def _authorize_request(data) -> dict:
    """The validated authorize body, or a ValidationError with an error per field."""
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": [_("Send a JSON object.")]})
    values, errors = {}, {}
    for name, field in AUTHORIZE_FIELDS.items():
        try:
            values[name] = field.run_validation(data.get(name, empty))
        except serializers.ValidationError as error:
            errors[name] = error.detail
    if errors:
        raise serializers.ValidationError(errors)
    return values


AllowedResponse = inline_serializer(
    "AuthorizeAllowed",
    {
        "allowed": serializers.BooleanField(),
        "key_id": serializers.CharField(),
        "project_id": serializers.CharField(),
        "organization_id": serializers.CharField(),
        "department_id": serializers.CharField(allow_null=True),
        "limits": inline_serializer(
            "AuthorizeLimits",
            {
                "rpm": serializers.IntegerField(allow_null=True),
                "tpm": serializers.IntegerField(allow_null=True),
                "entitlements": inline_serializer(
                    "AuthorizeEntitlement",
                    {
                        "id": serializers.CharField(),
                        "unit": serializers.ChoiceField(Entitlement.Unit.choices),
                        "remaining": serializers.DecimalField(max_digits=28, decimal_places=10),
                        "expires_at": serializers.DateTimeField(),
                    },
                    many=True,
                    required=False,
                    help_text="Packs and plan allowance that cover this call, in the order "
                    "usage draws them (present only when some do).",
                ),
            },
        ),
    },
)
RefusedResponse = inline_serializer(
    "AuthorizeRefused",
    {
        "allowed": serializers.BooleanField(),
        "reason": serializers.ChoiceField(authorize.Refusal.choices()),
    },
)


class AuthorizeView(GatewayView):
    # The credential is verified with the key, in the same cache round trip (post()).
    permission_classes = []
    max_body_bytes = 4096  # a key, a model id and an address

    def perform_authentication(self, request):
        pass

    @extend_schema(
        tags=["gateway"],
        request=AuthorizeRequestSerializer,
        responses={
            200: AllowedResponse,
            403: RefusedResponse,
            400: OpenApiResponse(description=_("Malformed body, with field errors.")),
            401: OpenApiResponse(description=_("No valid gateway credential.")),
        },
    )
    def post(self, request):
        """May this key call this model from this address? Answered from the cache."""
        token = _bearer(request)
        if token is None:
            raise exceptions.NotAuthenticated
        try:
            body = _authorize_request(request.data)
        except exceptions.APIException:
            if authorize.gateway_credential(token) is None:  # strangers learn nothing
                raise exceptions.AuthenticationFailed from None
            raise
        outcome = authorize.authorize(credential=token, **body)
        if outcome is None:
            raise exceptions.AuthenticationFailed(_("Unknown or revoked gateway credential."))
        allowed, body = outcome
        response = Response(body, status=200 if allowed else 403)
        # A refusal is an answer, not an error: keep it out of django.request's warnings.
        response._has_been_logged = True
        return response


class PingView(GatewayView):
    @extend_schema(
        tags=["gateway"],
        responses={
            200: inline_serializer(
                "GatewayPing",
                {"ok": serializers.BooleanField(), "credential": serializers.CharField()},
            ),
            401: OpenApiResponse(description=_("No valid gateway credential.")),
        },
    )
    def get(self, request):
        """Check the gateway credential: 200 while it is valid, 401 otherwise."""
        return Response({"ok": True, "credential": request.auth["name"]})


def _token_count(help_text, *, required=True) -> serializers.IntegerField:
    """A token count of a usage event, within what ingestion accepts."""
    return serializers.IntegerField(
        min_value=0, max_value=metering.MAX_TOKENS, required=required, help_text=help_text
    )


def _call_fact(name, help_text) -> serializers.IntegerField:
    """How the call went (optional, may be null), within what ingestion accepts."""
    low, high = metering.CALL_FACTS[name]
    return serializers.IntegerField(
        min_value=low, max_value=high, required=False, allow_null=True, help_text=help_text
    )


UsageEventSerializer = inline_serializer(
    "GatewayUsageEvent",
    many=True,
    fields={
        "request_id": serializers.RegexField(
            metering.REQUEST_ID.pattern, help_text=_("Unique forever; a retry is a duplicate.")
        ),
        "key_id": PublicIdField(help_text=_("Public id of the API key.")),
        "model": ModelIdField(),
        "input_tokens": _token_count(
            _(
                "Uncached prompt tokens only: cache reads and cache writes are not included "
                "(report them in cached_input_tokens and cache_write_tokens). From an "
                "OpenAI-style usage: prompt_tokens minus the cached and cache-write tokens."
            )
        ),
        "output_tokens": _token_count(
            _("Generated tokens (OpenAI's completion_tokens, reasoning included).")
        ),
        "cached_input_tokens": _token_count(
            _(
                "Prompt tokens read from the provider's cache, not included in input_tokens; "
                "default 0."
            ),
            required=False,
        ),
        "cache_write_tokens": _token_count(
            _(
                "Prompt tokens written to the provider's cache, not included in input_tokens; "
                "default 0."
            ),
            required=False,
        ),
        "estimated": serializers.BooleanField(required=False),
        "occurred_at": serializers.DateTimeField(),
        "latency_ms": _call_fact(
            "latency_ms", _("Milliseconds from the call's arrival to the end of its answer.")
        ),
        "status_code": _call_fact(
            "status_code", _("HTTP status of the answer to the caller (499: the caller left).")
        ),
    },
)


class UsageView(GatewayView):
    @extend_schema(
        tags=["gateway"],
        request=inline_serializer("GatewayUsageBatch", {"events": UsageEventSerializer}),
        responses={
            202: inline_serializer(
                "GatewayUsageAccepted",
                {"accepted": serializers.IntegerField(), "duplicates": serializers.IntegerField()},
            ),
            400: inline_serializer(
                "GatewayUsageRefused",
                {
                    "errors": inline_serializer(
                        "GatewayUsageError",
                        {
                            "index": serializers.IntegerField(allow_null=True),
                            "field": serializers.CharField(),
                            "message": serializers.CharField(),
                        },
                        many=True,
                    )
                },
            ),
            401: OpenApiResponse(description=_("No valid gateway credential.")),
        },
    )
    def post(self, request):
        """Record a batch of up to 5,000 calls; all or nothing; idempotent by request_id."""
        try:
            data = request.data
        except exceptions.ParseError as error:  # in the contract's shape too: no event read
            return _refused([{"index": None, "field": "", "message": str(error.detail)}])
        events = data.get("events") if isinstance(data, dict) else None
        try:
            result = metering.ingest_usage(events=events)
        except metering.InvalidBatch as refused:
            return _refused(refused.errors)
        return Response({"accepted": result.accepted, "duplicates": result.duplicates}, 202)


def _refused(errors: list[dict]) -> Response:
    response = Response({"errors": errors}, status=400)
    response._has_been_logged = True  # the gateway's problem, reported to it
    return response
