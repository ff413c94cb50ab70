"""REST API of the accounts app: parse, call a service, render. Objects are named by public id."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import services
from accounts.api_fields import MemberEmailField, OrganizationRelatedField
from accounts.filters import AuditEventFilter
from accounts.mixins import OrganizationAPIMixin
from accounts.models import (
    AuditEvent,
    Department,
    Invitation,
    Membership,
    Organization,
)
from accounts.permissions import Action

# --- Serializers ------------------------------------------------------------------------


class OrganizationSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)

    class Meta:
        model = Organization
        fields = (
            "id",
            "kind",
            "name",
            "legal_name",
            "uscc",
            "contact_name",
            "contact_phone",
            "address",
            "billing_email",
            "require_mfa",
            "status",
            "status_note",
            "status_changed_at",
            "payment_mode",
            "credit_limit_amount",
            "currency",
            "created_at",
        )
        read_only_fields = tuple(f for f in fields if f not in services.CUSTOMER_FIELDS)


class MemberSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    department = OrganizationRelatedField(
        queryset=Department.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = Membership
        fields = ("id", "email", "full_name", "role", "department", "created_at")
        read_only_fields = ("created_at",)


class InvitationSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    department = OrganizationRelatedField(
        queryset=Department.objects.all(), allow_null=True, required=False
    )
    is_expired = serializers.BooleanField(read_only=True)

    class Meta:
        model = Invitation
        fields = (
            "id",
            "email",
            "role",
            "department",
            "status",
            "is_expired",
            "expires_at",
            "accepted_at",
            "created_at",
        )
        read_only_fields = ("status", "expires_at", "accepted_at", "created_at")


class DepartmentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    parent = OrganizationRelatedField(
        queryset=Department.objects.all(), allow_null=True, required=False
    )
    managers = MemberEmailField(many=True, required=False)

    class Meta:
        model = Department
        fields = ("id", "name", "code", "parent", "managers", "created_at")
        read_only_fields = ("created_at",)
        validators = []  # code uniqueness is the service's to check, in its transaction


class AuditChangesSerializer(serializers.Serializer):
    before = serializers.DictField(help_text="Values before the event, by field.")
    after = serializers.DictField(help_text="Values after the event (or recorded with it).")


class AuditEventSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    changes = AuditChangesSerializer(
        source="normalized_changes",
        read_only=True,
        help_text="The fields the event changed; both keys are always present.",
    )
    action_label = serializers.CharField(
        read_only=True, help_text="The action in the request's language; `action` is the code."
    )

    class Meta:
        model = AuditEvent
        fields = ("id", *AuditEvent.PUBLIC_FIELDS, "action_label")
        read_only_fields = fields


# --- Views ------------------------------------------------------------------------------


class OrganizationViewSet(
    OrganizationAPIMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The current organization (the X-Organization header or the session's choice)."""

    serializer_class = OrganizationSerializer
    read_action = Action.VIEW_ORGANIZATION
    write_action = Action.MANAGE_ORGANIZATION

    def get_object(self):
        return self.organization

    def perform_update(self, serializer):
        serializer.instance = services.update_organization(
            actor=self.actor, organization=self.organization, data=serializer.validated_data
        )


class MemberViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Membership.objects.select_related("user", "department").order_by("user__email")
    serializer_class = MemberSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "member"
    read_action = Action.VIEW_MEMBERS
    write_action = Action.MANAGE_MEMBERS
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def perform_update(self, serializer):
        member, data = serializer.instance, serializer.validated_data
        serializer.instance = services.change_member(
            actor=self.actor,
            membership=member,
            role=data.get("role", member.role),
            department=data.get("department", member.department),
        )

    def perform_destroy(self, instance):
        services.remove_member(actor=self.actor, membership=instance)


class InvitationViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Invitation.objects.select_related("department").order_by("-created_at", "-id")
    serializer_class = InvitationSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "invitation"
    read_action = Action.MANAGE_MEMBERS
    write_action = Action.MANAGE_MEMBERS

    def perform_create(self, serializer):
        serializer.instance = services.invite_member(actor=self.actor, **serializer.validated_data)

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def resend(self, request, **kwargs):
        """Send a new link (the old one stops working) with a new 7-day expiry."""
        invitation = services.resend_invitation(actor=self.actor, invitation=self.get_object())
        return Response(self.get_serializer(invitation).data)

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, **kwargs):
        invitation = services.revoke_invitation(actor=self.actor, invitation=self.get_object())
        return Response(self.get_serializer(invitation).data)


class DepartmentViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Departments; PATCH `parent` moves one (never under itself or its own subtree)."""

    queryset = Department.objects.select_related("parent").prefetch_related("managers")
    serializer_class = DepartmentSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "department"
    read_action = Action.VIEW_MEMBERS
    write_action = Action.MANAGE_DEPARTMENTS
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        serializer.instance = services.create_department(
            actor=self.actor, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.update_department(
            actor=self.actor, department=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.delete_department(actor=self.actor, department=instance)


class AuditEventViewSet(OrganizationAPIMixin, viewsets.ReadOnlyModelViewSet):
    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    lookup_field = "public_id"
    lookup_url_kwarg = "event"
    read_action = Action.VIEW_AUDIT
