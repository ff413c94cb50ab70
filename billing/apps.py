from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Billing")

    def ready(self):
        # projects sits below billing: the catalog and billing's checks join authorize here.
        from billing.catalog import receivers, selectors  # noqa: F401 (receivers connect)
        from billing.invoicing.ledger import check_balance
        from billing.metering.services import RollupLagCollector
        from billing.quotas import receivers as quota_receivers  # noqa: F401
        from billing.quotas.services import check_quota
        from portal import metrics
        from projects import authorize

        authorize.use_catalog(selectors.catalog_rows)
        authorize.add_check(selectors.check_organization_policy, before=authorize.check_client_ip)
        authorize.add_check(check_quota)
        authorize.add_check(check_balance)
        metrics.collect_when_scraped(RollupLagCollector())
