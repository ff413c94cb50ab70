from celery import shared_task
from django.conf import settings

from exports import services as exports


@shared_task(
    soft_time_limit=settings.EXPORT_TIME_LIMIT_SECONDS,
    time_limit=settings.EXPORT_TIME_LIMIT_SECONDS + 60,
)
def build_export(export_id: int) -> None:
    """Enqueued after the request commits; a redelivered or duplicate task does nothing."""
    exports.build_export(export_id=export_id)


@shared_task
def purge_expired_exports() -> int:
    """Beat, hourly: delete the files of exports past EXPORT_RETENTION_DAYS."""
    return exports.purge_expired()
