"""record_usage: consumption per quota and period, counters, scopes, roll-over."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import transaction

from billing.quotas import services as quotas
from billing.quotas.models import Quota, QuotaPeriod

pytestmark = pytest.mark.django_db

Scope = Quota.Scope


def consumed(quota):
    return {p.period_start: p.consumed for p in QuotaPeriod.objects.filter(quota=quota)}


def test_every_applicable_scope_counts_the_event_once(
    make_quota, departments, org, project_a1, key_a1, key_b, usage
):
    key, _ = key_a1
    org_quota = make_quota(Scope.ORGANIZATION)
    root = make_quota(Scope.DEPARTMENT, departments["ROOT"])
    a = make_quota(Scope.DEPARTMENT, departments["A"])
    b = make_quota(Scope.DEPARTMENT, departments["B"])
    project = make_quota(Scope.PROJECT, project_a1)
    key_quota = make_quota(Scope.API_KEY, key)
    other_key = make_quota(Scope.API_KEY, key_b[0])

    quotas.record_usage([usage(key, input_tokens=100, output_tokens=20, cached_input_tokens=3,
                               cache_write_tokens=1)])  # fmt: skip

    for quota in (org_quota, root, a, project, key_quota):
        assert list(consumed(quota).values()) == [124], quota.scope
    assert consumed(b) == {} and consumed(other_key) == {}


def test_a_department_quota_covers_its_subtree_only(make_quota, departments, key_a1, key_b, usage):
    a = make_quota(Scope.DEPARTMENT, departments["A"])
    quotas.record_usage([usage(key_a1[0], tokens=10), usage(key_b[0], tokens=7)])
    assert list(consumed(a).values()) == [10]


def test_money_quotas_add_the_unrounded_cost(make_quota, key_a1, usage):
    quota = make_quota(Scope.ORGANIZATION, metric=Quota.Metric.MONEY, limit=5)
    key = key_a1[0]
    quotas.record_usage([usage(key, cost="0.0000001234"), usage(key, cost="1.5")])
    assert list(consumed(quota).values()) == [Decimal("1.5000001234")]


def test_a_new_month_in_shanghai_starts_a_new_row_at_zero(make_quota, key_a1, usage):
    quota = make_quota(Scope.ORGANIZATION, made_at=datetime(2026, 10, 1, tzinfo=UTC))
    key = key_a1[0]
    before = datetime(2026, 11, 30, 15, 59, tzinfo=UTC)  # 30 Nov 23:59 in Shanghai
    after = datetime(2026, 11, 30, 16, 1, tzinfo=UTC)  # 1 Dec 00:01 in Shanghai
    quotas.record_usage([usage(key, tokens=5, at=before), usage(key, tokens=7, at=after)])
    assert consumed(quota) == {
        datetime(2026, 10, 31, 16, tzinfo=UTC): 5,
        datetime(2026, 11, 30, 16, tzinfo=UTC): 7,
    }
    quotas.record_usage([usage(key, tokens=1, at=after)])
    assert consumed(quota)[datetime(2026, 11, 30, 16, tzinfo=UTC)] == 8
    assert QuotaPeriod.objects.filter(quota=quota).count() == 2


def test_a_date_range_quota_ignores_usage_outside_it(make_quota, key_a1, usage):
    quota = make_quota(
        Scope.ORGANIZATION, period=Quota.Period.RANGE,
        start_date=datetime(2026, 11, 1).date(), end_date=datetime(2026, 11, 10).date(),
        made_at=datetime(2026, 10, 1, tzinfo=UTC),
    )  # fmt: skip
    key = key_a1[0]
    quotas.record_usage(
        [usage(key, tokens=3, at=datetime(2026, 11, 5, tzinfo=UTC)),
         usage(key, tokens=9, at=datetime(2026, 11, 20, tzinfo=UTC))]
    )  # fmt: skip
    assert list(consumed(quota).values()) == [3]


@pytest.mark.django_db(transaction=True)
def test_counters_follow_the_commit_and_a_rollback_records_nothing(make_quota, key_a1, usage):
    cache.clear()
    quota = make_quota(Scope.ORGANIZATION)
    key = key_a1[0]
    with pytest.raises(RuntimeError), transaction.atomic():
        quotas.record_usage([usage(key, tokens=40)])
        raise RuntimeError("ingestion failed")
    assert consumed(quota) == {}
    with transaction.atomic():
        quotas.record_usage([usage(key, tokens=40)])
    period = QuotaPeriod.objects.get(quota=quota)
    assert cache.get(quotas.counter_key(quota.pk, quota.metric, period.period_start)) == 40


def test_record_usage_costs_a_fixed_number_of_queries(
    make_quota, departments, key_a1, usage, django_assert_num_queries
):
    make_quota(Scope.ORGANIZATION)
    make_quota(Scope.DEPARTMENT, departments["A"])
    events = [usage(key_a1[0], tokens=1) for _ in range(50)]
    # quotas, departments, insert periods, 2 updates, read back
    with django_assert_num_queries(6):
        quotas.record_usage(events)


def test_without_quotas_record_usage_is_one_query(key_a1, usage, django_assert_num_queries):
    events = [usage(key_a1[0])]
    with django_assert_num_queries(1):
        assert quotas.record_usage(events) == []


def test_reconciliation_raises_a_lost_counter_to_the_database(make_quota, key_a1, usage):
    quota = make_quota(Scope.ORGANIZATION)
    with transaction.atomic():
        quotas.record_usage([usage(key_a1[0], tokens=70)])
    period = QuotaPeriod.objects.get(quota=quota)
    cache.clear()
    assert quotas.reconcile_counters() == 1
    assert cache.get(quotas.counter_key(quota.pk, quota.metric, period.period_start)) == 70
    assert quotas.reconcile_counters() == 0
