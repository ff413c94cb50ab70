"""The catalog's one filterset, shared by the public pages and GET /api/v1/models."""

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from billing.catalog.models import CatalogModel, Provider

CAPABILITIES = [
    ("tools", _("Tool calling")),
    ("vision", _("Vision")),
    ("reasoning", _("Reasoning")),
    ("prompt_caching", _("Prompt caching")),
    ("structured_output", _("Structured output")),
]
MODALITIES = [
    ("text", _("Text")),
    ("image", _("Image")),
    ("audio", _("Audio")),
    ("video", _("Video")),
    ("file", _("File")),
]


class CatalogModelFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    provider = django_filters.ModelChoiceFilter(
        queryset=Provider.objects.all(), to_field_name="slug", label=_("Provider")
    )
    region = django_filters.ChoiceFilter(
        field_name="provider__region", choices=Provider.Region.choices, label=_("Region")
    )
    capability = django_filters.MultipleChoiceFilter(
        choices=CAPABILITIES,
        method="with_capabilities",
        label=_("Capabilities"),
        widget=forms.CheckboxSelectMultiple,
    )
    modality = django_filters.ChoiceFilter(
        choices=MODALITIES, method="with_modality", label=_("Modality")
    )
    is_filed = django_filters.BooleanFilter(label=_("Filed with the regulator"))
    min_price = django_filters.NumberFilter(
        field_name="list_input_price", lookup_expr="gte", label=_("Input price from (CNY/M)")
    )
    max_price = django_filters.NumberFilter(
        field_name="list_input_price", lookup_expr="lte", label=_("Input price up to (CNY/M)")
    )
    sort = django_filters.OrderingFilter(
        fields=(
            ("list_input_price", "price"),
            ("context_window", "context"),
            ("display_name", "name"),
        ),
        field_labels={
            "list_input_price": _("Price"),
            "context_window": _("Context window"),
            "display_name": _("Name"),
        },
        label=_("Sort by"),
    )

    class Meta:
        model = CatalogModel
        fields = ["q", "provider", "region", "capability", "modality", "is_filed"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(model_id__icontains=value)
            | Q(display_name__icontains=value)
            | Q(provider__name__icontains=value)
        )

    def with_capabilities(self, queryset, name, value):
        return queryset.filter(**{f"supports_{capability}": True for capability in value})

    def with_modality(self, queryset, name, value):
        quoted = f'"{value}"'  # matches the JSON text of the list, on SQLite and PostgreSQL
        return queryset.filter(
            Q(input_modalities__icontains=quoted) | Q(output_modalities__icontains=quoted)
        )
