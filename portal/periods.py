"""Business time: calendar days and months cut in settings.BUSINESS_TIME_ZONE.

A month is named by its first day (a date). Periods are half-open intervals [start, end) of
aware datetimes, so a moment belongs to exactly one period and the next period starts where
the last one ended. Metering, quotas and invoicing all cut time with these helpers.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

DAY = "day"
MONTH = "month"


def business_zone() -> ZoneInfo:
    return ZoneInfo(settings.BUSINESS_TIME_ZONE)


def month_of(at: datetime) -> date:
    """The first day of the business month `at` falls in."""
    local = at.astimezone(business_zone())
    return date(local.year, local.month, 1)


def add_months(month: date, count: int) -> date:
    """The first day of the month `count` months after (or, negative, before) `month`."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def month_start(month: date) -> datetime:
    """00:00 on the first day of `month`, aware in the business time zone (so adding days
    to it keeps the wall-clock time)."""
    return datetime(month.year, month.month, 1, tzinfo=business_zone())


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """(start, end) of `month`, each as month_start() gives it."""
    return month_start(month), month_start(add_months(month, 1))


def local_midnight(day: date) -> datetime:
    """The start of `day` in the business time zone, in UTC."""
    return datetime.combine(day, time.min, tzinfo=business_zone()).astimezone(UTC)


def date_range_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """From the start of `first` to the end of `last` (both included), in UTC."""
    return local_midnight(first), local_midnight(last + timedelta(days=1))


def period_bounds(kind: str, at: datetime) -> tuple[datetime, datetime]:
    """(start_utc, end_utc) of the calendar `kind` ("day" or "month") containing `at`."""
    if kind == DAY:
        local = at.astimezone(business_zone()).date()
        return date_range_bounds(local, local)
    if kind == MONTH:
        month = month_of(at)
        return local_midnight(month), local_midnight(add_months(month, 1))
    raise ValueError(f"unknown period kind {kind!r}")
