"""Staff console: pack purchases (their invoice or charge on the operator's bill, and the
pack once it is paid). The record is read-only; staff credit a paid purchase through
billing.sales.services.credit_purchase (a credit note, the tokens left revoked), audited."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.admin_site import ReadOnlyAdmin
from accounts.audit_trail import Actor
from accounts.mixins import add_service_errors
from billing.invoicing.admin import form_page
from billing.invoicing.models import Invoice
from billing.sales import services
from billing.sales.models import Purchase


class CreditPurchaseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_(
            "A credit note of the purchase invoice for the share of the price the tokens left "
            "stand for (before VAT, rounded down to the fen; VAT at the invoice's rate); those "
            "tokens are revoked at once. Once per purchase."
        ),
    )


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "organization", "offer", "invoice", "operator_charge",
                    "entitlement", "created_at")  # fmt: skip
    list_filter = ("offer",)
    search_fields = ("public_id", "invoice__number", "operator_charge__public_id",
                     "organization__name", "organization__public_id")  # fmt: skip
    list_select_related = ("invoice", "operator_charge", "organization", "offer", "entitlement")
    readonly_fields = ("staff_actions",)

    @admin.display(description=_("Staff actions"))
    def staff_actions(self, purchase):
        invoice = purchase.invoice
        if invoice is None or invoice.status != Invoice.Status.PAID:
            return "-"
        url = reverse("admin:billing_purchase_credit", args=[purchase.pk])
        return format_html('<a href="{}">{}</a>', url, _("Credit the unused tokens"))

    def get_urls(self):
        credit = path(
            "<int:pk>/credit/",
            self.admin_site.admin_view(self.credit_view),
            name="billing_purchase_credit",
        )
        return [credit, *super().get_urls()]

    def credit_view(self, request, pk):
        if not request.user.has_perm("billing.change_invoice"):
            raise PermissionDenied
        purchase = get_object_or_404(Purchase.objects.select_related("invoice"), pk=pk)
        form = CreditPurchaseForm(request.POST or None)
        if form.is_valid():
            try:
                note = services.credit_purchase(
                    actor=Actor.from_request(request),
                    purchase=purchase,
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(
                    request, _("Credit note %(number)s issued.") % {"number": note.number}
                )
                return redirect(reverse("admin:billing_purchase_change", args=[pk]))
        title = _("Credit the purchase: %(purchase)s") % {"purchase": purchase}
        return form_page(self, request, form, title, purchase)
