from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExportsConfig(AppConfig):
    """The organization's data archive: a feature above every domain (it gathers accounts,
    projects, usage, quotas, invoices and the ledger). Its DataExport model is accounts'."""

    name = "exports"
    verbose_name = _("Data export")
