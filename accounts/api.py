"""REST API of the accounts app: parse, call a service, render. Objects are named by public id."""

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import exports, services
from accounts.audit_trail import Actor
from accounts.filters import AuditEventFilter
from accounts.mixins import OrganizationAPIMixin
from accounts.models import (
    AuditEvent,
    DataExport,
    Department,
    Invitation,
    Membership,
    Organization,
    User,
)
from accounts.permissions import Action


class OrganizationRelatedField(serializers.SlugRelatedField):
    """An object of the requester's current organization, named by its public id.

    Another organization's id reads as "does not exist", like any unknown id.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "public_id")
        super().__init__(**kwargs)

    def get_queryset(self):
        organization = getattr(self.context.get("view"), "organization", None)
        return self.scope(super().get_queryset(), organization)

    def scope(self, queryset, organization):
        return queryset.for_org(organization)


class MemberEmailField(OrganizationRelatedField):
    """A member of the current organization, named by email address."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="email", queryset=User.objects.all(), **kwargs)

    def scope(self, queryset, organization):
        return queryset.filter(memberships__organization=organization)


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
            organization=self.organization,
            actor=self.request.user,
            data=serializer.validated_data,
            request=self.request,
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
            actor=self.membership,
            membership=member,
            role=data.get("role", member.role),
            department=data.get("department", member.department),
            request=self.request,
        )

    def perform_destroy(self, instance):
        services.remove_member(actor=self.membership, membership=instance, request=self.request)


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
        serializer.instance = services.invite_member(
            actor=self.membership, request=self.request, **serializer.validated_data
        )

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def resend(self, request, **kwargs):
        """Send a new link (the old one stops working) with a new 7-day expiry."""
        invitation = services.resend_invitation(
            actor=self.membership, invitation=self.get_object(), request=request
        )
        return Response(self.get_serializer(invitation).data)

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, **kwargs):
        invitation = services.revoke_invitation(
            actor=self.membership, invitation=self.get_object(), request=request
        )
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
            actor=self.membership, request=self.request, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.update_department(
            actor=self.membership,
            department=serializer.instance,
            data=serializer.validated_data,
            request=self.request,
        )

    def perform_destroy(self, instance):
        services.delete_department(actor=self.membership, department=instance, request=self.request)


class AuditEventViewSet(OrganizationAPIMixin, viewsets.ReadOnlyModelViewSet):
    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    lookup_field = "public_id"
    lookup_url_kwarg = "event"
    read_action = Action.VIEW_AUDIT


class DataExportSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    requested_by = serializers.EmailField(source="requested_by.email", read_only=True, default=None)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = DataExport
        fields = (
            "id",
            "status",
            "requested_by",
            "size",
            "row_counts",
            "created_at",
            "finished_at",
            "expires_at",
            "download_url",
        )
        read_only_fields = fields

    def get_download_url(self, export) -> str | None:
        if not export.is_ready:
            return None
        path = reverse("export-download", kwargs={"export": export.public_id})
        return self.context["request"].build_absolute_uri(path)


class DataExportViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Exports of all the organization's data (owner and admin): request one, then download
    its ZIP when `status` is `ready` (for EXPORT_RETENTION_DAYS)."""

    queryset = DataExport.objects.select_related("requested_by", "organization")
    serializer_class = DataExportSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "export"
    read_action = Action.EXPORT_DATA
    write_action = Action.EXPORT_DATA

    @extend_schema(request=None, responses={202: DataExportSerializer})
    def create(self, request, *args, **kwargs):
        """Start an export (or return the one already being built); 202 Accepted."""
        export = exports.request_export(actor=Actor.from_request(request, self.membership))
        return Response(self.get_serializer(export).data, status=202)

    @extend_schema(
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    @action(detail=True, methods=["get"])
    def download(self, request, **kwargs):
        """The ZIP of a ready export; 404 when it is not (or no longer) ready."""
        export = self.get_object()
        if not export.is_ready:
            raise exceptions.NotFound
        exports.record_download(actor=Actor.from_request(request, self.membership), export=export)
        return FileResponse(
            export.file.open("rb"),
            as_attachment=True,
            filename=exports.download_name(export),
            content_type="application/zip",
        )
