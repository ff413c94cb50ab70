from datetime import UTC, date, datetime

import pytest

from portal.periods import date_range_bounds, period_bounds


@pytest.fixture(autouse=True)
def shanghai(settings):
    settings.BUSINESS_TIME_ZONE = "Asia/Shanghai"


def test_a_month_is_cut_at_midnight_in_shanghai():
    # 2026-11-30 16:30 UTC is already 1 December 00:30 in Shanghai.
    start, end = period_bounds("month", datetime(2026, 11, 30, 16, 30, tzinfo=UTC))
    assert start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)


def test_the_last_moment_of_a_month_belongs_to_it():
    start, end = period_bounds("month", datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC))
    assert (start, end) == (
        datetime(2026, 10, 31, 16, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
    )


def test_december_rolls_into_january():
    end = period_bounds("month", datetime(2026, 12, 15, tzinfo=UTC))[1]
    assert end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert period_bounds("month", end)[0] == end


def test_a_day_in_the_business_zone():
    assert period_bounds("day", datetime(2026, 11, 27, 17, 0, tzinfo=UTC)) == (
        datetime(2026, 11, 27, 16, 0, tzinfo=UTC),
        datetime(2026, 11, 28, 16, 0, tzinfo=UTC),
    )


def test_a_date_range_includes_its_last_day():
    assert date_range_bounds(date(2026, 11, 1), date(2026, 11, 3)) == (
        datetime(2026, 10, 31, 16, 0, tzinfo=UTC),
        datetime(2026, 11, 3, 16, 0, tzinfo=UTC),
    )


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        period_bounds("week", datetime(2026, 11, 27, tzinfo=UTC))
