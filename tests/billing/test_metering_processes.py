"""Real processes: concurrent ingestion while rollups run, and a worker killed mid-rollup."""

import os
import signal
import subprocess
import sys
from decimal import Decimal

import pytest

from accounts.models import Organization
from billing.invoicing import ledger
from billing.metering import services as metering
from billing.metering.models import UsageEvent
from billing.metering.tasks import roll_up_usage
from notifications.models import Notification
from portal.celery import app as celery_app
from tests.billing.metering_world import build_world, raw_totals, rollup_totals
from tests.conftest import (
    ROOT,
    database_url_for_subprocess,
    start_celery_worker,
    stop_celery_worker,
    wait_for,
)
from tests.factories import LedgerEntryFactory


def _child(*args, **extra_env):
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": database_url_for_subprocess(),
        **extra_env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.billing.metering_procs", *args], cwd=ROOT, env=env
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_ingestion_from_several_processes_while_rollups_run(tmp_path):
    world = build_world()
    stop = tmp_path / "stop"
    rollers = [_child("roll", str(stop)) for _ in range(2)]  # two runs at once, too
    ingesters = [
        _child("ingest", world.keys["abn"[i % 3]].public_id, str(i), "12") for i in range(4)
    ]
    try:
        assert [p.wait(timeout=120) for p in ingesters] == [0] * 4
    finally:
        stop.touch()
        assert [p.wait(timeout=60) for p in rollers] == [0, 0]
    metering.roll_up()
    assert UsageEvent.objects.count() == len(set(UsageEvent.objects.values_list("request_id")))
    assert rollup_totals() == raw_totals()
    assert sum(row[0] for row in rollup_totals().values()) == UsageEvent.objects.count()


@pytest.mark.django_db(transaction=True)
def test_concurrent_prepaid_ingestion_keeps_the_running_balance_exact_and_alerts_once():
    world = build_world()
    Organization.objects.filter(pk=world.org.pk).update(payment_mode="prepaid")
    LedgerEntryFactory(organization=world.org, amount=Decimal(10**9))
    # Every batch could be the one that crosses the threshold: exactly one may say so.
    threshold = str(Decimal(10**9) - Decimal("0.000001"))
    low = {"LOW_BALANCE_ALERT_AMOUNT": threshold}
    ingesters = [
        _child("ingest", world.keys["abn"[i % 3]].public_id, str(i), "6", **low) for i in range(4)
    ]
    assert [p.wait(timeout=120) for p in ingesters] == [0] * 4
    spent = sum(UsageEvent.objects.values_list("cost_amount", flat=True))
    assert ledger.balance(world.org) == Decimal(10**9) - spent
    assert ledger.unbalanced_organizations() == []
    alerts = Notification.objects.filter(organization=world.org, event_type="balance.low")
    assert alerts.count() == 1  # one owner, one crossing


@pytest.mark.worker
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="kill -9 mid-rollup is a PostgreSQL test (row and advisory locks, a broker that "
    "redelivers); on SQLite one file lock serializes everything and the in-process "
    "rollup tests cover the same steps",
)
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_during_a_rollup_leaves_exact_totals_after_restart(tmp_path, monkeypatch):
    world = build_world()
    metering.ingest_usage(
        events=[
            world.event(key="abn"[i % 3], model=("chat-1", "chat-2")[i % 2]) for i in range(4000)
        ]
    )
    first, last = UsageEvent.objects.earliest("id").id, UsageEvent.objects.latest("id").id
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    # One event id per transaction: thousands of steps, so the kill lands mid-run.
    worker, _ = start_celery_worker(tmp_path, USAGE_ROLLUP_STEP="1")
    try:
        roll_up_usage.delay()

        def some_steps_committed():
            """the rollup committed some steps"""
            return metering.watermark() > first + 50

        wait_for(some_steps_committed, timeout=60, interval=0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            stop_celery_worker(worker)
    mark = metering.watermark()
    assert first + 50 < mark < last  # killed mid-run
    # Whatever committed is exact: rollups hold precisely the events up to the watermark.
    assert rollup_totals() == raw_totals(id__lte=mark)

    worker, _ = start_celery_worker(tmp_path, USAGE_ROLLUP_STEP="500")
    try:
        roll_up_usage.delay()  # beat sends one every minute; send it now

        def caught_up():
            """the restarted worker rolled everything"""
            return metering.watermark() == last

        wait_for(caught_up, timeout=60)
    finally:
        stop_celery_worker(worker)
    assert rollup_totals() == raw_totals()
