from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from projects import services
from projects.models import ApiKey, GatewayCredential, Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "public_id", "organization", "department", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("name", "public_id", "organization__name")
    list_select_related = ("organization", "department")
    readonly_fields = ("public_id", "created_by", "created_at", "archived_at")
    raw_id_fields = ("organization", "department")

    def has_change_permission(self, request, obj=None):
        return False  # customers change projects through the audited services

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "prefix",
        "project",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = (
        ("revoked_at", admin.EmptyFieldListFilter),
        ("expires_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("name", "prefix", "public_id", "project__name", "project__organization__name")
    list_select_related = ("project",)
    exclude = ("digest", "pepper_id")

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted: usage events point at it


@admin.register(GatewayCredential)
class GatewayCredentialAdmin(admin.ModelAdmin):
    """Staff issue credentials here; the token is shown once, on the page after creation."""

    list_display = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix")
    fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None):
        return obj is None  # the list and the add form only: a credential is revoked, not edited

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        credential, obj._plaintext = services.create_gateway_credential(
            actor=services.Actor.from_request(request), name=form.cleaned_data["name"]
        )
        obj.pk, obj.prefix = credential.pk, credential.prefix

    def response_add(self, request, obj, post_url_continue=None):
        return TemplateResponse(
            request,
            "admin/projects/gatewaycredential/created.html",
            {**self.admin_site.each_context(request), "credential": obj, "secret": obj._plaintext,
             "opts": self.opts, "title": _("Gateway credential created")},
            headers={"Cache-Control": "no-store"},
        )  # fmt: skip

    @admin.action(description=_("Revoke the selected credentials"))
    def revoke(self, request, queryset):
        actor = services.Actor.from_request(request)
        for credential in queryset:
            services.revoke_gateway_credential(actor=actor, credential=credential)
        messages.success(request, _("Credentials revoked."))
