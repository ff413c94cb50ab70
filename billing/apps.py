from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Billing")

    def ready(self):
        # projects sits below billing: the catalog and billing's checks join authorize here.
        from billing.catalog import receivers, selectors  # noqa: F401 (receivers connect)
        from billing.invoicing import account, ledger
        from billing.invoicing import services as invoicing
        from billing.invoicing.services import end_of_billed_usage
        from billing.metering import services as metering
        from billing.packages import drawdown, gate, plans
        from billing.quotas import receivers as quota_receivers  # noqa: F401
        from billing.quotas import services as quotas
        from billing.sales import plans as sales_plans
        from billing.sales import services as sales
        from portal import metrics
        from projects import authorize

        authorize.use_catalog(selectors.catalog_rows)
        authorize.add_check(
            selectors.check_organization_policy, before=authorize.check_client_ip, about_model=True
        )
        authorize.add_check(quotas.check_quota)
        authorize.add_check(ledger.check_balance)  # passes on an empty balance a pack covers
        authorize.add_limits(gate.describe_limits)
        # Counters first, then packs and plans (what each event is charged), then the balance.
        metering.add_usage_consumer(quotas.record_usage)
        metering.add_usage_consumer(drawdown.draw_usage)
        metering.add_usage_consumer(ledger.charge_usage)
        metering.add_purge_limit(end_of_billed_usage)
        metrics.collect_when_scraped(metering.RollupLagCollector())
        account.add_payment_finder(_online_payments)
        # A paid purchase invoice delivers its pack (sales is above invoicing).
        invoicing.invoice_paid.connect(sales.deliver, dispatch_uid="sales.deliver")
        # Plans: a paid fee grants its allowance; a renewal's fee is invoiced by sales.
        invoicing.invoice_paid.connect(sales_plans.deliver_fee, dispatch_uid="sales.deliver_fee")
        # A fee invoice voided unpaid ends its period (the plan) or drops its upgrade.
        invoicing.invoice_voided.connect(sales_plans.fee_voided, dispatch_uid="sales.fee_voided")
        plans.add_fee_invoicer(sales_plans.invoice_renewal)
        plans.add_period_end_handler(sales_plans.void_stale_upgrades)


def _online_payments(organizations, trade_numbers) -> dict[str, str]:
    """The ledger's links to online payments (billing.payments is above invoicing)."""
    from billing.payments.models import Payment

    found = Payment.objects.filter(organization__in=organizations, out_trade_no__in=trade_numbers)
    return dict(found.values_list("out_trade_no", "public_id"))
