"""Benchmark: the gateway's authorize call against a trivial JSON view, same server, same run.

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/token_portal \\
    REDIS_URL=redis://127.0.0.1:6379/1 .venv/bin/pytest tests/benchmarks -s

gunicorn (sync workers = cores) serves the portal on PostgreSQL with the Redis cache; wrk
(Debian's package, `apt-get install wrk`) drives it for 20 s at concurrency 32:
GET /api/v1/gateway/ping (the trivial view: the same gateway-credential authentication,
then a constant body), then
POST /api/v1/gateway/authorize with a warm cache and a mix of allowed and refused keys.
Then wrk again, 8 connections paced to about half the peak rate in total.
It prints requests/s, p50/p99 latency and the ratio; the figures go to docs/benchmarks.md.
"""

import json
import os
import random
import re
import shutil
import subprocess
from datetime import timedelta

import httpx
import pytest

from accounts.permissions import Role
from billing.quotas.models import Quota
from projects import services
from tests.benchmarks import bench_port
from tests.factories import (
    CatalogModelFactory,
    DepartmentFactory,
    GatewayCredentialFactory,
    LedgerEntryFactory,
    MembershipFactory,
    QuotaFactory,
    as_actor,
)
from tests.projects.server import gunicorn

DURATION = float(os.environ.get("BENCH_SECONDS", 20))
CONCURRENCY = 32

pytestmark = pytest.mark.django_db(transaction=True)


def build_mix():
    """[(weight, body, expected reason)], a plausible day at the gateway."""
    for n in range(5):
        CatalogModelFactory(model_id=f"bench-model-{n}")
    owner = MembershipFactory(role=Role.OWNER)
    department = DepartmentFactory(organization=owner.organization)
    # Funded, with a blocking monthly quota: the balance and quota checks read their cache too.
    LedgerEntryFactory(organization=owner.organization, amount=1_000_000)
    QuotaFactory(organization=owner.organization, limit=10**12, on_exceed=Quota.OnExceed.BLOCK)
    actor = as_actor(owner)
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
    return mix, GatewayCredentialFactory(name="bench").plaintext


WRK_SCRIPT = """
local bodies = {%s}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", nil, nil, bodies[(counter %% #bodies) + 1])
end
%s
"""
PACED_CONNECTIONS = 8


def parse_ms(text):
    value = float(re.match(r"[\d.]+", text).group())
    return value * {"us": 0.001, "ms": 1, "s": 1000}[re.search(r"[a-z]+$", text).group()]


def run_wrk(base, token, path, *, bodies=(), rate=None, script_path=None):
    """wrk for DURATION: CONCURRENCY connections back to back, or, with `rate`, a few
    connections that each wait between calls so that together they send about `rate` calls
    a second. Returns (requests/s, p50 ms, p99 ms, non-2xx answers)."""
    connections = PACED_CONNECTIONS if rate else CONCURRENCY
    command = ["wrk", "-t2", f"-c{connections}", f"-d{DURATION:.0f}s", "--latency",
               "-H", f"Authorization: Bearer {token}",
               "-H", "Content-Type: application/json"]  # fmt: skip
    if bodies:
        pacing = f"delay = function() return {1000 * connections / rate:.0f} end" if rate else ""
        encoded = ", ".join(json.dumps(json.dumps(body)) for body in bodies)
        script_path.write_text(WRK_SCRIPT % (encoded, pacing))
        command += ["-s", str(script_path)]
    output = subprocess.run([*command, base + path], capture_output=True, text=True, check=True)
    text = output.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50 = parse_ms(re.search(r"^\s*50%\s+(\S+)", text, re.M).group(1))
    p99 = parse_ms(re.search(r"^\s*99%\s+(\S+)", text, re.M).group(1))
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return rate, p50, p99, int(refused.group(1)) if refused else 0


def test_authorize_against_the_trivial_view(tmp_path):
    if not (
        os.environ.get("REDIS_URL") and os.environ.get("DATABASE_URL", "").startswith("postgres")
    ):
        pytest.fail("the benchmark runs on PostgreSQL + Redis: set DATABASE_URL and REDIS_URL")
    if shutil.which("wrk") is None:
        pytest.fail("the benchmark drives the server with wrk: apt-get install wrk")
    mix, token = build_mix()
    rng = random.Random(4)
    # The weighted mix as a shuffled list of 1,000 bodies that wrk sends round robin.
    picks = rng.choices(mix, [weight for weight, _, _ in mix], k=1000)
    bodies = [body for _, body, _ in picks]
    refused = sum(expected != "allowed" for _, _, expected in picks)

    workers = os.cpu_count()
    with gunicorn(bench_port(), workers=workers, log_path=tmp_path / "gunicorn.log") as base:
        with httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"}) as client:
            for _, body, expected in mix:  # every answer is right, and every entry is cached
                response = client.post("/api/v1/gateway/authorize", json=body)
                assert response.json().get("reason", "allowed") == expected, body
        script = tmp_path / "authorize.lua"
        trivial = run_wrk(base, token, "/api/v1/gateway/ping")
        hot = run_wrk(base, token, "/api/v1/gateway/authorize", bodies=bodies, script_path=script)
        half = run_wrk(
            base,
            token,
            "/api/v1/gateway/authorize",
            bodies=bodies,
            rate=hot[0] / 2,
            script_path=script,
        )

    print(
        f"\n\ngunicorn: {workers} sync workers on {os.cpu_count()} cores; PostgreSQL + Redis cache"
    )
    print(f"{DURATION:.0f} s a run; wrk: {CONCURRENCY} connections; {PACED_CONNECTIONS} paced\n")
    print(f"{'run':<46}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for label, (rate, p50, p99, *_) in [
        ("GET ping (trivial JSON view, baseline)", trivial),
        ("POST authorize (warm cache, mixed keys)", hot),
        ("POST authorize at about half the peak rate", half),
    ]:
        print(f"{label:<46}{rate:>9.0f}{p50:>9.2f}{p99:>9.2f}")
    print(f"\nratio authorize / trivial throughput: {hot[0] / trivial[0]:.2f} (target >= 0.70)")
    print(f"p99 at half the peak rate: {half[2]:.2f} ms (target < 10 ms)")
    answered = hot[3] / (hot[0] * DURATION)
    print(f"refused (403) in the mix: {refused / len(picks):.0%}; in the peak run: {answered:.0%}")
    assert trivial[3] == 0
