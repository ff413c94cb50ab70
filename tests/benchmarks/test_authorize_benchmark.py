"""Benchmark: the gateway's authorize call against a trivial JSON view, same server, same run.

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/tp_projects \\
    REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/pytest tests/benchmarks -s -p no:randomly

gunicorn (sync workers = cores) serves the portal on PostgreSQL with the Redis cache; this
process drives it with an asyncio httpx client: 20 s at concurrency 32 for
GET /api/v1/gateway/ping (the trivial view: the same gateway-credential authentication,
then a constant body) and for POST /api/v1/gateway/authorize with a warm cache and a mix
of allowed and refused keys; then authorize again, open loop, at half its peak rate.
It prints requests/s, p50/p99 latency and the ratio; the figures go to README "Performance".
"""

import asyncio
import os
import random
import time
from collections import Counter
from datetime import timedelta

import httpx
import pytest

from accounts.permissions import Role
from projects import services
from tests.factories import CatalogModelFactory, DepartmentFactory, MembershipFactory
from tests.projects.server import gunicorn

DURATION = float(os.environ.get("BENCH_SECONDS", 20))
CONCURRENCY = 32
PORT = 8150

pytestmark = pytest.mark.django_db(transaction=True)


def build_mix():
    """[(weight, body, expected reason)], a plausible day at the gateway."""
    for n in range(5):
        CatalogModelFactory(model_id=f"bench-model-{n}")
    owner = MembershipFactory(role=Role.OWNER)
    department = DepartmentFactory(organization=owner.organization)
    actor = services.Actor(user=owner.user, membership=owner)
    project = services.create_project(actor=actor, name="bench", department=department)
    open_keys = [services.create_api_key(actor=actor, project=project, name=f"open {n}")[1] for n in range(20)]  # fmt: skip
    _, restricted = services.create_api_key(
        actor=actor, project=project, name="restricted",
        allowed_models=["bench-model-0"], ip_allowlist=["203.0.113.0/24"],
    )  # fmt: skip
    revoked_key, revoked = services.create_api_key(actor=actor, project=project, name="revoked")
    services.revoke_api_key(actor=actor, key=revoked_key)
    _, rotating = services.create_api_key(actor=actor, project=project, name="rotating")
    services.rotate_api_key(
        actor=actor, key=project.api_keys.get(name="rotating"), grace=timedelta(hours=1)
    )
    unknown, _ = services.ApiKey.token_format.generate()

    def body(api_key, model="bench-model-0", ip="203.0.113.7"):
        return {"api_key": api_key, "model": model, "client_ip": ip}

    mix = [
        (60 / len(open_keys), body(k, model=f"bench-model-{i % 5}"), "allowed")
        for i, k in enumerate(open_keys)
    ]
    mix += [
        (10, body(restricted), "allowed"),
        (5, body(rotating), "allowed"),
        (5, body(restricted, model="bench-model-1"), "model_not_allowed"),
        (5, body(restricted, ip="198.51.100.1"), "ip_not_allowed"),
        (5, body(revoked), "key_revoked"),
        (5, body(unknown), "invalid_key"),
        (5, body("tpk_" + "x" * 20), "invalid_key"),
    ]
    _, token = services.create_gateway_credential(
        actor=services.Actor(user=owner.user), name="bench"
    )
    return mix, token


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1000


async def closed_loop(base, token, make_request):
    """CONCURRENCY clients back to back for DURATION: (requests/s, p50 ms, p99 ms, outcomes)."""
    latencies, outcomes = [], Counter()
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=base, limits=limits, headers={"authorization": f"Bearer {token}"}
    ) as client:
        deadline = time.perf_counter() + DURATION

        async def worker():
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                outcome = await make_request(client)
                latencies.append(time.perf_counter() - started)
                outcomes[outcome] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return (
        len(latencies) / elapsed,
        percentile(latencies, 0.5),
        percentile(latencies, 0.99),
        outcomes,
    )


async def open_loop(base, token, make_request, rate):
    """Requests sent on a fixed schedule; latency counted from the scheduled time."""
    latencies, outcomes = [], Counter()
    limits = httpx.Limits(max_connections=4 * CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=base, limits=limits, headers={"authorization": f"Bearer {token}"}
    ) as client:

        async def one(scheduled):
            outcome = await make_request(client)
            latencies.append(time.perf_counter() - scheduled)
            outcomes[outcome] += 1

        tasks, start, n = [], time.perf_counter(), 0
        while (scheduled := start + n / rate) < start + DURATION:
            await asyncio.sleep(max(0, scheduled - time.perf_counter()))
            tasks.append(asyncio.create_task(one(scheduled)))
            n += 1
        await asyncio.gather(*tasks)
    latencies.sort()
    return n / DURATION, percentile(latencies, 0.5), percentile(latencies, 0.99), outcomes


def test_authorize_against_the_trivial_view(tmp_path):
    if not (
        os.environ.get("REDIS_URL") and os.environ.get("DATABASE_URL", "").startswith("postgres")
    ):
        pytest.fail("the benchmark runs on PostgreSQL + Redis: set DATABASE_URL and REDIS_URL")
    mix, token = build_mix()
    weights = [weight for weight, _, _ in mix]
    rng = random.Random(4)

    async def ping(client):
        response = await client.get("/api/v1/gateway/ping")
        return response.status_code

    async def authorize(client):
        _, body, expected = rng.choices(mix, weights)[0]
        response = await client.post("/api/v1/gateway/authorize", json=body)
        got = response.json().get(
            "reason", "allowed" if response.status_code == 200 else response.status_code
        )
        return got if got == expected else f"WRONG {expected} -> {got}"

    workers = os.cpu_count()
    with gunicorn(PORT, workers=workers, log_path=tmp_path / "gunicorn.log") as base:

        async def run():
            for _, body, _ in mix:  # warm the cache: every key, model and the credential
                async with httpx.AsyncClient(
                    base_url=base, headers={"authorization": f"Bearer {token}"}
                ) as c:
                    await c.post("/api/v1/gateway/authorize", json=body)
            trivial = await closed_loop(base, token, ping)
            hot = await closed_loop(base, token, authorize)
            half = await open_loop(base, token, authorize, hot[0] / 2)
            return trivial, hot, half

        trivial, hot, half = asyncio.run(run())

    print(
        f"\n\ngunicorn: {workers} sync workers on {os.cpu_count()} cores; PostgreSQL + Redis cache"
    )
    print(f"{DURATION:.0f} s per run, concurrency {CONCURRENCY}, one asyncio httpx load process\n")
    print(f"{'run':<44}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    print(
        f"{'GET ping (trivial JSON view, baseline)':<44}{trivial[0]:>9.0f}{trivial[1]:>9.2f}{trivial[2]:>9.2f}"
    )
    print(
        f"{'POST authorize (warm cache, mixed keys)':<44}{hot[0]:>9.0f}{hot[1]:>9.2f}{hot[2]:>9.2f}"
    )
    label = f"POST authorize, open loop at {half[0]:.0f} req/s"
    print(f"{label:<44}{half[0]:>9.0f}{half[1]:>9.2f}{half[2]:>9.2f}")
    print(f"\nratio authorize / trivial throughput: {hot[0] / trivial[0]:.2f} (target >= 0.70)")
    print(f"p99 at half the peak rate: {half[2]:.2f} ms (target < 10 ms)")
    print(f"authorize answers: {dict(hot[3] + half[3])}")
    assert trivial[3] == Counter({200: sum(trivial[3].values())})
    assert not [outcome for outcome in hot[3] + half[3] if str(outcome).startswith("WRONG")]
