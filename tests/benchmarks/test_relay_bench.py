"""Benchmark: the relay against calling the fake upstream directly, same load client, same run.

    make bench-relay        (PostgreSQL + Redis: set DATABASE_URL and REDIS_URL)

The fake upstream (tests/relay/fake_upstream.py) and the relay (portal.asgi under uvicorn,
one process, as `make run` serves it) run as processes of their own on 127.0.0.1; the load
client is one asyncio httpx client in the test process. For non-streaming and streaming chat:
  latency   LATENCY_CALLS calls one after another: p50 and p99, direct and through the relay;
  throughput  THROUGHPUT_CALLS calls, CONCURRENCY at a time: calls per second.
Every relay call is authorized, routed and billed (one usage event each), as in production;
billing runs behind the answers, so the relay's time includes waiting until every call of
its run is billed (which also leaves the machine quiet for the next baseline).
Direct and relay alternate for ROUNDS rounds: on a shared machine the baseline drifts from run
to run, so each round's ratio is against the baseline measured just before it, and the
median round is the figure. Each round also prints the relay process's CPU time per call
(user + system, from /proc): a figure of the relay's own cost that does not depend on the
baseline, for comparing relay code between runs. It prints each round and the median; the
figures go to docs/benchmarks.md.

test_usage_journal_cost measures in-process what journaling a call's usage (relay.journal,
before the answer completes) costs: JOURNAL_CALLS calls one after another, then 16 at a time,
for the Redis stream (with REDIS_URL) and the file journal: wall time and CPU time per call.
"""

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.test import override_settings

from billing.metering.models import UsageEvent
from relay import relay
from tests.benchmarks import bench_port
from tests.conftest import ROOT, database_url_for_subprocess, wait_for
from tests.relay.conftest import MODEL, build_world

LATENCY_CALLS = int(os.environ.get("BENCH_LATENCY_CALLS", 400))
THROUGHPUT_CALLS = int(os.environ.get("BENCH_THROUGHPUT_CALLS", 4000))
CONCURRENCY = 16
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
JOURNAL_CALLS = int(os.environ.get("BENCH_JOURNAL_CALLS", 3000))
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello to the world."}]}

pytestmark = pytest.mark.django_db(transaction=True)


