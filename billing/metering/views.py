"""Usage pages: the organization's usage, and the same for one project or one key.

A page shows one period (?month=YYYY-MM or ?start=&end= days, this month by default) beside
the previous one. Every number comes from metering.selectors (rollups plus the
not-yet-rolled tail), the same as the costs API; every table downloads as CSV with
?export=days|models|keys.
"""

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import TemplateView
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from accounts.mixins import OrganizationMixin
from accounts.models import Department
from accounts.permissions import Action
from billing.metering import selectors
from billing.metering.filters import CallFilter
from billing.metering.forms import UsagePeriodForm
from billing.metering.pagination import CallCursorPagination
from billing.metering.services import retention_cutoff
from portal import csv
from projects.models import ApiKey, Project

EXPORTS = ("days", "models", "keys")
PERIOD_FIELDS = ("month", "start", "end")


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
        self.period = UsagePeriodForm(request.GET)
        self.report = None
        if not self.period.is_valid():
            return self.render_to_response(self.get_context_data(), status=400)
        now = timezone.now()
        start, end = self.period.bounds(now)
        names = self._names()
        self.report = selectors.period_report(
            self.membership,
            start=start,
            end=end,
            now=now,
            by=self.by,
            filters=self.filters,
            names=names,
        )
        for row in self.report.top_keys:
            row["name"] = names.get(row["id"], row["id"])
            row["project"] = self.key_projects.get(row["id"], "")
        export = request.GET.get("export")
        if export in EXPORTS:
            return self.csv(export)
        return super().get(request, *args, **kwargs)

    def _names(self) -> dict:
        """Public id -> name of what the tables and charts show (one query each); also
        `key_projects`, a key's project name: a key's name is unique in its project only."""
        names = {}
        for model in (Project, Department):
            names.update(model.objects.for_org(self.organization).values_list("public_id", "name"))
        keys = ApiKey.objects.for_org(self.organization)
        self.key_projects = {}
        for key_id, name, project in keys.values_list("public_id", "name", "project__name"):
            names[key_id], self.key_projects[key_id] = name, project
        return names

    def get_context_data(self, **kwargs):
        chosen = {name: value for name in PERIOD_FIELDS if (value := self.request.GET.get(name))}
        return super().get_context_data(
            report=self.report,
            subject=self.subject,
            by=self.by,
            period=self.period,
            period_query=urlencode(chosen),
            dimensions=[
                ("model", _("Model")),
                ("project_id", _("Project")),
                ("department_id", _("Department")),
            ],
            **kwargs,
        )

    def csv(self, table: str) -> StreamingHttpResponse:
        """Every date with its year; costs as exact decimals beside their currency."""
        first, last = self.report.start.date(), self.report.end.date() - timedelta(days=1)
        filename = f"usage-{table}-{first:%Y-%m-%d}-{last:%Y-%m-%d}.csv"
        if table == "days":
            rows = (
                [row["day"].isoformat(), row["name"], row["tokens"], row["cost"], row["currency"]]
                for row in self.report.daily
            )
            header = [_("Day"), _("Group"), _("Tokens"), _("Cost"), _("Currency")]
            return csv.response(header, rows, filename)
        found = self.report.top_models if table == "models" else self.report.top_keys
        with_project = table == "keys"
        rows = (
            [
                first.isoformat(),
                last.isoformat(),
                row.get("name", row["id"]),
                *([row["project"]] if with_project else []),
                row["requests"],
                row["tokens"],
                row["cost"],
                row["currency"],
            ]
            for row in found
        )
        header = [
            _("From"), _("To"), _("Name"), *([_("Project")] if with_project else []),
            _("Requests"), _("Tokens"), _("Cost"), _("Currency"),
        ]  # fmt: skip
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


class CallLogView(OrganizationMixin, TemplateView):
    """One row per accepted call, newest first, in cursor pages; ?export=csv downloads every
    call the filters select."""

    action = Action.VIEW_USAGE
    template_name = "billing/usage/calls.html"

    def get(self, request, *args, **kwargs):
        events = selectors.calls().for_member(self.membership, self.action)
        self.filter = CallFilter(request.GET or None, queryset=events, request=request)
        self.calls, self.newer, self.older, self.error = [], None, None, None
        if self.filter.is_bound and not self.filter.is_valid():
            return self.render_to_response(self.get_context_data(), status=400)
        if request.GET.get("export") == "csv":
            return self.csv(self.filter.qs)
        paginator = CallCursorPagination()
        try:
            self.calls = paginator.paginate_queryset(self.filter.qs, Request(request))
        except ValidationError as error:  # a cursor or page size of no page of this list
            self.error = " ".join(str(m) for messages in error.detail.values() for m in messages)
            return self.render_to_response(self.get_context_data(), status=400)
        self.newer, self.older = paginator.get_previous_link(), paginator.get_next_link()
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        query = self.request.GET.copy()
        query.pop(CallCursorPagination.cursor_query_param, None)
        return super().get_context_data(
            filter=self.filter,
            calls=self.calls,
            error=self.error,
            newer=self.newer,
            older=self.older,
            query=query.urlencode(),  # the filters, for the first page and the CSV
            retention_days=settings.USAGE_RETENTION_DAYS,
            retained_from=retention_cutoff(),
            **kwargs,
        )

    def csv(self, events) -> StreamingHttpResponse:
        zone = timezone.get_current_timezone()  # the rows are written after this view returns
        header = [
            _("Time"), _("Request ID"), _("Project"), _("API key"), _("Model"),
            _("Input tokens"), _("Cached input tokens"), _("Cache write tokens"),
            _("Output tokens"), _("Cost"), _("Currency"), _("Latency (ms)"), _("Status"),
            _("Estimated"),
        ]  # fmt: skip
        columns = (
            "occurred_at", "request_id", "project__name", "api_key__name", "model__model_id",
            "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
            "cost_amount", "currency", "latency_ms", "status_code", "estimated",
        )  # fmt: skip
        yes = _("yes")
        rows = (
            [at.astimezone(zone).isoformat(), *values[:-1], yes if values[-1] else ""]
            for at, *values in events.order_by("-occurred_at", "-id")
            .values_list(*columns)
            .iterator(chunk_size=2000)
        )
        return csv.response(header, rows, "calls.csv")
