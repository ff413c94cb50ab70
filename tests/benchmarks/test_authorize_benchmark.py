"""Benchmark: the gateway's authorize call against a trivial JSON view, same server, same run.

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/tp_projects \\
    REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/pytest tests/benchmarks -s -p no:randomly

gunicorn (sync workers = cores) serves the portal on PostgreSQL with the Redis cache; wrk
(Debian's package, `apt-get install wrk`) drives it for 20 s at concurrency 32: GET /api/v1/gateway/ping (the
trivial view: the same gateway-credential authentication, then a constant body), then
POST /api/v1/gateway/authorize with a warm cache and a mix of allowed and refused keys.
Then an asyncio httpx client sends authorize calls open loop at half the peak rate
(latency counted from each call's scheduled time).
It prints requests/s, p50/p99 latency and the ratio; the figures go to README "Performance".
"""

import asyncio
import json
import logging
import os
import random
import re
import shutil
import subprocess
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
    open_keys = [
        services.create_api_key(actor=actor, project=project, name=f"open {n}")[1]
        for n in range(20)
    ]
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


WRK_SCRIPT = """
local bodies = {%s}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", nil, nil, bodies[(counter %% #bodies) + 1])
end
"""


def parse_ms(text):
    value = float(re.match(r"[\d.]+", text).group())
    return value * {"us": 0.001, "ms": 1, "s": 1000}[re.search(r"[a-z]+$", text).group()]


def closed_loop(base, token, path, bodies=None, tmp_path=None):
    """wrk, CONCURRENCY connections back to back for DURATION: (requests/s, p50 ms, p99 ms)."""
    command = ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{DURATION:.0f}s", "--latency", "-H",
               f"Authorization: Bearer {token}", "-H", "Content-Type: application/json"]  # fmt: skip
    if bodies:
        script = tmp_path / "authorize.lua"
        script.write_text(WRK_SCRIPT % ", ".join(json.dumps(json.dumps(b)) for b in bodies))
        command += ["-s", str(script)]
    output = subprocess.run(
        [*command, base + path], capture_output=True, text=True, check=True
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = parse_ms(re.search(r"50%\s+(\S+)", output).group(1))
    p99 = parse_ms(re.search(r"99%\s+(\S+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return rate, p50, p99, int(errors.group(1)) if errors else 0


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
    if shutil.which("wrk") is None:
        pytest.fail("the benchmark drives the server with wrk: apt-get install wrk")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would cost more
    mix, token = build_mix()
    rng = random.Random(4)
    # The weighted mix as a shuffled list of 1,000 bodies that wrk sends round robin.
    picks = rng.choices(mix, [weight for weight, _, _ in mix], k=1000)
    bodies = [body for _, body, _ in picks]
    refused = sum(expected != "allowed" for _, _, expected in picks)

    async def authorize(client):
        _, body, expected = rng.choice(picks)
        response = await client.post("/api/v1/gateway/authorize", json=body)
        got = response.json().get(
            "reason", "allowed" if response.status_code == 200 else response.status_code
        )
        return got if got == expected else f"WRONG {expected} -> {got}"

    workers = os.cpu_count()
    with gunicorn(PORT, workers=workers, log_path=tmp_path / "gunicorn.log") as base:
        with httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"}) as client:
            for _, body, expected in mix:  # every answer is right, and every entry is cached
                response = client.post("/api/v1/gateway/authorize", json=body)
                assert response.json().get("reason", "allowed") == expected, body
        trivial = closed_loop(base, token, "/api/v1/gateway/ping")
        hot = closed_loop(base, token, "/api/v1/gateway/authorize", bodies, tmp_path)
        half = asyncio.run(open_loop(base, token, authorize, hot[0] / 2))

    print(
        f"\n\ngunicorn: {workers} sync workers on {os.cpu_count()} cores; PostgreSQL + Redis cache"
    )
    print(f"{DURATION:.0f} s per run; wrk at {CONCURRENCY} connections; open loop: asyncio httpx\n")
    print(f"{'run':<46}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for label, (rate, p50, p99, *_) in [
        ("GET ping (trivial JSON view, baseline)", trivial),
        ("POST authorize (warm cache, mixed keys)", hot),
        ("POST authorize, open loop at half the peak", half),
    ]:
        print(f"{label:<46}{rate:>9.0f}{p50:>9.2f}{p99:>9.2f}")
    print(f"\nratio authorize / trivial throughput: {hot[0] / trivial[0]:.2f} (target >= 0.70)")
    print(f"p99 at half the peak rate: {half[2]:.2f} ms (target < 10 ms)")
    print(f"refused in the mix: {refused / len(picks):.0%}; open-loop answers: {dict(half[3])}")
    assert trivial[3] == 0
    assert hot[3] > 0  # the refusals (403) are part of the mix
    assert not [outcome for outcome in half[3] if str(outcome).startswith("WRONG")]
