from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        # Signal receivers: support sessions started and ended, second factors turned on and
        # off, are audited.
        from accounts import hijack, mfa  # noqa: F401


class StaffAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin whose default site (admin.site) demands MFA of staff."""

    default = False  # not the accounts app's own config
    default_site = "accounts.admin_site.StaffAdminSite"
