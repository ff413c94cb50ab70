from celery import shared_task
from django.utils import timezone

from portal.mail import build_email
from portal.models import Heartbeat


@shared_task
def record_heartbeat(name: str = "worker") -> None:
    """Beat sends this every minute; /healthz and staff see when a worker last ran it."""
    Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=8)
def deliver_email(payload: dict) -> None:
    build_email(dict(payload)).send()
