"""The call log's one filterset, shared by the page (/usage/calls/) and its API."""

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.permissions import Action
from accounts.tenancy import current_membership
from billing.catalog.models import CatalogModel
from billing.metering.models import FAILED_FROM_STATUS
from portal.api import ID_GRAMMARS
from projects.models import ApiKey, Project


class ChoiceById(forms.ModelChoiceField):
    """A choice named by its public id or model id; a value outside that grammar
    (portal/ids.py) is an invalid choice without a query."""

    def to_python(self, value):
        if value not in self.empty_values and not ID_GRAMMARS[self.to_field_name](value):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class KeyChoice(ChoiceById):
    def label_from_instance(self, key):
        return f"{key.name} · {key.project.name}"


class ChoiceByIdFilter(django_filters.ModelChoiceFilter):
    field_class = ChoiceById


class KeyChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = KeyChoice


def _visible(model, *related):
    """The `model` rows whose usage the requesting member may see (their departments')."""

    def rows(request):
        visible = model.objects.for_member(current_membership(request), Action.VIEW_USAGE)
        return visible.select_related(*related)

    return rows


class TimeInput(forms.DateTimeInput):
    """A date and time picker; a value without offset is in the reader's time zone."""

    input_type = "datetime-local"

    def __init__(self):
        super().__init__(format="%Y-%m-%dT%H:%M")


class CallFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until <= since:
            self.add_error("until", _("Must be after the start."))
        return data


class CallFilter(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(
        field_name="occurred_at",
        lookup_expr="gte",
        label=_("From"),
        widget=TimeInput(),
        help_text=_("Included. In your time zone unless an offset is given."),
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="occurred_at",
        lookup_expr="lt",
        label=_("To"),
        widget=TimeInput(),
        help_text=_("Not included. In your time zone unless an offset is given."),
    )
    project = ChoiceByIdFilter(
        queryset=_visible(Project),
        to_field_name="public_id",
        label=_("Project"),
    )
    key = KeyChoiceFilter(
        field_name="api_key",
        queryset=_visible(ApiKey, "project"),
        to_field_name="public_id",
        label=_("API key"),
    )
    model = ChoiceByIdFilter(
        queryset=CatalogModel.objects.order_by("model_id"),
        to_field_name="model_id",
        label=_("Model"),
    )

    outcome = django_filters.ChoiceFilter(
        choices=[("succeeded", _("Succeeded")), ("failed", _("Failed"))],
        method="filter_outcome",
        label=_("Result"),
        empty_label=_("Any"),
        help_text=_("By the status the gateway reported; calls without one match neither."),
    )

    class Meta:
        form = CallFilterForm

    def filter_outcome(self, queryset, name, value):
        if value == "failed":
            return queryset.filter(status_code__gte=FAILED_FROM_STATUS)
        return queryset.filter(status_code__lt=FAILED_FROM_STATUS)
