"""Staff console: organizations' plans (subscriptions) with their fee invoices and monthly
allowances, read-only (they change through billing.packages.plans and billing.sales.plans)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.admin_site import ReadOnlyAdmin, ReadOnlyMixin
from billing.packages.models import Entitlement, Subscription
from billing.sales.models import PlanFee


class PlanFeeInline(ReadOnlyMixin, admin.TabularInline):
    model = PlanFee
    fields = ("kind", "invoice", "operator_charge", "period_start", "period_end", "terms",
              "extra_allowance")  # fmt: skip
    readonly_fields = fields
    extra = 0


class AllowanceInline(ReadOnlyMixin, admin.TabularInline):
    model = Entitlement
    verbose_name = _("monthly allowance")
    verbose_name_plural = _("monthly allowances")
    fields = ("reference", "unit", "granted", "consumed", "starts_at", "expires_at", "status")
    readonly_fields = fields
    extra = 0


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = (
        "organization",
        "offer",
        "status",
        "current_period_start",
        "current_period_end",
        "auto_renew",
        "commitment_ends_at",
        "paid_until",
    )
    list_filter = ("status", "auto_renew", "offer")
    search_fields = ("organization__name", "public_id", "offer__name_en", "offer__name_zh")
    list_select_related = ("organization", "offer")
    inlines = [PlanFeeInline, AllowanceInline]
