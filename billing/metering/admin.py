"""Staff console for metering: priced usage events, hourly rollups and the rollup watermark,
all read-only (usage is priced once at ingestion and never edited; rollups are rebuilt from
events by `manage.py rebuild_rollups`). The event table is the biggest one: no full count,
exact-match search on the request id."""

from django.contrib import admin

from accounts.admin_site import ReadOnlyAdmin
from billing.metering.models import RollupWatermark, UsageEvent, UsageRollup


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "request_id", "organization", "model", "input_tokens",
                    "output_tokens", "cost_amount", "currency", "estimated")  # fmt: skip
    list_filter = ("estimated", "currency")
    search_fields = ("=request_id",)
    list_select_related = ("organization", "model")
    show_full_result_count = False
    ordering = ("-id",)


@admin.register(UsageRollup)
class UsageRollupAdmin(ReadOnlyAdmin):
    list_display = ("hour", "organization", "project", "model", "requests", "input_tokens",
                    "output_tokens", "cost_amount", "currency")  # fmt: skip
    list_filter = ("currency",)
    search_fields = ("organization__name", "project__name", "model__model_id")
    list_select_related = ("organization", "project", "model")
    show_full_result_count = False
    date_hierarchy = "hour"
    ordering = ("-hour", "-id")


@admin.register(RollupWatermark)
class RollupWatermarkAdmin(ReadOnlyAdmin):
    list_display = ("name", "last_event_id", "updated_at")
    list_filter = ("name",)
    search_fields = ("name",)
