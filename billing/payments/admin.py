"""Staff console: online payments with their provider status, "query status" (asks the
provider) and refunds (through the provider; the ledger entry follows its confirmation)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor
from accounts.mixins import add_service_errors
from billing.invoicing.admin import form_page
from billing.payments import services
from billing.payments.models import Payment, PaymentRefund
from portal.money import format_money


class RefundForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount to refund"), max_digits=16, decimal_places=2)
    reason = forms.CharField(label=_("Reason (shown to the payer)"), max_length=80)


class RefundInline(admin.TabularInline):
    model = PaymentRefund
    fields = ("out_refund_no", "amount", "status", "reason", "provider_refund_id", "created_by",
              "created_at", "refunded_at")  # fmt: skip
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("out_trade_no", "organization", "provider", "purpose", "shown_amount",
                    "status", "provider_status", "created_at", "paid_at")  # fmt: skip
    list_filter = ("status", "provider", "purpose", "created_at")
    search_fields = ("out_trade_no", "provider_trade_no", "public_id", "organization__name",
                     "invoice__number")  # fmt: skip
    list_select_related = ("organization",)
    inlines = [RefundInline]
    actions = ["query_status"]
    readonly_fields = ("staff_actions",)

    def get_fields(self, request, obj=None):
        return ["staff_actions", *(f.name for f in Payment._meta.fields if f.name != "id")]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Amount"), ordering="amount")
    def shown_amount(self, payment):
        return format_money(payment.amount, payment.currency)

    @admin.display(description=_("Actions"))
    def staff_actions(self, payment):
        if payment.status != Payment.Status.SUCCEEDED:
            return "—"
        url = reverse("admin:billing_payment_refund", args=[payment.pk])
        return format_html('<a href="{}">{}</a>', url, _("Refund"))

    @admin.action(description=_("Query the status at the provider"))
    def query_status(self, request, queryset):
        for payment in queryset:
            try:
                payment = services.refresh_payment(payment=payment)
            except ValidationError as error:
                self.message_user(request, f"{payment}: {' '.join(error.messages)}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{payment}: {payment.get_status_display()} ({payment.provider_status})",
                )

    def get_urls(self):
        refund = path(
            "<int:pk>/refund/",
            self.admin_site.admin_view(self.refund_view),
            name="billing_payment_refund",
        )
        return [refund, *super().get_urls()]

    def refund_view(self, request, pk):
        if not request.user.has_perm("billing.change_payment"):
            raise PermissionDenied
        payment = get_object_or_404(Payment.objects.select_related("organization"), pk=pk)
        form = RefundForm(request.POST or None, initial={"amount": payment.refundable_amount})
        if form.is_valid():
            try:
                refund = services.refund_payment(
                    actor=Actor.from_request(request),
                    payment=payment,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                status = refund.get_status_display()
                messages.success(
                    request,
                    _("Refund %(number)s: %(status)s.") % {"number": refund, "status": status},
                )
                return redirect(reverse("admin:billing_payment_change", args=[payment.pk]))
        return form_page(
            self, request, form, _("Refund %(payment)s") % {"payment": payment}, payment
        )
