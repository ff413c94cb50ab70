"""Staff console for the relay: upstream channels (credential write-only) and their health."""

from datetime import UTC, datetime

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext_lazy as _

from accounts.admin_site import ReadOnlyAdmin
from accounts.audit_trail import Actor
from relay import channels, services
from relay.models import Channel, ChannelModel


class ChannelForm(forms.ModelForm):
    base_url = forms.URLField(
        label=_("base URL"), max_length=500, assume_scheme="https",
        help_text=Channel._meta.get_field("base_url").help_text,
    )  # fmt: skip
    credential = forms.CharField(
        label=_("API key"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Stored encrypted and never shown again. Leave empty to keep the current one."),
    )

    class Meta:
        model = Channel
        fields = ("name", "base_url", "credential", "priority", "weight", "is_enabled")

    def clean_credential(self):
        credential = self.cleaned_data["credential"]
        if not credential and not (self.instance.pk and self.instance.has_credential):
            raise forms.ValidationError(_("Enter the provider's API key."))
        return credential


class ChannelModelInline(admin.TabularInline):
    model = ChannelModel
    extra = 1
    autocomplete_fields = ("model",)
    fields = ("model", "upstream_model")


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ("name", "base_url", "priority", "weight", "is_enabled", "has_credential")
    list_filter = ("is_enabled",)
    search_fields = ("name", "base_url")
    inlines = [ChannelModelInline]
    change_list_template = "admin/gateway/channel/change_list.html"

    @admin.display(boolean=True, description=_("API key set"))
    def has_credential(self, channel):
        return channel.has_credential

    def save_model(self, request, obj, form, change):
        services.save_channel(
            actor=Actor.from_request(request), channel=obj,
            credential=form.cleaned_data["credential"],
        )  # fmt: skip

    def get_urls(self):
        return [
            path(
                "health/",
                self.admin_site.admin_view(self.health_view),
                name="gateway_channel_health",
            ),
            *super().get_urls(),
        ]

    def health_view(self, request):
        """Each channel's circuit breaker: state, failures in a row, recent errors."""
        if not self.has_view_permission(request):
            raise PermissionDenied

        def moment(epoch):
            return datetime.fromtimestamp(epoch, tz=UTC) if epoch else None

        rows = [
            {
                "channel": h.channel,
                "state": h.state,
                "failures": h.failures,
                "open_until": moment(h.open_until),
                "recent": [(moment(at), error) for at, error in h.recent],
            }
            for h in channels.health()
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Relay channel health"),
            "rows": rows,
            "opts": self.model._meta,
        }
        return render(request, "admin/gateway/channel/health.html", context)


@admin.register(ChannelModel)
class ChannelModelAdmin(ReadOnlyAdmin):
    """Which channels serve which model, across channels (edited on the channel's page)."""

    list_display = ("model", "upstream_model", "channel", "channel_priority", "channel_enabled")
    list_filter = ("channel", "channel__is_enabled")
    search_fields = ("model__model_id", "upstream_model", "channel__name")
    list_select_related = ("model", "channel")

    @admin.display(description=_("priority"), ordering="channel__priority")
    def channel_priority(self, served):
        return served.channel.priority

    @admin.display(boolean=True, description=_("enabled"), ordering="channel__is_enabled")
    def channel_enabled(self, served):
        return served.channel.is_enabled
