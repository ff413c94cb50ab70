"""Benchmark: one warm authorize in-process, as the relay calls it (projects.authorize
.authorize_key), on PostgreSQL + Redis: microseconds per call and Redis commands per call
(INFO commandstats deltas of the cache's database server). Less sensitive to the machine's
load than the HTTP benchmarks: run it before and after a change to the authorize path.

    DJANGO_ENV=test DATABASE_URL=postgres://... REDIS_URL=redis://... \\
    .venv/bin/pytest tests/benchmarks/test_authorize_inprocess.py -s
"""

import os
import time

import pytest
from django.core.cache import cache

from billing.quotas.models import Quota
from projects import authorize
from tests.factories import QuotaFactory
from tests.relay.conftest import MODEL, build_world

CALLS = int(os.environ.get("BENCH_AUTHORIZE_CALLS", 2000))

pytestmark = pytest.mark.django_db(transaction=True)


def commands() -> dict[str, int]:
    stats = cache.client.get_client().info("commandstats")
    return {name: value["calls"] for name, value in stats.items()}


def test_warm_authorize_in_process():
    if not os.environ.get("REDIS_URL"):
        pytest.skip("counts Redis commands: set REDIS_URL")
    world = build_world("http://127.0.0.1:1/v1")  # no relay is called
    QuotaFactory(organization=world.organization, limit=10**12, on_exceed=Quota.OnExceed.BLOCK)
    key = world.key()

    def call():
        allowed, body, _ = authorize.authorize_key(api_key=key, model=MODEL, client_ip="127.0.0.1")
        assert allowed, body

    call()
    call()
    before = commands()
    started = time.perf_counter()
    for _ in range(CALLS):
        call()
    elapsed = time.perf_counter() - started
    after = commands()
    spent = {name: (after.get(name, 0) - before.get(name, 0)) / CALLS for name in after}
    per_call = ", ".join(
        f"{name} {count:.2f}" for name, count in sorted(spent.items()) if count >= 0.01
    )
    print(f"\nwarm authorize_key: {elapsed / CALLS * 1e6:.0f} us a call; Redis: {per_call}")
