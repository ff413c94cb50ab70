"""Django's admin autodiscovery imports this module: it loads each billing area's admin."""

from billing.catalog import admin as catalog_admin
from billing.invoicing import admin as invoicing_admin
from billing.invoicing import finance_admin
from billing.managed import admin as managed_admin
from billing.metering import admin as metering_admin
from billing.packages import admin as packages_admin
from billing.packages import report_admin as packages_report_admin
from billing.payments import admin as payments_admin
from billing.quotas import admin as quotas_admin
from billing.sales import admin as sales_admin
from billing.sales import plan_admin

__all__ = [
    "catalog_admin",
    "finance_admin",
    "invoicing_admin",
    "managed_admin",
    "metering_admin",
    "packages_admin",
    "packages_report_admin",
    "payments_admin",
    "plan_admin",
    "quotas_admin",
    "sales_admin",
]