@contextlib.contextmanager
def uvicorn(target: str, port: int, *extra: str):
    env = {**os.environ, "DJANGO_ENV": "test", "DATABASE_URL": database_url_for_subprocess()}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log", "--log-level", "warning", *extra],
        cwd=ROOT, env=env,
    )  # fmt: skip

    def serving():
        """uvicorn answers"""
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn {target} exited with {process.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return True
        except httpx.TransportError:
            return False

    try:
        wait_for(serving, timeout=30)
        yield f"http://127.0.0.1:{port}/v1", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


async def one(client, url, headers, stream) -> float:
    body = {**BODY, "stream": True} if stream else BODY
    started = time.perf_counter()
    if stream:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            async for _ in response.aiter_bytes():
                pass
    else:
        response = await client.post(url, json=body, headers=headers)
    assert response.status_code == 200, response.status_code
    return time.perf_counter() - started


async def measure(base: str, key: str, stream: bool) -> dict:
    url, headers = f"{base}/chat/completions", {"authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        for _ in range(20):  # warm up connections and caches
            await one(client, url, headers, stream)
        latencies = sorted([await one(client, url, headers, stream) for _ in range(LATENCY_CALLS)])
        remaining = THROUGHPUT_CALLS

        async def worker():
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await one(client, url, headers, stream)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {"p50": quantiles[49] * 1000, "p99": quantiles[98] * 1000, "seconds": elapsed}


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far (Linux: /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CALLS_PER_RUN = 20 + LATENCY_CALLS + THROUGHPUT_CALLS


def measure_relay(base: str, pid: int, key: str, stream: bool, billed_before: int) -> dict:
    """measure(), the time until every call of the run is billed, and the relay's CPU time
    per call."""
    cpu_before = cpu_seconds(pid)
    relayed = asyncio.run(measure(base, key, stream))
    started, calls = time.perf_counter(), billed_before + CALLS_PER_RUN

    def billed():
        """every relay call has its usage event"""
        return UsageEvent.objects.count() >= calls

    wait_for(billed, timeout=120, interval=0.02)
    seconds = relayed["seconds"] + time.perf_counter() - started
    cpu_per_call = (cpu_seconds(pid) - cpu_before) / CALLS_PER_RUN * 1000
    return {**relayed, "seconds": seconds, "cpu_ms": cpu_per_call}


def report(kind: str, direct: dict, relayed: dict) -> tuple[str, float]:
    """One round's line, and its throughput ratio."""
    direct_rps, relay_rps = (
        THROUGHPUT_CALLS / direct["seconds"],
        THROUGHPUT_CALLS / relayed["seconds"],
    )
    ratio = relay_rps / direct_rps
    line = (
        f"{kind:>14}: direct p50 {direct['p50']:.2f} ms p99 {direct['p99']:.2f} ms "
        f"{direct_rps:.0f}/s | relay p50 {relayed['p50']:.2f} ms p99 {relayed['p99']:.2f} ms "
        f"{relay_rps:.0f}/s | added p50 {relayed['p50'] - direct['p50']:.2f} ms p99 "
        f"{relayed['p99'] - direct['p99']:.2f} ms, throughput x{ratio:.2f}, "
        f"relay CPU {relayed['cpu_ms']:.2f} ms per call"
    )
    return line, ratio


def test_relay_overhead():
    upstream_cmd = ("tests.relay.fake_upstream:FakeUpstream", bench_port(1), "--factory")
    with (
        uvicorn(*upstream_cmd) as (upstream, _),
        uvicorn("portal.asgi:application", bench_port()) as (relay, relay_pid),
    ):
        world = build_world(relay)
        world.channel("bench", type("Upstream", (), {"url": upstream}))
        key = world.key()
        lines = [
            f"relay benchmark: {LATENCY_CALLS} sequential calls, then {THROUGHPUT_CALLS} "
            f"at concurrency {CONCURRENCY}, {ROUNDS} rounds; "
            f"{os.environ.get('DATABASE_URL', 'sqlite')[:8]}"
        ]
        billed = 0
        for stream in (False, True):
            kind, rounds = "streaming" if stream else "non-streaming", []
            for _ in range(ROUNDS):
                direct = asyncio.run(measure(upstream, key, stream))
                relayed = measure_relay(relay, relay_pid, key, stream, billed)
                billed += CALLS_PER_RUN
                line, ratio = report(kind, direct, relayed)
                lines.append(line)
                rounds.append((ratio, relayed["p50"] - direct["p50"], relayed["cpu_ms"]))
            ratio, added_p50, _ = sorted(rounds)[len(rounds) // 2]
            cpu_ms = statistics.median(cpu for _, _, cpu in rounds)
            lines.append(f"{kind:>14}: median round: throughput x{ratio:.2f}, added p50 "
                         f"{added_p50:.2f} ms; relay CPU {cpu_ms:.2f} ms per call")  # fmt: skip
    print("\n".join(lines))


async def journal_calls(calls: int) -> dict:
    """relay._Recorder.bill(), as a call's answer awaits it: sequential, then 16 at a time;
    then the acknowledgement of all of them, in the biller's batches."""
    recorder, usage = relay._Recorder(), relay.Usage(10, 5, 3)
    plans = iter(relay.Plan(f"req_journal{n:012d}", "key_x", MODEL, []) for n in range(10**9))
    for _ in range(100):  # warm up
        await recorder.bill(next(plans), usage)
    latencies, cpu, started = [], time.process_time(), time.perf_counter()
    for _ in range(calls):
        before = time.perf_counter()
        await recorder.bill(next(plans), usage)
        latencies.append(time.perf_counter() - before)
    sequential_cpu = (time.process_time() - cpu) / calls
    cpu, started = time.process_time(), time.perf_counter()
    for _ in range(calls // CONCURRENCY):
        await asyncio.gather(*(recorder.bill(next(plans), usage) for _ in range(CONCURRENCY)))
    together = calls // CONCURRENCY * CONCURRENCY
    concurrent_cpu = (time.process_time() - cpu) / together
    concurrent_wall = (time.perf_counter() - started) / together
    tokens = [token for *_, token in recorder.calls]
    for start in range(0, len(tokens), 500):
        recorder.journal.ack(tokens[start : start + 500])
    recorder.journal.close()
    recorder.writer.shutdown()
    return {
        "p50": statistics.median(latencies) * 1e6, "cpu": sequential_cpu * 1e6,
        "concurrent_wall": concurrent_wall * 1e6, "concurrent_cpu": concurrent_cpu * 1e6,
    }  # fmt: skip


def test_usage_journal_cost(tmp_path):
    # No batch is billed meanwhile: this measures the journal alone.
    kinds = ["redis", "file"] if os.environ.get("REDIS_URL") else ["file"]
    lines = [f"usage journal: {JOURNAL_CALLS} calls one after another, then 16 at a time"]
    for kind in kinds:
        journaling = {"RELAY_USAGE_JOURNAL": kind, "RELAY_JOURNAL_DIR": tmp_path}
        with override_settings(RELAY_BILL_EVERY_SECONDS=10**6, **journaling):
            found = asyncio.run(journal_calls(JOURNAL_CALLS))
        lines.append(
            f"{kind:>6}: one at a time: p50 {found['p50']:.0f} us, CPU {found['cpu']:.0f} us "
            f"a call; 16 at a time: {found['concurrent_wall']:.0f} us wall, CPU "
            f"{found['concurrent_cpu']:.0f} us a call"
        )
    print("\n".join(lines))
