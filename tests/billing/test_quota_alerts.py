"""Alerts: once per threshold per period, by bell, email and signed webhook; period resets;
exactly once under concurrent ingestion from several processes."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from billing.quotas import services as quotas
from billing.quotas.models import Quota, QuotaAlert, QuotaPeriod
from notifications.models import Notification
from tests.conftest import ROOT, database_url_for_subprocess

Scope = Quota.Scope


@pytest.fixture
def record(django_capture_on_commit_callbacks):
    """record_usage as ingestion calls it; runs the after-commit work (counters, alerts)."""

    def run(events):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            quotas.record_usage(events)

    return run


@pytest.mark.django_db
def test_each_threshold_fires_once_per_period(
    make_quota, departments, key_a1, usage, record, owner, admin, manager_of_a, developer_in_a1
):
    quota = make_quota(Scope.DEPARTMENT, departments["A"], limit=1000)
    quota.watchers.add(developer_in_a1.user)
    key = key_a1[0]
    record([usage(key, tokens=400)])
    assert not QuotaAlert.objects.exists()
    record([usage(key, tokens=150)])  # 55 %
    record([usage(key, tokens=10)])  # 56 %: nothing new
    assert list(QuotaAlert.objects.values_list("threshold", flat=True)) == [50]
    record([usage(key, tokens=500)])  # 106 %: 80 and 100 together
    assert sorted(QuotaAlert.objects.values_list("threshold", flat=True)) == [50, 80, 100]
    quotas.evaluate_alerts(list(QuotaPeriod.objects.values_list("id", flat=True)))  # again
    assert QuotaAlert.objects.count() == 3

    events = list(Notification.objects.values_list("user", "event_type"))
    # owner, admin, the manager of A and the watcher; the manager of nothing else
    recipients = {owner.user_id, admin.user_id, manager_of_a.user_id, developer_in_a1.user_id}
    assert {user for user, _ in events} == recipients
    assert sorted(t for u, t in events if u == owner.user_id) == [
        "quota.exceeded", "quota.threshold_reached", "quota.threshold_reached",
    ]  # fmt: skip
    assert len(mail.outbox) == 3 * len(recipients)
    subjects = {message.subject for message in mail.outbox if message.to == [owner.user.email]}
    assert any("Quota at 50 %" in subject for subject in subjects)
    assert any("Quota exceeded" in subject for subject in subjects)


@pytest.mark.django_db
def test_a_new_period_alerts_again(make_quota, key_a1, usage, record):
    quota = make_quota(
        Scope.ORGANIZATION, limit=100, thresholds=[50], made_at=datetime(2026, 10, 1, tzinfo=UTC)
    )
    key = key_a1[0]
    november = datetime(2026, 11, 20, tzinfo=UTC)
    december = datetime(2026, 12, 2, tzinfo=UTC)
    record([usage(key, tokens=60, at=november)])
    record([usage(key, tokens=60, at=december)])
    periods = QuotaAlert.objects.values_list("quota_period__period_start", flat=True)
    assert sorted(periods) == [
        datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC),
    ]  # fmt: skip
    assert QuotaPeriod.objects.filter(quota=quota).count() == 2


@pytest.mark.django_db
def test_the_period_reset_is_announced_once_after_an_alerting_period(
    make_quota, key_a1, usage, record, owner
):
    quota = make_quota(
        Scope.ORGANIZATION, limit=100, thresholds=[50], period=Quota.Period.DAY,
        made_at=timezone.now() - timedelta(days=2),
    )  # fmt: skip
    record([usage(key_a1[0], tokens=60, at=timezone.now() - timedelta(days=1))])
    quiet = make_quota(Scope.API_KEY, key_a1[0], limit=10**6, period=Quota.Period.DAY)
    Notification.objects.all().delete()

    assert quotas.announce_period_resets() == 1
    assert quotas.announce_period_resets() == 0
    notification = Notification.objects.get(user=owner.user)
    assert notification.event_type == "quota.period_reset"
    current = QuotaPeriod.objects.filter(quota=quota).first()  # newest
    assert current.consumed_tokens == 0 and current.period_end > timezone.now()
    assert not QuotaPeriod.objects.filter(quota=quiet).exists()


WORKER = """
import sys, django
django.setup()
from django.db import transaction
from billing.quotas import services as quotas
from billing.metering.models import UsageEvent
ids = [int(i) for i in sys.argv[1].split(",")]
for event in UsageEvent.objects.filter(id__in=ids).order_by("id"):
    with transaction.atomic():
        period_ids = quotas.record_usage([event])
    quotas.evaluate_alerts(period_ids)
"""


@pytest.mark.django_db(transaction=True)
def test_thresholds_fire_exactly_once_under_concurrent_ingestion_from_processes(
    make_quota, key_a1, usage, mailoutbox
):
    """Four processes, each with its own connection, record and evaluate interleaved
    events that cross every threshold; each threshold is alerted (and notified) once."""
    quota = make_quota(Scope.ORGANIZATION, limit=400, thresholds=[10, 25, 50, 80, 100])
    key = key_a1[0]
    events = [usage(key, tokens=5) for _ in range(100)]  # 500 tokens: 125 %
    chunks = [events[i::4] for i in range(4)]
    env = {**os.environ, "DJANGO_ENV": "test", "DJANGO_SETTINGS_MODULE": "portal.settings",
           "DATABASE_URL": database_url_for_subprocess(), "CELERY_TASK_ALWAYS_EAGER": "true",
           "EMAIL_URL": "memorymail://"}  # fmt: skip
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, ",".join(str(e.pk) for e in chunk)], cwd=ROOT, env=env
        )
        for chunk in chunks
    ]
    assert [process.wait(timeout=120) for process in processes] == [0, 0, 0, 0]
    period = QuotaPeriod.objects.get(quota=quota)
    assert period.consumed_tokens == 500
    thresholds = sorted(QuotaAlert.objects.values_list("threshold", flat=True))
    assert thresholds == [10, 25, 50, 80, 100]
    owner_notes = Notification.objects.filter(user__memberships__role="owner")
    assert owner_notes.count() == 5
    assert Decimal(QuotaAlert.objects.get(threshold=100).consumed) >= 400


@pytest.mark.django_db
def test_alerts_fall_back_to_the_notification_language(
    make_quota, departments, key_a1, usage, record, owner, settings
):
    """The owner never chose a language: NOTIFICATION_LANGUAGE applies."""
    settings.NOTIFICATION_LANGUAGE = "zh-hans"
    assert owner.user.language == ""
    make_quota(Scope.DEPARTMENT, departments["A"], limit=100, thresholds=[50])
    record([usage(key_a1[0], tokens=60)])
    notification = Notification.objects.get(user=owner.user)
    assert notification.sent_subject.startswith("配额已用 50 %")
    assert "部门及其下级部门" in notification.sent_subject
    assert "已达到的阈值" in mail.outbox[0].body
