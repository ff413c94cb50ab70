from celery import shared_task

from billing.packages import alerts, services


@shared_task
def announce_pack_usage(entitlement_ids: list[int]) -> None:
    """Enqueued after each ingestion commit that drew these entitlements."""
    alerts.announce_usage(entitlement_ids)


@shared_task
def tend_entitlements() -> None:
    """Hourly: expire what is past its end (breakage), then warn of packs expiring soon."""
    services.expire_due()
    alerts.announce_expiring()
