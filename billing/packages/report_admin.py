"""Staff console: the token ledger of packs and plan allowances (read-only) and finance's
monthly pack report (billing.packages.reports), on the page and as CSV."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from accounts.admin_site import ReadOnlyMixin
from billing.packages import reports
from billing.packages.models import EntitlementEntry
from portal import csv
from portal.periods import add_months, month_of

MONTH_FORMATS = ["%Y-%m"]
LONGEST_REPORT = 36  # months


class ReportForm(forms.Form):
    first = forms.DateField(label=_("From month"), input_formats=MONTH_FORMATS,
                            help_text=_("YYYY-MM"))  # fmt: skip
    last = forms.DateField(label=_("To month"), input_formats=MONTH_FORMATS,
                           help_text=_("YYYY-MM"))  # fmt: skip

    def clean(self):
        data = super().clean()
        first, last = data.get("first"), data.get("last")
        if first and last:
            if last < first:
                self.add_error("last", _("Choose a month from the first month on."))
            elif add_months(first, LONGEST_REPORT) <= last:
                self.add_error("last", _("At most 36 months at a time."))
        return data


def default_months() -> dict:
    """The last twelve months, this one included."""
    this = month_of(timezone.now())
    return {"first": f"{add_months(this, -11):%Y-%m}", "last": f"{this:%Y-%m}"}


@admin.register(EntitlementEntry)
class EntitlementEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("created_at", "organization", "entitlement", "kind", "units", "value_amount",
                    "event_id")  # fmt: skip
    list_filter = ("kind", "entitlement__source")
    search_fields = ("entitlement__public_id", "entitlement__reference", "organization__name")
    list_select_related = ("organization", "entitlement__offer")
    change_list_template = "admin/billing/entitlemententry/change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("report/", view(self.report_view), name="billing_entitlemententry_report"),
            *super().get_urls(),
        ]

    def report_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ReportForm(request.GET or default_months())
        months, csv_query = [], ""
        if form.is_valid():
            first, last = form.cleaned_data["first"], form.cleaned_data["last"]
            months = reports.pack_report(first, last)
            if request.GET.get("format") == "csv":
                return csv.response(
                    reports.CSV_COLUMNS,
                    (month.csv_row() for month in months),
                    f"packs-{first:%Y-%m}-{last:%Y-%m}.csv",
                )
            csv_query = urlencode({"first": f"{first:%Y-%m}", "last": f"{last:%Y-%m}",
                                   "format": "csv"})  # fmt: skip
        context = {
            **self.admin_site.each_context(request),
            "title": _("Pack report"),
            "opts": self.model._meta,
            "form": form,
            "months": months,
            "csv_query": csv_query,
        }
        status = 400 if form.errors else 200
        return render(request, "admin/billing/entitlemententry/report.html", context, status=status)
