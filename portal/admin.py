from django.contrib import admin

from portal.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "seen_at")
    list_filter = ("name",)
    search_fields = ("name",)
    readonly_fields = ("name", "seen_at")
