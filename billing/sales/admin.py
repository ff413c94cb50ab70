"""Staff console: pack purchases (their invoice or charge on the operator's bill, and the
pack once it is paid)."""

from django.contrib import admin

from accounts.admin_site import ReadOnlyAdmin
from billing.sales.models import Purchase


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "organization", "offer", "invoice", "operator_charge",
                    "entitlement", "created_at")  # fmt: skip
    list_filter = ("offer",)
    search_fields = ("public_id", "invoice__number", "operator_charge__public_id",
                     "organization__name", "organization__public_id")  # fmt: skip
    list_select_related = ("invoice", "operator_charge", "organization", "offer", "entitlement")
