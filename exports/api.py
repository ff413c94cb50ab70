from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.mixins import OrganizationAPIMixin
from accounts.models import DataExport
from accounts.permissions import Action
from exports import services as exports


class DataExportSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    requested_by = serializers.EmailField(
        source="requested_by.email", read_only=True, default=None, allow_null=True
    )
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
        export = exports.request_export(actor=self.actor)
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
        exports.record_download(actor=self.actor, export=export)
        return FileResponse(
            export.file.open("rb"),
            as_attachment=True,
            filename=exports.download_name(export),
            content_type="application/zip",
        )
