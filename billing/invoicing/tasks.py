from celery import shared_task
from django.utils import timezone

from billing.invoicing import services as invoicing


@shared_task
def run_billing_day() -> None:
    """Beat runs this hourly; it acts only once last month's grace period is over."""
    invoicing.run_billing_day(now=timezone.now())
