"""GET /api/v1/me: who the credential (browser session or allauth session token) belongs to."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from accounts.mfa import has_second_factor
from accounts.selectors import memberships_of


class MyOrganizationSerializer(serializers.Serializer):
    public_id = serializers.CharField(source="organization.public_id")
    name = serializers.CharField(source="organization.name")
    role = serializers.CharField()
    require_mfa = serializers.BooleanField(source="organization.require_mfa")


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    full_name = serializers.CharField()
    mfa_enabled = serializers.BooleanField()
    organizations = MyOrganizationSerializer(many=True)


class MeView(GenericAPIView):
    serializer_class = MeSerializer

    @extend_schema(operation_id="me", summary="The signed-in user and their organizations")
    def get(self, request):
        user = request.user
        me = {
            "email": user.email,
            "full_name": user.full_name,
            "mfa_enabled": has_second_factor(user),
            "organizations": memberships_of(user).order_by("created_at"),
        }
        return Response(self.get_serializer(me).data)


urlpatterns = [path("me", MeView.as_view(), name="api-me")]
