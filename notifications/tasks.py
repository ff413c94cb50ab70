from celery import shared_task

from notifications import webhooks


@shared_task
def deliver_webhook(delivery_id: str) -> None:
    webhooks.deliver(delivery_id)


@shared_task
def send_due_webhooks() -> None:
    """Beat: retries whose time has come (and first attempts whose task was lost)."""
    for delivery_id in webhooks.due_deliveries():
        deliver_webhook.delay(delivery_id)
