from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.admin_site import AuditedAdmin, ReadOnlyAdmin
from accounts.audit_actions import action_label
from accounts.audit_trail import Actor
from accounts.forms import StatusNoteForm
from accounts.hijack import may_hijack
from accounts.models import (
    AuditEvent,
    DataExport,
    Department,
    Invitation,
    Membership,
    Organization,
    User,
)


class ViewAsMixin:
    """A "View the portal as" button on the change page of a member (accounts/hijack.py)."""

    change_form_template = "admin/accounts/view_as_change_form.html"

    def view_as_user(self, obj):
        return obj

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        user = self.view_as_user(obj) if obj is not None else None
        may = user is not None and may_hijack(hijacker=request.user, hijacked=user)
        extra_context = {"view_as": user if may else None, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(User)
class UserAdmin(ViewAsMixin, AuditedAdmin, DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "full_name")
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("full_name",)}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "uscc",
        "status",
        "payment_mode",
        "credit_limit_amount",
        "created_at",
    )
    list_filter = ("status", "kind", "payment_mode", "require_mfa")
    search_fields = ("name", "legal_name", "uscc", "public_id", "billing_email", "contact_name")
    readonly_fields = ("public_id", "status", "status_note", "status_changed_at", "created_at")
    fieldsets = (
        (None, {"fields": ("public_id", "kind", "name", "legal_name", "uscc")}),
        (_("Contact"), {"fields": ("contact_name", "contact_phone", "address", "billing_email")}),
        (_("Review"), {"fields": ("status", "status_note", "status_changed_at")}),
        (_("Billing"), {"fields": ("payment_mode", "credit_limit_amount", "currency")}),
        (_("Security"), {"fields": ("require_mfa",)}),
        (None, {"fields": ("created_at",)}),
    )
    actions = ("approve", "suspend")

    def has_add_permission(self, request):
        return False  # customers register their organization themselves

    def has_delete_permission(self, request, obj=None):
        return False  # its audit trail and bills keep it

    def save_model(self, request, obj, form, change):
        services.update_organization(
            actor=Actor.from_request(request),
            organization=obj,
            data={field: form.cleaned_data[field] for field in form.changed_data},
        )

    @admin.action(description=_("Approve the selected organizations"))
    def approve(self, request, queryset):
        return self._change_status(
            request,
            queryset,
            lambda organization, note: services.approve_organization(
                actor=Actor.from_request(request), organization=organization, note=note
            ),
            intro=_("Approve these organizations? Their owners receive your note by email."),
            done=_("%(count)d organizations approved."),
        )

    @admin.action(description=_("Suspend the selected organizations"))
    def suspend(self, request, queryset):
        return self._change_status(
            request,
            queryset,
            lambda organization, note: services.suspend_organization(
                actor=Actor.from_request(request), organization=organization, reason=note
            ),
            intro=_(
                "Suspend these organizations? The gateway refuses their keys until they are "
                "approved again. Their owners receive your reason by email."
            ),
            done=_("%(count)d organizations suspended."),
        )

    def _change_status(self, request, queryset, change, *, intro, done):
        """An intermediate page asks for the note; its submission applies the change."""
        form = StatusNoteForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for organization in queryset:
                change(organization, form.cleaned_data["note"])
            self.message_user(request, done % {"count": len(queryset)}, messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": intro,
            "intro": intro,
            "opts": self.model._meta,
            "queryset": queryset,
            "form": form,
            "action": request.POST["action"],
        }
        return TemplateResponse(request, "accounts/admin/status_change.html", context)


@admin.register(Membership)
class MembershipAdmin(ViewAsMixin, ReadOnlyAdmin):
    list_display = ("user", "organization", "role", "department", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "organization__name", "public_id")
    list_select_related = ("user", "organization", "department")

    def view_as_user(self, obj):
        return obj.user


@admin.register(Department)
class DepartmentAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "organization", "parent")
    list_filter = (("parent", admin.EmptyFieldListFilter),)
    search_fields = ("code", "name", "organization__name", "public_id")
    list_select_related = ("organization", "parent")


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ("email", "organization", "role", "status", "expires_at", "created_at")
    list_filter = ("status", "role")
    search_fields = ("email", "organization__name", "public_id")
    list_select_related = ("organization",)
    exclude = ("token_digest",)


@admin.register(DataExport)
class DataExportAdmin(ReadOnlyAdmin):
    """Customers' exports: staff see who asked and when, never the file (customer data)."""

    list_display = ("public_id", "organization", "requested_by", "status", "size", "created_at")
    list_filter = ("status",)
    search_fields = ("public_id", "organization__name", "requested_by__email")
    list_select_related = ("organization", "requested_by")
    exclude = ("file",)


class ActionFilter(admin.SimpleListFilter):
    """The recorded actions, by their label in the staff member's language."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        codes = AuditEvent.objects.order_by().values_list("action", flat=True).distinct()
        return sorted(((code, action_label(code)) for code in codes), key=lambda c: str(c[1]))

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Append-only: staff read it, nobody edits or deletes it."""

    list_display = (
        "created_at",
        "organization",
        "actor_label",
        "action_name",
        "action_code",
        "target_type",
        "target_label",
    )
    list_filter = (ActionFilter, "target_type")
    search_fields = ("actor_label", "action", "target_id", "target_label", "organization__name")
    list_select_related = ("organization",)
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "organization",
        "actor",
        "actor_label",
        "action_name",
        "action_code",
        "target_type",
        "target_id",
        "target_label",
        "changes_table",
        "ip_address",
        "user_agent",
    )
    readonly_fields = ("action_name", "action_code", "changes_table")

    @admin.display(description=_("action"), ordering="action")
    def action_name(self, obj):
        return obj.action_label

    @admin.display(description=_("action code"), ordering="action")
    def action_code(self, obj):
        return obj.action

    @admin.display(description=_("changes"))
    def changes_table(self, obj):
        return render_to_string("accounts/_changes.html", {"changes": obj.change_rows})
