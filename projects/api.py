from datetime import timedelta

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api_fields import OrganizationRelatedField
from accounts.mixins import OrganizationAPIMixin
from accounts.models import Department
from accounts.permissions import Action, can
from projects import services
from projects.filters import ApiKeyFilter
from projects.models import ApiKey, Project


class ProjectSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    department = OrganizationRelatedField(
        queryset=Department.objects.all(),
        allow_null=True,
        required=False,
        help_text=_("Public id of the department, or null."),
    )

    class Meta:
        model = Project
        fields = ["id", "name", "description", "department", "status", "created_at", "archived_at"]
        read_only_fields = ["status", "created_at", "archived_at"]


class ListCreateUpdateViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """List, retrieve, create and PATCH: nothing is deleted, history stays."""

    http_method_names = ["get", "post", "patch", "head", "options"]


class ProjectViewSet(ListCreateUpdateViewSet):
    """The organization's projects the member may see."""

    queryset = Project.objects.select_related("department")
    serializer_class = ProjectSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "project"
    read_action = Action.VIEW_PROJECTS
    write_action = Action.MANAGE_PROJECTS
    filterset_fields = ["status"]

    def get_queryset(self):
        # Writes find the project among those the member can see, then the service decides
        # (403 outside the managed departments, 404 outside the visible ones).
        return Project.objects.select_related("department").for_member(
            self.membership, Action.VIEW_PROJECTS
        )

    def perform_create(self, serializer):
        serializer.instance = services.create_project(
            actor=self.actor,
            name=serializer.validated_data["name"],
            description=serializer.validated_data.get("description", ""),
            department=serializer.validated_data.get("department"),
        )

    def perform_update(self, serializer):
        project, data = serializer.instance, serializer.validated_data
        serializer.instance = services.update_project(
            actor=self.actor,
            project=project,
            name=data.get("name", project.name),
            description=data.get("description", project.description),
            department=data.get("department", project.department),
        )

    @extend_schema(request=None, responses=ProjectSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request, project=None):
        """Archive the project: its keys are refused from now on, its history stays."""
        archived = services.archive_project(
            actor=self.actor,
            project=self.get_object(),
        )
        return Response(ProjectSerializer(archived, context=self.get_serializer_context()).data)


class ApiKeySerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    project = OrganizationRelatedField(
        queryset=Project.objects.all(), visible_for=Action.VIEW_PROJECTS
    )
    state = serializers.ChoiceField(choices=ApiKey.State.choices, read_only=True)
    allowed_models = serializers.ListField(child=serializers.CharField(), required=False)
    ip_allowlist = serializers.ListField(child=serializers.CharField(), required=False)
    rotated_from = serializers.SlugRelatedField(
        slug_field="public_id", read_only=True, allow_null=True
    )
    department = serializers.SlugRelatedField(
        source="project.department", slug_field="public_id", read_only=True, allow_null=True,
        help_text=_("Public id of the project's department, or null."),
    )  # fmt: skip
    created_by = serializers.SlugRelatedField(
        slug_field="public_id", read_only=True, allow_null=True,
        help_text=_("Public id of the user who made the key, or null."),
    )  # fmt: skip

    class Meta:
        model = ApiKey
        fields = [
            "id", "project", "department", "name", "prefix", "state", "created_by", "created_at",
            "last_used_at",
            "expires_at", "revoked_at", "allowed_models", "ip_allowlist", "rpm_limit",
            "tpm_limit", "rotated_from",
        ]  # fmt: skip
        read_only_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance is not None:
            self.fields["project"].read_only = True


class NewApiKeySerializer(ApiKeySerializer):
    secret = serializers.CharField(
        read_only=True, help_text=_("The key itself. Returned once, never again.")
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "secret"]


class RotateSerializer(serializers.Serializer):
    grace_hours = serializers.IntegerField(
        min_value=0,
        max_value=720,
        default=24,
        help_text=_("Hours the old key keeps working."),
    )


class ApiKeyViewSet(ListCreateUpdateViewSet):
    """API keys of the projects the member may see. The secret is returned only on creation."""

    queryset = ApiKey.objects.none()  # for the schema; get_queryset() scopes
    serializer_class = ApiKeySerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "key"
    read_action = Action.VIEW_PROJECTS
    write_action = Action.MANAGE_KEYS
    actions = {"revoke": Action.MANAGE_KEYS, "rotate": Action.MANAGE_KEYS}
    filterset_class = ApiKeyFilter

    def get_queryset(self):
        return ApiKey.objects.select_related(
            "project__department", "rotated_from", "created_by"
        ).for_member(self.membership, Action.VIEW_PROJECTS)

    def _created(self, key, plaintext, status=201):
        key.secret = plaintext
        return Response(
            NewApiKeySerializer(key, context=self.get_serializer_context()).data,
            status=status,
            headers={"Cache-Control": "no-store"},
        )

    @extend_schema(responses={201: NewApiKeySerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not can(self.membership, Action.MANAGE_KEYS, data["project"].department_id):
            raise exceptions.PermissionDenied
        key, plaintext = services.create_api_key(actor=self.actor, **data)
        return self._created(key, plaintext)

    def perform_update(self, serializer):
        key = serializer.instance
        values = {field: getattr(key, field) for field in services.KEY_SETTINGS}
        values.update(serializer.validated_data)
        serializer.instance = services.update_api_key(actor=self.actor, key=key, **values)

    @extend_schema(request=None, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, key=None):
        """Revoke the key now: the gateway refuses it on the next call."""
        revoked = services.revoke_api_key(actor=self.actor, key=self.get_object())
        return Response(ApiKeySerializer(revoked, context=self.get_serializer_context()).data)

    @extend_schema(request=RotateSerializer, responses={201: NewApiKeySerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request, key=None):
        """A new key with the same settings (secret returned once); the old one works for the
        grace period, then is revoked."""
        old = self.get_object()
        serializer = RotateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        new, plaintext = services.rotate_api_key(
            actor=self.actor,
            key=old,
            grace=timedelta(hours=serializer.validated_data["grace_hours"]),
        )
        return self._created(new, plaintext)
