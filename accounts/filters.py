"""One filterset per list, shared by the HTML page and the API."""

import django_filters
from django.utils.translation import gettext_lazy as _

from accounts.models import AuditEvent


class DateRangeWidget(django_filters.widgets.DateRangeWidget):
    """Two date inputs under one label: each gets its own accessible name as well."""

    def __init__(self):
        super().__init__(attrs={"type": "date"})
        for widget, name in zip(self.widgets, (_("From"), _("To")), strict=True):
            widget.attrs["aria-label"] = name


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(
        label=_("Action"), lookup_expr="startswith", help_text=_("e.g. member or member.removed")
    )
    actor = django_filters.CharFilter(
        label=_("Actor"), field_name="actor_label", lookup_expr="icontains"
    )
    target_type = django_filters.CharFilter(
        label=_("Target type"), help_text=_("e.g. accounts.membership")
    )
    created = django_filters.DateFromToRangeFilter(
        label=_("Date (from, to)"),
        field_name="created_at",
        widget=DateRangeWidget(),
    )

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "target_type", "created"]
