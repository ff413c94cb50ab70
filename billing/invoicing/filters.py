"""The ledger's one filterset, shared by the ledger page, its CSV and GET /api/v1/billing/ledger."""

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from billing.invoicing.account import between
from billing.invoicing.models import LedgerEntry


class LedgerFilterForm(forms.Form):
    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("date_from"), cleaned.get("date_to")
        if first and last and first > last:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned


class LedgerEntryFilter(django_filters.FilterSet):
    date_from = django_filters.DateFilter(
        method="from_day", label=_("From"), widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("First business day (Asia/Shanghai), inclusive."),
    )  # fmt: skip
    date_to = django_filters.DateFilter(
        method="to_day", label=_("To"), widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Last business day, inclusive."),
    )  # fmt: skip
    kind = django_filters.ChoiceFilter(choices=LedgerEntry.Kind.choices, label=_("Kind"))

    class Meta:
        model = LedgerEntry
        fields = ["date_from", "date_to", "kind"]
        form = LedgerFilterForm

    def from_day(self, queryset, name, value):
        return between(queryset, value, None)

    def to_day(self, queryset, name, value):
        return between(queryset, None, value)
