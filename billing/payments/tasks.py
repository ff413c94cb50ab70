from celery import shared_task
from django.utils import timezone

from billing.payments import services


@shared_task
def refresh_open_payments() -> int:
    """Beat runs this every few minutes: payments whose notification is late are asked about."""
    return services.refresh_open_payments(now=timezone.now())
