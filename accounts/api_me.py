"""GET /api/v1/me: who the credential (browser session or allauth session token) belongs to."""

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from accounts.audit_trail import Actor
from accounts.mfa import has_second_factor
from accounts.selectors import memberships_of
from accounts.services import update_profile


class MyOrganizationSerializer(serializers.Serializer):
    public_id = serializers.CharField(source="organization.public_id")
    name = serializers.CharField(source="organization.name")
    role = serializers.CharField()
    require_mfa = serializers.BooleanField(source="organization.require_mfa")


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField(read_only=True)
    full_name = serializers.CharField(max_length=150, allow_blank=True)
    language = serializers.ChoiceField(
        choices=settings.LANGUAGES,
        allow_blank=True,
        help_text="Language of what the portal sends you (blank: not chosen yet).",
    )
    mfa_enabled = serializers.BooleanField(read_only=True)
    organizations = MyOrganizationSerializer(many=True, read_only=True)


class MeView(GenericAPIView):
    serializer_class = MeSerializer

    @extend_schema(operation_id="me", summary="The signed-in user and their organizations")
    def get(self, request):
        return Response(self.get_serializer(_me(request.user)).data)

    @extend_schema(operation_id="me_update", summary="Change your name or language (audited)")
    def patch(self, request):
        serializer = self.get_serializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        update_profile(actor=Actor.from_request(request), **serializer.validated_data)
        return Response(self.get_serializer(_me(request.user)).data)


def _me(user) -> dict:
    return {
        "email": user.email,
        "full_name": user.full_name,
        "language": user.language,
        "mfa_enabled": has_second_factor(user),
        "organizations": memberships_of(user).order_by("created_at"),
    }


urlpatterns = [path("me", MeView.as_view(), name="api-me")]
