"""Staff console for token packs and plans: offers (names, visibility, who a negotiated offer
is for, publishing) and their effective-dated terms. Terms are never edited: "New terms from
a date" adds a version through packages.services.save_terms (validated, weights derived,
audited); the terms in force and earlier ones are shown read-only."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from accounts.admin_site import AuditedAdmin, ReadOnlyAdmin
from accounts.audit_trail import Actor, record_actor_event
from billing.catalog.models import CatalogModel
from billing.packages import services
from billing.packages.models import Entitlement, Offer, OfferTerms, UsageCoverage
from billing.packages.selectors import terms_in_force

TERMS_FIELDS = (
    "effective_from", "price_amount", "vat_rate", "currency", "token_amount", "credit_amount",
    "scope", "scope_region", "scope_models", "counting", "reference_price_per_million",
    "validity_days", "valid_until", "purchase_limit", "period", "overage_discount_percent",
    "commitment_months", "renewal_notice_days",
)  # fmt: skip
WEIGHT_CLASSES = ("input", "cached", "cache_write", "output")


def weights_table(terms: OfferTerms) -> str:
    """Weighted counting: what a token of each class of each covered model counts as."""
    if not terms.weights:
        return "—"
    head = format_html_join("", "<th>{}</th>", ((c,) for c in ("model", *WEIGHT_CLASSES)))
    rows = format_html_join(
        "",
        "<tr><td>{}</td>{}</tr>",
        (
            (model, format_html_join("", "<td>{}</td>", ((w.get(c, ""),) for c in WEIGHT_CLASSES)))
            for model, w in sorted(terms.weights.items())
        ),
    )
    return format_html("<table><tr>{}</tr>{}</table>", head, rows)


class OfferTermsInline(admin.TabularInline):
    """Read-only history; new terms go through "New terms from a date"."""

    model = OfferTerms
    fields = ("effective_from", "price_amount", "vat_rate", "gross", "token_amount",
              "credit_amount", "scope", "scope_region", "counting", "weights_shown",
              "validity_days", "valid_until", "purchase_limit", "period")  # fmt: skip
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-effective_from",)

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("price with VAT"))
    def gross(self, terms):
        return terms.gross_amount

    @admin.display(description=_("weights"))
    def weights_shown(self, terms):
        return weights_table(terms)


class NewTermsForm(forms.ModelForm):
    class Meta:
        model = OfferTerms
        fields = TERMS_FIELDS
        field_classes = {"effective_from": forms.SplitDateTimeField}
        widgets = {"effective_from": admin.widgets.AdminSplitDateTime}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scope_models"].queryset = CatalogModel.objects.order_by("model_id")

    def clean_effective_from(self):
        starts = self.cleaned_data["effective_from"]
        if starts < timezone.now() - timedelta(minutes=5):
            raise ValidationError(_("New terms start now or later; the past stays as sold."))
        return starts


@admin.register(Offer)
class OfferAdmin(AuditedAdmin):
    list_display = ("name_en", "name_zh", "kind", "visibility", "is_published", "terms_now")
    list_filter = ("kind", "visibility", "is_published")
    search_fields = ("name_en", "name_zh", "public_id")
    filter_horizontal = ("offered_to",)
    fields = ("kind", "name_en", "name_zh", "description_en", "description_zh", "visibility",
              "offered_to", "is_published", "new_terms_link")  # fmt: skip
    readonly_fields = ("new_terms_link",)
    inlines = [OfferTermsInline]
    actions = ["publish", "unpublish"]

    def has_delete_permission(self, request, obj=None):
        return False  # sold offers stay on record

    @admin.display(description=_("terms in force"))
    def terms_now(self, offer):
        terms = terms_in_force(offer)
        return str(terms.effective_from.date()) if terms else _("none yet")

    @admin.display(description=_("terms"))
    def new_terms_link(self, offer):
        if not offer.pk:
            return _("Save the offer first, then add its terms.")
        url = reverse("admin:billing_offer_new_terms", args=[offer.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("New terms from a date"))

    def get_urls(self):
        return [
            path(
                "<int:pk>/new-terms/",
                self.admin_site.admin_view(self.new_terms_view),
                name="billing_offer_new_terms",
            ),
            *super().get_urls(),
        ]

    def new_terms_view(self, request, pk):
        offer = get_object_or_404(Offer, pk=pk)
        if not self.has_change_permission(request, offer):
            raise PermissionDenied
        current = terms_in_force(offer) or offer.terms.first()
        initial = {"effective_from": timezone.now()}
        if current:
            initial.update({name: getattr(current, name) for name in TERMS_FIELDS
                            if name not in ("effective_from", "scope_models")})  # fmt: skip
            initial["scope_models"] = list(current.scope_models.all())
        form = NewTermsForm(request.POST or None, initial=initial, instance=OfferTerms(offer=offer))
        if form.is_valid():
            terms = form.save(commit=False)
            try:
                services.save_terms(
                    actor=Actor.from_request(request),
                    terms=terms,
                    scope_models=form.cleaned_data["scope_models"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("The new terms are saved; sold packs keep theirs."))
                return redirect(reverse("admin:billing_offer_change", args=[offer.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("New terms for %(offer)s") % {"offer": offer.name_en},
            "form": form,
            "opts": self.model._meta,
            "original": offer,
        }
        return render(request, "admin/billing/form_page.html", context)

    def _publish(self, request, queryset, published: bool):
        actor = Actor.from_request(request)
        for offer in queryset.exclude(is_published=published):
            Offer.objects.filter(pk=offer.pk).update(is_published=published)
            record_actor_event(
                actor=actor,
                organization=None,
                action="packages.published" if published else "packages.unpublished",
                target=offer,
                changes={"before": {"is_published": not published},
                         "after": {"is_published": published}},
            )  # fmt: skip

    @admin.action(description=_("Publish: customers it is offered to see it"))
    def publish(self, request, queryset):
        self._publish(request, queryset, True)

    @admin.action(description=_("Unpublish: no longer offered (sold packs stay)"))
    def unpublish(self, request, queryset):
        self._publish(request, queryset, False)


@admin.register(Entitlement)
class EntitlementAdmin(ReadOnlyAdmin):
    """What organizations hold (packs bought, plan allowances): changed only by purchases,
    draws, allocation and expiry, never here."""

    list_display = ("public_id", "organization", "offer", "source", "unit", "granted",
                    "consumed", "department", "expires_at", "status")  # fmt: skip
    list_filter = ("source", "unit", "status", "offer")
    search_fields = ("public_id", "reference", "organization__name", "organization__public_id")
    list_select_related = ("organization", "offer", "department")


@admin.register(UsageCoverage)
class UsageCoverageAdmin(ReadOnlyAdmin):
    """Per usage event: what packs and the plan covered, and what it was charged."""

    list_display = ("event_id", "organization", "covered_amount", "charged_amount")
    list_filter = ("organization",)
    search_fields = ("=event_id", "organization__name")
    list_select_related = ("organization",)
