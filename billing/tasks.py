from celery import shared_task
from django.utils import timezone

from billing import invoicing, metering

# --- Quotas, alerts and webhooks -----------------------------------------------------------


@shared_task
def evaluate_quota_alerts(period_ids: list[int]) -> None:
    """Enqueued after each ingestion commit that touched these quota periods."""
    from billing import quotas

    quotas.evaluate_alerts(period_ids)


@shared_task
def reconcile_quota_counters() -> None:
    from billing import quotas

    quotas.reconcile_counters()


@shared_task
def announce_quota_period_resets() -> None:
    from billing import quotas

    quotas.announce_period_resets()


@shared_task
def deliver_webhook(delivery_id: str) -> None:
    from billing import webhooks

    webhooks.deliver(delivery_id)


@shared_task
def send_due_webhooks() -> None:
    """Beat: retries whose time has come (and first attempts whose task was lost)."""
    from billing import webhooks

    for delivery_id in webhooks.due_deliveries():
        deliver_webhook.delay(delivery_id)


# --- Metering ----------------------------------------------------------------------------


@shared_task
def roll_up_usage() -> int:
    """Beat, every minute. Safe to run twice at once or to kill: see billing.metering.
    Returns the watermark reached."""
    return metering.roll_up()


@shared_task
def purge_usage_events() -> int:
    """Beat, daily: raw events past retention (never un-rolled ones)."""
    return metering.purge_events()


# --- Invoices and ledger -------------------------------------------------------------------


@shared_task
def run_billing_day() -> None:
    """Beat runs this hourly; it acts only once last month's grace period is over."""
    invoicing.run_billing_day(now=timezone.now())
