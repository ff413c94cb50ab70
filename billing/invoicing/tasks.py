from celery import shared_task
from django.utils import timezone

from billing.invoicing import reconciliation
from billing.invoicing import services as invoicing


@shared_task
def run_billing_day() -> None:
    """Beat runs this hourly; it acts only once last month's grace period is over. After a
    close, verify_billing runs on the months it carried (differences are logged as errors)."""
    now = timezone.now()
    closed = invoicing.run_billing_day(now=now)
    if closed is not None:
        reconciliation.check_after_close(now=now, month=closed)
