"""Usage pages: the organization's dashboard, and the same for one project or one key.

Every number comes from metering.selectors (rollups plus the not-yet-rolled tail); every
table downloads as CSV with ?export=days|models|keys.
"""

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from accounts.mixins import OrganizationMixin
from accounts.models import Department
from accounts.permissions import Action
from billing.metering import selectors
from portal import csv
from projects.models import ApiKey, Project

EXPORTS = ("days", "models", "keys")


class UsageDashboardView(OrganizationMixin, TemplateView):
    action = Action.VIEW_USAGE
    template_name = "billing/usage/dashboard.html"

    def scope(self) -> tuple[dict, object]:
        """(filters of metering.selectors, the project or key the page is about, or None)."""
        return {}, None

    def get(self, request, *args, **kwargs):
        self.filters, self.subject = self.scope()
        by = request.GET.get("by")
        self.by = by if by in selectors.DIMENSIONS else "model"
        names = self._names()
        self.report = selectors.month_report(
            self.membership, now=timezone.now(), by=self.by, filters=self.filters, names=names
        )
        for row in self.report.top_keys:
            row["name"] = names.get(row["id"], row["id"])
        export = request.GET.get("export")
        if export in EXPORTS:
            return self.csv(export)
        return super().get(request, *args, **kwargs)

    def _names(self) -> dict:
        """Public id -> name of what the tables and charts show (one query each)."""
        names = {}
        for model in (Project, Department, ApiKey):
            names.update(model.objects.for_org(self.organization).values_list("public_id", "name"))
        return names

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            report=self.report,
            subject=self.subject,
            by=self.by,
            dimensions=[
                ("model", _("Model")),
                ("project_id", _("Project")),
                ("department_id", _("Department")),
            ],
            **kwargs,
        )

    def csv(self, table: str) -> StreamingHttpResponse:
        filename = f"usage-{table}.csv"
        if table == "days":
            rows = [
                [day, line["name"], tokens, cost]
                for line in self.report.chart["series"]
                for day, tokens, cost in zip(
                    self.report.chart["days"], line["tokens"], line["cost"], strict=True
                )
            ]
            return csv.response([_("Day"), _("Group"), _("Tokens"), _("Cost")], rows, filename)
        found = self.report.top_models if table == "models" else self.report.top_keys
        rows = [
            [
                row.get("name", row["id"]),
                row["requests"],
                row["tokens"],
                row["cost"],
                row["currency"],
            ]
            for row in found
        ]
        header = [_("Name"), _("Requests"), _("Tokens"), _("Cost"), _("Currency")]
        return csv.response(header, rows, filename)


class ProjectUsageView(UsageDashboardView):
    def scope(self):
        visible = Project.objects.for_member(self.membership, Action.VIEW_USAGE)
        project = get_object_or_404(visible, public_id=self.kwargs["project"])
        return {"project_ids": [project.public_id]}, project


class KeyUsageView(UsageDashboardView):
    def scope(self):
        visible = ApiKey.objects.for_member(self.membership, Action.VIEW_USAGE)
        key = get_object_or_404(visible.select_related("project"), public_id=self.kwargs["key"])
        return {"api_key_ids": [key.public_id]}, key
