from celery import shared_task

from billing.metering import services as metering


@shared_task
def roll_up_usage() -> int:
    """Beat, every minute. Safe to run twice at once or to kill: see metering.roll_up().
    Returns the watermark reached."""
    return metering.roll_up()


@shared_task
def purge_usage_events() -> int:
    """Beat, daily: raw events past retention (never un-rolled ones)."""
    return metering.purge_events()
