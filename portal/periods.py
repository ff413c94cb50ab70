"""Billing periods (calendar days and months) cut in settings.BUSINESS_TIME_ZONE.

Every period is a half-open interval [start, end) of aware UTC datetimes, so that a moment
belongs to exactly one period and "the next period" starts where the last one ended.
Metering, quotas and invoicing all cut time with these helpers.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

DAY = "day"
MONTH = "month"


def business_zone() -> ZoneInfo:
    return ZoneInfo(settings.BUSINESS_TIME_ZONE)


def local_midnight(day: date) -> datetime:
    """The start of `day` in the business time zone, in UTC."""
    return datetime.combine(day, time.min, tzinfo=business_zone()).astimezone(UTC)


def date_range_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """From the start of `first` to the end of `last` (both included), in UTC."""
    return local_midnight(first), local_midnight(last + timedelta(days=1))


def period_bounds(kind: str, at: datetime) -> tuple[datetime, datetime]:
    """(start_utc, end_utc) of the calendar `kind` ("day" or "month") containing `at`."""
    local = at.astimezone(business_zone()).date()
    if kind == DAY:
        return date_range_bounds(local, local)
    if kind == MONTH:
        first = local.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return local_midnight(first), local_midnight(following)
    raise ValueError(f"unknown period kind {kind!r}")
