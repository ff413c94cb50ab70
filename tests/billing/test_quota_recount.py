"""A quota created (or given a new period) mid-period counts the usage already recorded in
that period: percentages, blocking at once, one alert for the highest crossed threshold,
scopes, and every event counted exactly once while batches are being ingested."""

import threading
import time
from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.db import connection, transaction
from django.utils import timezone

from billing.metering import services as metering
from billing.quotas import services as quotas
from billing.quotas.models import Quota, QuotaAlert, QuotaPeriod
from notifications.models import Notification
from portal import periods
from projects import services
from tests.factories import MembershipFactory, OrganizationFactory, as_actor

Scope = Quota.Scope
_ids = count()


@pytest.fixture
def record(django_capture_on_commit_callbacks):
    """record_usage as ingestion calls it, with its after-commit work (counters, alerts)."""

    def run(events):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            quotas.record_usage(events)

    return run


@pytest.fixture
def create(owner, django_capture_on_commit_callbacks):
    """create_quota by the owner, with its after-commit work (the counter)."""

    def make(scope, target=None, *, limit=1000, **values):
        with django_capture_on_commit_callbacks(execute=True):
            return quotas.create_quota(
                actor=as_actor(owner), scope=scope, target=target, limit=Decimal(limit), **values
            )

    return make


def running(quota):
    return QuotaPeriod.objects.select_related("quota").get(
        quota=quota, period_start=quota.bounds_at(timezone.now())[0]
    )


@pytest.mark.django_db
def test_a_quota_created_mid_month_counts_this_months_usage_only(
    create, record, key_a1, usage, client, owner
):
    key = key_a1[0]
    record([usage(key, tokens=600), usage(key, tokens=300, cost="0.50")])
    record([usage(key, tokens=5000, at=timezone.now() - timedelta(days=40))])  # last month

    quota = create(Scope.ORGANIZATION, limit=1000)
    money = create(Scope.ORGANIZATION, limit=2, metric=Quota.Metric.MONEY)

    assert running(quota).consumed == 900 and running(quota).percent == 90.0
    assert running(money).consumed == Decimal("0.51") and running(money).percent == 25.5
    client.force_login(owner.user)
    shown = client.get(f"/api/v1/quotas/{quota.public_id}").json()["current_period"]
    assert shown["consumed"] == "900" and shown["percent"] == 90.0
    assert "90.0 %" in client.get("/organization/quotas/").content.decode()


@pytest.mark.django_db
def test_a_late_event_of_a_period_that_ended_before_the_quota_was_made_is_not_counted(
    create, record, key_a1, usage
):
    key = key_a1[0]
    quota = create(Scope.API_KEY, key)
    record([usage(key, tokens=5000, at=timezone.now() - timedelta(days=40)), usage(key, tokens=70)])

    assert [period.consumed for period in quota.periods.all()] == [70]
    assert not QuotaAlert.objects.filter(quota_period__quota=quota).exists()


@pytest.mark.django_db
def test_after_a_new_period_a_late_event_of_a_period_that_had_ended_is_not_counted(
    make_quota, record, key_a1, usage, owner
):
    key = key_a1[0]
    quota = make_quota(Scope.API_KEY, key, made_at=timezone.now() - timedelta(days=90))
    quotas.update_quota(actor=as_actor(owner), quota=quota, period=Quota.Period.DAY)
    quota.refresh_from_db()
    record([usage(key, tokens=5000, at=timezone.now() - timedelta(days=2)), usage(key, tokens=70)])

    assert [period.consumed for period in quota.periods.all()] == [70]


@pytest.mark.django_db
def test_events_recorded_after_creation_add_once(create, record, key_a1, usage):
    key = key_a1[0]
    record([usage(key, tokens=100)])
    quota = create(Scope.API_KEY, key)
    record([usage(key, tokens=40)])
    assert running(quota).consumed_tokens == 140
    assert QuotaPeriod.objects.filter(quota=quota).count() == 1


