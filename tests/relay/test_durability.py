"""A relay process killed under load loses no answered call's bill and bills none twice: every
call's usage is journaled (relay.journal: the Redis stream with REDIS_URL, else fdatasync'ed
files) before its answer completes, and what a dead process left is replayed."""

import asyncio
import contextlib
import io
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.core.management import call_command
from django_redis import get_redis_connection

from accounts.models import Organization
from billing.invoicing import ledger
from billing.metering.models import TOKEN_FIELDS, UsageEvent
from billing.quotas import services as quotas
from billing.quotas.models import Quota
from projects import services as projects_services
from relay import journal, relay
from tests.conftest import ROOT, database_url_for_subprocess, free_port, wait_for
from tests.relay.conftest import MODEL, build_world
from tests.relay.fake_upstream import CACHED_TOKENS, CONTENT, PROMPT_TOKENS, FakeUpstream, serve

pytestmark = pytest.mark.django_db(transaction=True)

CONCURRENCY = 16
ANSWERED_BEFORE_THE_KILL = 300
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello to the world."}]}


@contextlib.contextmanager
def relay_process(directory: Path, **settings_env):
    """portal.asgi under uvicorn, a process of its own, as production serves it."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": database_url_for_subprocess(),
        "RELAY_JOURNAL_DIR": str(directory),
        "RELAY_USAGE_RECOVER_AFTER_SECONDS": "1",
        **settings_env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip

    def serving():
        """the relay process answers"""
        assert process.poll() is None, f"the relay exited with {process.returncode}"
        try:
            return httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 401
        except httpx.TransportError:
            return False

    try:
        wait_for(serving, timeout=60, interval=0.1)
        yield process, f"http://127.0.0.1:{port}/v1"
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


async def _load(base: str, key: str, process, answered: set[str], stop_after: int | None):
    """CONCURRENCY callers, non-streaming and streaming, until the relay is killed (after
    `stop_after` answered calls; 20 times as many calls at most) or, without `stop_after`,
    for 40 calls. `answered` gets the request_id of every call whose answer reached its
    caller: the whole body of a non-streaming 200, the final [DONE] of a stream."""
    headers = {"authorization": f"Bearer {key}"}
    url = f"{base}/chat/completions"
    killed, started = False, 0

    async def call(client, stream: bool):
        if stream:
            async with client.stream(
                "POST", url, json={**BODY, "stream": True}, headers=headers
            ) as response:
                received = b""
                async for chunk in response.aiter_bytes():
                    received += chunk
                    if response.status_code == 200 and b"data: [DONE]" in received:
                        answered.add(response.headers["x-request-id"])
        else:
            response = await client.post(url, json=BODY, headers=headers)
            if response.status_code == 200 and response.json()["choices"]:
                answered.add(response.headers["x-request-id"])

    async def caller(client, number: int):
        nonlocal killed, started
        while not killed and started < (40 if stop_after is None else 20 * stop_after):
            started += 1
            try:
                await call(client, stream=(started + number) % 2 == 0)
            except httpx.TransportError:
                if not killed:
                    raise
            if stop_after is not None and len(answered) >= stop_after and not killed:
                killed = True
                os.kill(process.pid, signal.SIGKILL)  # mid-load: other calls are in flight

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(caller(client, number) for number in range(CONCURRENCY)))


def journaled(directory: Path) -> int:
    """Entries in the journal not acknowledged yet."""
    if settings.RELAY_USAGE_JOURNAL == "redis":
        return get_redis_connection("default").xlen(journal.STREAM)
    return sum(len(path.read_bytes().splitlines()) for path in directory.glob("*.jsonl"))


def test_a_relay_killed_under_load_bills_every_answered_call_exactly_once(tmp_path):
    world = build_world(relay="")
    Organization.objects.filter(pk=world.organization.pk).update(payment_mode="prepaid")
    funded = ledger.balance(world.organization)
    actor = projects_services.Actor(user=world.owner.user, membership=world.owner)
    quota = quotas.create_quota(
        actor=actor, scope=Quota.Scope.ORGANIZATION, limit=Decimal(10**9),
        on_exceed=Quota.OnExceed.ALERT,
    )  # fmt: skip
    key = world.key()
    directory = tmp_path / "journal"
    upstream = FakeUpstream("up")
    answered: set[str] = set()

    with serve(upstream, free_port()) as upstream_url:
        world.channel("up", type("Upstream", (), {"url": upstream_url + "/v1"}))
        # Billing (and replaying what is older than 10 minutes) a minute later at best: every
        # call answered before the kill is in the journal only.
        first = {"RELAY_BILL_EVERY_SECONDS": "60", "RELAY_USAGE_RECOVER_AFTER_SECONDS": "600"}
        with relay_process(directory, **first) as (process, base):
            asyncio.run(_load(base, key, process, answered, ANSWERED_BEFORE_THE_KILL))
            assert process.wait(timeout=10) == -signal.SIGKILL
        assert len(answered) >= ANSWERED_BEFORE_THE_KILL
        assert UsageEvent.objects.count() == 0
        assert journaled(directory) >= len(answered)

        # Restarted, it replays the dead process's journal, and bills its own calls.
        with relay_process(directory, RELAY_BILL_EVERY_SECONDS="0.05") as (process, base):

            def replayed():
                """every call answered before the kill is billed, the journal is empty"""
                billed = set(UsageEvent.objects.values_list("request_id", flat=True))
                return answered <= billed and journaled(directory) == 0

            wait_for(replayed, timeout=60, interval=0.2)
            asyncio.run(_load(base, key, process, answered, None))
            process.send_signal(signal.SIGTERM)  # a clean stop bills what is pending
            process.wait(timeout=30)  # (uvicorn raises the signal again once stopped)
        assert journaled(directory) == 0

    events = list(UsageEvent.objects.all())
    billed = [event.request_id for event in events]
    assert set(billed) >= answered
    assert len(billed) == len(set(billed)) <= len(upstream.received)
    for event in events:
        tokens = (event.input_tokens, event.output_tokens, event.cached_input_tokens)
        assert tokens == (PROMPT_TOKENS - CACHED_TOKENS, len(CONTENT), CACHED_TOKENS)
    # Charged and counted once each: the prepaid ledger and the quota agree with the events.
    assert ledger.balance(world.organization) == funded - sum(e.cost_amount for e in events)
    tokens = sum(getattr(event, field) for event in events for field in TOKEN_FIELDS)
    assert quota.periods.get().consumed_tokens == tokens


def test_a_replayed_event_that_was_billed_before_the_process_died_is_billed_once(
    settings, tmp_path
):
    """Killed between ingest_usage's commit and the acknowledgement: the replay finds the
    event billed already (ingestion takes a request_id once)."""
    settings.RELAY_USAGE_RECOVER_AFTER_SECONDS = 0
    settings.RELAY_JOURNAL_DIR = tmp_path
    world = build_world(relay="")
    world.key()
    key = world.project.api_keys.get()
    usage = relay.Usage(input_tokens=100, output_tokens=10, cached_input_tokens=5)
    events = [relay._event(relay.Plan(f"req_{n}", key.public_id, MODEL, []), usage) for n in (1, 2)]
    dying = journal.store()
    dying.append(events)
    relay._ingest(events[:1])  # committed; never acknowledged
    dying.close()  # as the kernel closes a killed process's files

    wait_for(relay.recover_usage, timeout=10, interval=0.01)  # Redis: once an entry is older

    assert sorted(UsageEvent.objects.values_list("request_id", flat=True)) == ["req_1", "req_2"]
    assert relay.recover_usage() == 0
    assert journaled(tmp_path) == 0


def test_the_file_journal_replays_only_segments_no_live_process_holds(settings, tmp_path):
    settings.RELAY_USAGE_JOURNAL = "file"
    settings.RELAY_JOURNAL_DIR = tmp_path
    world = build_world(relay="")
    world.key()
    key = world.project.api_keys.get()
    usage = relay.Usage(input_tokens=100, output_tokens=10)
    live = journal.store()
    live.append([relay._event(relay.Plan("req_live", key.public_id, MODEL, []), usage)])
    live.rotate()  # the next batch goes to a second segment
    live.append([relay._event(relay.Plan("req_later", key.public_id, MODEL, []), usage)])
    assert len(list(tmp_path.glob("*.jsonl"))) == 2

    assert relay.recover_usage() == 0  # its process holds the segments' locks
    assert not UsageEvent.objects.exists()

    live.close()  # the process stops without acknowledging: the segments are orphans
    out = io.StringIO()
    call_command("relay_recover_usage", stdout=out)
    assert out.getvalue() == "2 journaled usage events replayed\n"
    assert set(UsageEvent.objects.values_list("request_id", flat=True)) == {"req_live", "req_later"}
    assert list(tmp_path.glob("*.jsonl")) == []


def test_the_file_journal_keeps_two_segments_at_most_while_batches_are_not_billed(tmp_path):
    """The database is down: batch after batch stays unacknowledged; the segments do not
    pile up (each is an open, locked file), and once billed they are gone."""
    live = journal.FileJournal(tmp_path)
    tokens = []
    for number in range(5):  # a batch each, none billed: every batch rotates
        tokens += live.append([{"request_id": f"req_{number}"}])
        live.rotate()
    assert len(list(tmp_path.glob("*.jsonl"))) == 2
    live.ack(tokens)
    tokens = live.append([{"request_id": "req_next"}])  # the database is back
    live.rotate()
    live.ack(tokens)
    assert list(tmp_path.glob("*.jsonl")) == []
    live.close()
