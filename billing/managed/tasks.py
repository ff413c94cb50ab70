from celery import shared_task
from django.utils import timezone

from billing.managed import settlement
from billing.managed.billing_system import billing_system


@shared_task
def settle_consolidated_billing() -> None:
    """Beat: build last month's settlement file after the grace period, push it until the
    operator acknowledges it (retries back off, billing.managed.settlement.retry_delay)."""
    settlement.settle(now=timezone.now(), system=billing_system())