@pytest.mark.django_db
def test_scopes_follow_the_rule_of_record_usage(
    create, record, departments, project_a1, key_a1, key_b, usage, priced_model
):
    """A department quota counts its subtree's usage; no other organization's ever."""
    other = MembershipFactory(organization=OrganizationFactory(), role="owner")
    project = services.create_project(actor=as_actor(other), name="Elsewhere")
    other_key, _ = services.create_api_key(actor=as_actor(other), project=project, name="k")
    record([usage(key_a1[0], tokens=10), usage(key_b[0], tokens=7), usage(other_key, tokens=99)])

    assert running(create(Scope.DEPARTMENT, departments["A"])).consumed == 10  # A1 is under A
    assert running(create(Scope.DEPARTMENT, departments["ROOT"])).consumed == 17
    assert running(create(Scope.DEPARTMENT, departments["B"])).consumed == 7
    assert running(create(Scope.PROJECT, project_a1)).consumed == 10
    assert running(create(Scope.ORGANIZATION)).consumed == 17
    assert running(create(Scope.API_KEY, key_b[0])).consumed == 7


@pytest.mark.django_db(transaction=True)
def test_a_blocking_quota_created_over_its_limit_refuses_at_once(
    create, record, key_a1, key_b, usage, authorize, owner
):
    key, plaintext = key_a1
    record([usage(key, tokens=1200)])
    assert authorize(plaintext) == "allowed"
    create(Scope.API_KEY, key, limit=1000, on_exceed=Quota.OnExceed.BLOCK)
    assert authorize(plaintext) == "quota_exceeded"
    assert authorize(key_b[1]) == "allowed"
    alert_only = create(Scope.API_KEY, key_b[0], limit=1, on_exceed=Quota.OnExceed.ALERT)
    record([usage(key_b[0], tokens=5)])
    assert authorize(key_b[1]) == "allowed"
    quotas.update_quota(actor=as_actor(owner), quota=alert_only, on_exceed=Quota.OnExceed.BLOCK)
    assert authorize(key_b[1]) == "quota_exceeded"


@pytest.mark.django_db
def test_only_the_highest_crossed_threshold_is_announced_once(create, record, key_a1, usage, owner):
    key = key_a1[0]
    record([usage(key, tokens=850)])
    Notification.objects.all().delete()
    quota = create(Scope.ORGANIZATION, limit=1000, thresholds=[50, 80, 100])

    assert sorted(QuotaAlert.objects.values_list("threshold", flat=True)) == [50, 80]
    mine = Notification.objects.filter(user=owner.user)
    assert mine.count() == 1 and "80" in mine.get().subject
    record([usage(key, tokens=50)])  # 90 %: nothing new
    assert mine.count() == 1
    record([usage(key, tokens=100)])  # 100 %: once
    assert mine.count() == 2 and mine.filter(event_type="quota.exceeded").count() == 1
    assert running(quota).consumed == 1000


@pytest.mark.django_db
def test_a_new_period_recounts_and_a_new_limit_keeps_the_count(
    create, record, key_a1, usage, owner
):
    key = key_a1[0]
    now = timezone.now()
    record([usage(key, tokens=100, at=now)])
    earlier = periods.period_bounds(periods.MONTH, now)[0] + timedelta(hours=1)  # this month
    record([usage(key, tokens=30, at=earlier)])
    quota = create(Scope.ORGANIZATION, limit=1000)
    assert running(quota).consumed == 130
    actor = as_actor(owner)

    quotas.update_quota(actor=actor, quota=quota, period=Quota.Period.DAY)
    quota.refresh_from_db()
    same_day = periods.period_bounds(periods.DAY, earlier) == periods.period_bounds(
        periods.DAY, now
    )
    assert running(quota).consumed == (130 if same_day else 100)  # today's only
    quotas.update_quota(actor=actor, quota=quota, period=Quota.Period.MONTH, limit=Decimal(500))
    quota.refresh_from_db()
    assert running(quota).consumed == 130 and running(quota).percent == 26.0


# --- Exactly once while batches are being ingested (PostgreSQL's advisory lock) -----------


def _event(key, tokens):
    return {
        "request_id": f"recount-{next(_ids)}-{time.time_ns()}",
        "key_id": key.public_id,
        "model": "deepseek/deepseek-chat",
        "input_tokens": tokens,
        "output_tokens": 0,
        "occurred_at": timezone.now().isoformat(),
    }


