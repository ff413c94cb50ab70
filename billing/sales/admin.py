"""Staff console: pack purchases (their invoice, and the pack once it is paid)."""

from django.contrib import admin

from accounts.admin_site import ReadOnlyAdmin
from billing.sales.models import Purchase


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = ("invoice", "organization", "offer", "entitlement", "created_by")
    list_filter = ("offer",)
    search_fields = ("invoice__number", "organization__name", "organization__public_id")
    list_select_related = ("invoice", "organization", "offer", "entitlement", "created_by")
