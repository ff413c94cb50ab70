"""The forecast: at the current period's average rate, when does the quota run out?"""

from datetime import UTC, date, datetime
from decimal import Decimal

from billing.quotas.models import Quota, QuotaPeriod
from billing.quotas.services import forecast

START = datetime(2026, 10, 31, 16, tzinfo=UTC)  # 1 November, Shanghai
END = datetime(2026, 11, 30, 16, tzinfo=UTC)


def quota_and_period(consumed_tokens):
    quota = Quota(metric=Quota.Metric.TOKENS, limit=Decimal(1000))
    return quota, QuotaPeriod(
        quota=quota, period_start=START, period_end=END, consumed_tokens=consumed_tokens
    )


def test_no_consumption_means_no_forecast():
    assert forecast(*quota_and_period(0), now=datetime(2026, 11, 10, tzinfo=UTC)) is None
    assert forecast(quota_and_period(0)[0], None) is None


def test_linear_on_the_period_so_far():
    # 400 in the first 5 days: 80 a day, the remaining 600 last 7.5 more days.
    now = datetime(2026, 11, 5, 16, tzinfo=UTC)
    assert forecast(*quota_and_period(400), now=now) == date(2026, 11, 13)  # 12:00 there


def test_a_quota_that_lasts_the_period_has_no_date():
    now = datetime(2026, 11, 25, 16, tzinfo=UTC)
    assert forecast(*quota_and_period(100), now=now) is None


def test_a_used_up_quota_runs_out_today():
    now = datetime(2026, 11, 5, 17, tzinfo=UTC)  # 6 November 01:00 in Shanghai
    assert forecast(*quota_and_period(1200), now=now) == date(2026, 11, 6)
