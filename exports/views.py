from django.conf import settings
from django.contrib import messages
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import ListView
from django.views.generic.detail import SingleObjectMixin

from accounts.forms import ConfirmForm
from accounts.mixins import OrganizationMixin
from accounts.models import DataExport
from accounts.permissions import Action
from accounts.views import ObjectFormView
from exports import services as exports


class DataExportListView(OrganizationMixin, ListView):
    """Request an export of all the organization's data; list earlier ones with their links."""

    action = Action.EXPORT_DATA
    model = DataExport
    template_name = "exports/export_list.html"
    paginate_by = 20

    def get_queryset(self):
        return super().get_queryset().select_related("requested_by")

    def get_context_data(self, **kwargs):
        return super().get_context_data(retention_days=settings.EXPORT_RETENTION_DAYS, **kwargs)

    def post(self, request, *args, **kwargs):
        exports.request_export(actor=self.actor)
        messages.success(
            request, _("Your export is being prepared. We will notify you when it is ready.")
        )
        return redirect("exports:list")


class DataExportDeleteView(ObjectFormView):
    """Delete a ready export's file before it expires, after a confirmation page."""

    action = Action.EXPORT_DATA
    model = DataExport
    url_kwarg = "export"
    form_class = ConfirmForm
    template_name = "exports/export_delete.html"
    success_url_name = "exports:list"
    success_message = gettext_lazy("Data export deleted.")

    def get_queryset(self):
        return super().get_queryset().filter(status=DataExport.Status.READY)

    def run_service(self, *, form):
        exports.delete_export(actor=self.actor, export=self.object)


class DataExportDownloadView(OrganizationMixin, SingleObjectMixin, View):
    """The ZIP of a ready export of the current organization (another's is a 404)."""

    action = Action.EXPORT_DATA
    model = DataExport
    slug_field = slug_url_kwarg = "export"

    def get_object(self, queryset=None):
        queryset = self.get_queryset().filter(status=DataExport.Status.READY)
        return get_object_or_404(queryset, public_id=self.kwargs["export"])

    def get(self, request, *args, **kwargs):
        export = self.get_object()
        exports.record_download(actor=self.actor, export=export)
        return FileResponse(
            export.file.open("rb"),
            as_attachment=True,
            filename=exports.download_name(export),
            content_type="application/zip",
        )
