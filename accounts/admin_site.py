"""The staff console: staff reach it only from a session that passed two-factor authentication.

Sign-in is allauth's (with its MFA step); the site has no password form of its own. A staff
user without a second factor is sent to set one up; one whose session did not use it (signed
in before activating it, for example) is asked for a code again.
"""

from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import models
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from accounts.audit_trail import Actor, record_actor_event
from accounts.mfa import has_second_factor, session_passed_mfa


class StaffAdminSite(admin.AdminSite):
    index_template = "admin/staff_index.html"  # opens with billing's staff dashboard

    def has_permission(self, request):
        return (
            super().has_permission(request)
            and session_passed_mfa(request)
            and has_second_factor(request.user)
        )

    def login(self, request, extra_context=None):
        next_url = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(
            next_url, {request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("admin:index", current_app=self.name)
        user = request.user
        if self.has_permission(request):
            return redirect(next_url)
        if not user.is_authenticated:
            return redirect_to_login(next_url, reverse("account_login"))
        if not (user.is_active and user.is_staff):
            raise PermissionDenied
        if not has_second_factor(user):
            messages.warning(
                request, _("The staff console requires two-factor authentication. Set it up first.")
            )
            return redirect("mfa_index")
        return redirect_to_login(next_url, reverse("mfa_reauthenticate"))


# A bare host in a URL field is https, as Django 6 will assume (5.x warns until told).
URL_FIELDS_ASSUME_HTTPS = {models.URLField: {"assume_scheme": "https"}}


class ReadOnlyMixin:
    """Staff look; history does not change here (changes go through audited services)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    formfield_overrides = URL_FIELDS_ASSUME_HTTPS


class AuditedAdmin(admin.ModelAdmin):
    """For admins that save with the plain ModelAdmin save (no service of ours behind it):
    each add, change and delete is also an AuditEvent, in the object's organization if it
    has one. Admins whose writes go through a service leave the audit to that service."""

    formfield_overrides = URL_FIELDS_ASSUME_HTTPS

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "added", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(request, obj, "changed", message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "deleted", [])
        return super().log_deletions(request, queryset)

    def _audit(self, request, obj, verb, message):
        record_actor_event(
            actor=Actor.from_request(request),
            organization=getattr(obj, "organization", None),
            action=f"admin.{obj._meta.model_name}_{verb}",
            target=obj,
            changes={"after": {"admin": message}},
        )
