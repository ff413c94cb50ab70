from celery import shared_task

from billing.packages import alerts, plans, services


@shared_task
def announce_pack_usage(entitlement_ids: list[int]) -> None:
    """Enqueued after each ingestion commit that drew these entitlements."""
    alerts.announce_usage(entitlement_ids)


@shared_task
def tend_entitlements() -> None:
    """Hourly: expire what is past its end (breakage), then warn of packs expiring soon."""
    services.expire_due()
    alerts.announce_expiring()


@shared_task
def roll_plans() -> None:
    """Every 10 minutes: plans past their period renew (fee invoiced) or end, the month's
    allowance is granted where paid, renewal notices go out (billing.packages.plans.roll)."""
    plans.roll()