def _wait_for_a_lock_waiter():
    """Until a session of this database waits for an advisory lock (the other thread)."""
    with connection.cursor() as cursor:
        for _ in range(3000):
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("nobody waited for the ingestion lock")


def _in_thread(target):
    errors = []

    def run():
        try:
            target()
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the ingestion lock is PostgreSQL's (SQLite has one writer at a time)")


@pytest.mark.django_db(transaction=True)
def test_a_batch_in_flight_during_creation_counts_once(postgresql, owner, key_a1, priced_model):
    """The batch holds the shared lock, has inserted its events and run record_usage (the
    quota was not there yet); the creation waits for it, then counts its events."""
    key = key_a1[0]
    metering.ingest_usage(events=[_event(key, 100)])
    inserted, release = threading.Event(), threading.Event()

    def ingest():
        with transaction.atomic():
            metering.ingest_usage(events=[_event(key, 20), _event(key, 3)])
            inserted.set()
            release.wait(30)

    ingestion, ingestion_errors = _in_thread(ingest)
    assert inserted.wait(30)
    created = {}

    def create():
        created["quota"] = quotas.create_quota(
            actor=as_actor(owner), scope=Scope.API_KEY, target=key, limit=Decimal(1000)
        )

    creation, creation_errors = _in_thread(create)
    _wait_for_a_lock_waiter()  # the creation waits for the batch
    assert "quota" not in created
    release.set()
    ingestion.join(30)
    creation.join(30)
    assert not ingestion_errors and not creation_errors
    metering.ingest_usage(events=[_event(key, 4)])
    assert running(created["quota"]).consumed_tokens == 127


@pytest.mark.django_db(transaction=True)
def test_a_batch_started_during_creation_counts_once(postgresql, owner, key_a1, priced_model):
    """The creation holds the exclusive lock to its commit; a batch arriving meanwhile waits,
    then its record_usage sees the committed quota and adds its events (not in the seed)."""
    key = key_a1[0]
    metering.ingest_usage(events=[_event(key, 100)])
    created, release = threading.Event(), threading.Event()
    quota = {}

    def create():
        with transaction.atomic():
            quota["quota"] = quotas.create_quota(
                actor=as_actor(owner), scope=Scope.ORGANIZATION, limit=Decimal(1000)
            )
            created.set()
            release.wait(30)

    creation, creation_errors = _in_thread(create)
    assert created.wait(30)
    ingested = {}

    def ingest():
        ingested["result"] = metering.ingest_usage(events=[_event(key, 20), _event(key, 3)])

    ingestion, ingestion_errors = _in_thread(ingest)
    _wait_for_a_lock_waiter()  # the batch waits for the creation
    assert "result" not in ingested
    release.set()
    creation.join(30)
    ingestion.join(30)
    assert not ingestion_errors and not creation_errors
    assert ingested["result"].accepted == 2
    assert running(quota["quota"]).consumed_tokens == 123


@pytest.mark.django_db
def test_rolled_up_hours_and_the_unrolled_tail_count_once(create, record, key_a1, usage):
    key = key_a1[0]
    record([usage(key, tokens=100), usage(key, tokens=20)])
    metering.roll_up()
    record([usage(key, tokens=3)])  # above the watermark
    quota = create(Scope.API_KEY, key)
    assert running(quota).consumed_tokens == 123


@pytest.mark.django_db
def test_a_half_hour_zone_counts_the_raw_events(create, record, key_a1, usage, settings):
    """Kolkata's days start at hh:30 UTC: an hour bucket would straddle the start."""
    settings.BUSINESS_TIME_ZONE = "Asia/Kolkata"
    key = key_a1[0]
    day_start = periods.period_bounds(periods.DAY, timezone.now())[0]
    record([usage(key, tokens=7, at=day_start - timedelta(minutes=10))])  # yesterday
    record([usage(key, tokens=5, at=day_start + timedelta(minutes=10))])
    metering.roll_up()  # both in the same UTC hour bucket
    quota = create(Scope.API_KEY, key, period=Quota.Period.DAY)
    assert running(quota).consumed_tokens == 5
