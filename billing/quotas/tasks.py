from celery import shared_task

from billing.quotas import services as quotas


@shared_task
def evaluate_quota_alerts(period_ids: list[int]) -> None:
    """Enqueued after each ingestion commit that touched these quota periods."""
    quotas.evaluate_alerts(period_ids)


@shared_task
def reconcile_quota_counters() -> None:
    quotas.reconcile_counters()


@shared_task
def announce_quota_period_resets() -> None:
    quotas.announce_period_resets()
