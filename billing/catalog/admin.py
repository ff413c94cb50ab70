"""Staff console for the shelf: providers, models with aliases, the price book, contract
discounts, and "import from file"."""

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.admin_site import AuditedAdmin
from accounts.audit_trail import Actor
from billing.catalog import importer, services
from billing.catalog.models import (
    PRICE_FIELDS,
    CatalogModel,
    ContractDiscount,
    ModelAlias,
    PriceVersion,
    Provider,
)


@admin.register(Provider)
class ProviderAdmin(AuditedAdmin):
    list_display = ("name", "slug", "region", "status")
    list_filter = ("region", "status")
    search_fields = ("name", "slug")


class ModelAliasInline(admin.TabularInline):
    model = ModelAlias
    extra = 1


class PriceVersionInline(admin.TabularInline):
    """Read-only history; new prices go through "New price from a date"."""

    model = PriceVersion
    fields = ("effective_from", *PRICE_FIELDS, "currency", "source", "source_entry")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-effective_from",)

    def has_add_permission(self, request, obj=None):
        return False


class NewPriceForm(forms.ModelForm):
    """Empty cache prices charge those tokens at the input price; no fee is 0."""

    class Meta:
        model = PriceVersion
        fields = ("effective_from", *PRICE_FIELDS)
        field_classes = {"effective_from": forms.SplitDateTimeField}
        widgets = {"effective_from": admin.widgets.AdminSplitDateTime}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["request_price"].required = False

    def clean_request_price(self):
        return self.cleaned_data["request_price"] or Decimal(0)


class ImportFileForm(forms.Form):
    FORMATS = [("openrouter", _("OpenRouter /api/v1/models")), ("litellm", _("LiteLLM price file"))]

    format = forms.ChoiceField(label=_("Format"), choices=FORMATS)
    file = forms.FileField(label=_("JSON file"))
    effective_from = forms.SplitDateTimeField(
        label=_("Changed prices apply from"),
        required=False,
        help_text=_("Empty: now."),
        widget=admin.widgets.AdminSplitDateTime,
    )

    def clean_file(self):
        return importer.parse_json(self.cleaned_data["file"].read())


@admin.register(CatalogModel)
class CatalogModelAdmin(AuditedAdmin):
    list_display = ("model_id", "display_name", "provider", "kind", "status", "is_filed")
    list_filter = ("status", "kind", "is_filed", "provider__region", "provider")
    search_fields = ("model_id", "display_name", "aliases__alias")
    list_select_related = ("provider",)
    inlines = [ModelAliasInline, PriceVersionInline]
    actions = ["mark_filed", "mark_not_filed"]
    change_list_template = "admin/billing/catalogmodel/change_list.html"

    def get_urls(self):
        return [
            path(
                "<int:pk>/new-price/",
                self.admin_site.admin_view(self.new_price_view),
                name="billing_catalogmodel_new_price",
            ),
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="billing_catalogmodel_import",
            ),
            *super().get_urls(),
        ]

    def new_price_view(self, request, pk):
        """The admin's "edit a price": a new version from a date, the old ones untouched."""
        model = get_object_or_404(CatalogModel, pk=pk)
        if not self.has_change_permission(request, model):
            raise PermissionDenied
        current = model.prices.order_by("-effective_from").first()
        initial = {"effective_from": timezone.now()}
        if current:
            initial.update({name: getattr(current, name) for name in PRICE_FIELDS})
        form = NewPriceForm(
            request.POST or None, initial=initial, instance=PriceVersion(model=model)
        )
        if form.is_valid():
            services.add_price_version(
                model=model,
                effective_from=form.cleaned_data["effective_from"],
                prices=form.cleaned_data,
                actor=Actor.from_request(request),
            )
            messages.success(request, _("The new price is saved; earlier prices are unchanged."))
            return redirect(reverse("admin:billing_catalogmodel_change", args=[model.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("New price for %(model)s") % {"model": model.model_id},
            "form": form,
            "opts": self.model._meta,
            "original": model,
        }
        return render(request, "admin/billing/form_page.html", context)

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportFileForm(request.POST or None, request.FILES or None)
        if form.is_valid():
            reader = {
                "openrouter": importer.read_openrouter,
                "litellm": importer.read_litellm,
            }[form.cleaned_data["format"]]
            summary = importer.import_catalog(
                reader(form.cleaned_data["file"]),
                source=form.cleaned_data["format"],
                usd_cny_rate=settings.CATALOG_USD_CNY_RATE,
                markup_percent=settings.CATALOG_MARKUP_PERCENT,
                effective_from=form.cleaned_data["effective_from"] or timezone.now(),
                actor=Actor.from_request(request),
            )
            for line in summary.lines():
                messages.info(request, line)
            return redirect(reverse("admin:billing_catalogmodel_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import models and prices from a file"),
            "form": form,
            "opts": self.model._meta,
            "multipart": True,
        }
        return render(request, "admin/billing/form_page.html", context)

    @admin.action(description=_("Mark as filed with the regulator"))
    def mark_filed(self, request, queryset):
        services.set_filed(actor=Actor.from_request(request), models=queryset, filed=True)

    @admin.action(description=_("Mark as not filed"))
    def mark_not_filed(self, request, queryset):
        services.set_filed(actor=Actor.from_request(request), models=queryset, filed=False)


@admin.register(PriceVersion)
class PriceVersionAdmin(AuditedAdmin):
    """Started versions are read-only: "edit" is a new version from a date."""

    list_display = ("model", "effective_from", *PRICE_FIELDS, "currency", "source_entry")
    list_filter = ("source", "currency")
    search_fields = ("model__model_id",)
    list_select_related = ("model",)
    date_hierarchy = "effective_from"
    raw_id_fields = ("model",)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (obj and obj.has_started)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj and obj.has_started)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ContractDiscount)
class ContractDiscountAdmin(AuditedAdmin):
    list_display = ("organization", "percent", "provider", "model", "valid_from", "valid_to")
    list_filter = ("provider",)
    search_fields = ("organization__name", "note")
    autocomplete_fields = ("model",)
    raw_id_fields = ("organization",)
