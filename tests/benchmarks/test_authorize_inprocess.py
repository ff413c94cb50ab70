"""Benchmark: one warm authorize in-process, as the relay calls it (projects.authorize
.authorize_key), on PostgreSQL + Redis: microseconds per call and Redis commands per call
(INFO commandstats deltas of the cache's database server). Less sensitive to the machine's
load than the HTTP benchmarks: run it before and after a change to the authorize path.

    DJANGO_ENV=test DATABASE_URL=postgres://... REDIS_URL=redis://... \\
    .venv/bin/pytest tests/benchmarks/test_authorize_inprocess.py -s

test_warm_authorize_with_packs measures an organization holding five token packs, four of
which cover the call (their snapshot comes in the same MGET as the key, and the answer's
limits list them), against an organization alike without packs, in alternating rounds: the
best round of each (wall and CPU time per call) and their ratio.
"""

import os
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.audit_trail import Actor
from accounts.permissions import Role
from billing.packages import services as packages
from billing.packages.models import Offer, OfferTerms
from billing.quotas.models import Quota
from projects import authorize
from tests.factories import (
    ApiKeyFactory,
    DepartmentFactory,
    LedgerEntryFactory,
    MembershipFactory,
    ProjectFactory,
    QuotaFactory,
)
from tests.relay.conftest import MODEL, build_world

CALLS = int(os.environ.get("BENCH_AUTHORIZE_CALLS", 2000))
ROUNDS = 10  # the packs benchmark: rounds of CALLS / ROUNDS calls, with and without packs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def funded_key():
    """A key of a funded organization with a blocking quota (every check runs), warm."""
    if not os.environ.get("REDIS_URL"):
        pytest.skip("counts Redis commands: set REDIS_URL")
    cache.clear()  # nothing cached for these ids by an earlier run on a fresh database
    world = build_world("http://127.0.0.1:1/v1")  # no relay is called
    QuotaFactory(organization=world.organization, limit=10**12, on_exceed=Quota.OnExceed.BLOCK)
    return world, world.key()


def commands() -> dict[str, int]:
    stats = cache.client.get_client().info("commandstats")
    return {name: value["calls"] for name, value in stats.items()}


def authorized(key):
    allowed, body, _ = authorize.authorize_key(api_key=key, model=MODEL, client_ip="127.0.0.1")
    assert allowed, body
    return body


def seconds_per_call(key, calls: int) -> tuple[float, float]:
    """Wall time and this process's CPU time per call (the CPU time is what other work on the
    machine disturbs least)."""
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        authorized(key)
    return (time.perf_counter() - started) / calls, (time.process_time() - cpu) / calls


def redis_per_call(before: dict, after: dict, calls: int) -> str:
    spent = {name: (after.get(name, 0) - before.get(name, 0)) / calls for name in after}
    return ", ".join(
        f"{name} {count:.2f}" for name, count in sorted(spent.items()) if count >= 0.01
    )


def test_warm_authorize_in_process(funded_key):
    _world, key = funded_key
    authorized(key)
    authorized(key)
    before = commands()
    elapsed, cpu = seconds_per_call(key, CALLS)
    print(
        f"\nwarm authorize_key: {elapsed * 1e6:.0f} us a call ({cpu * 1e6:.0f} us CPU); "
        f"Redis: {redis_per_call(before, commands(), CALLS)}"
    )


def five_packs(world):
    """Packs of listed models, of the provider's region, of all models, weighted, and one of
    all models allocated to a department the key is not in: four cover the call."""
    elsewhere = DepartmentFactory(organization=world.organization)
    kinds = [
        ({"scope": "models"}, None),
        ({"scope": "region", "scope_region": world.model.provider.region}, None),
        ({"scope": "all"}, None),
        ({"scope": "models", "counting": "weighted", "reference_price_per_million": 1}, None),
        ({"scope": "all"}, elsewhere),
    ]
    for n, (terms, department) in enumerate(kinds):
        offer = Offer.objects.create(kind=Offer.Kind.PACK, name_en=f"Pack {n}", name_zh=f"包{n}")
        terms = OfferTerms(
            offer=offer,
            effective_from=timezone.now() - timedelta(days=1),
            price_amount=Decimal(100),
            token_amount=10**9,
            validity_days=365,
            **terms,
        )
        packages.save_terms(actor=Actor.system(), terms=terms, scope_models=[world.model])
        packages.grant_pack(
            organization=world.organization, terms=terms, reference=f"p{n}", department=department
        )


def test_warm_authorize_with_packs(funded_key, django_capture_on_commit_callbacks):
    world, key = funded_key
    twin = MembershipFactory(role=Role.OWNER).organization  # the baseline: alike, no packs
    LedgerEntryFactory(organization=twin, amount=1_000_000)
    QuotaFactory(organization=twin, limit=10**12, on_exceed=Quota.OnExceed.BLOCK)
    twin_key = ApiKeyFactory(project=ProjectFactory(organization=twin)).plaintext
    with django_capture_on_commit_callbacks(execute=True):  # drops the cached snapshot
        five_packs(world)
    assert len(authorized(key)["limits"]["entitlements"]) == 4
    assert "entitlements" not in authorized(twin_key)["limits"]

    calls = CALLS // ROUNDS
    before = commands()
    rounds = []
    for _ in range(ROUNDS):  # alternating, so that both sides see the same machine
        rounds.append((seconds_per_call(twin_key, calls), seconds_per_call(key, calls)))
    without = min(r[0] for r in rounds)  # the least disturbed round of each side
    held = min(r[1] for r in rounds)
    print(
        f"\nwarm authorize_key, best of {ROUNDS} alternating rounds of {calls} calls: with 5 "
        f"packs {held[0] * 1e6:.0f} us a call, {held[1] * 1e6:.0f} us CPU | baseline without "
        f"packs {without[0] * 1e6:.0f} us, {without[1] * 1e6:.0f} us CPU | ratio "
        f"{held[0] / without[0]:.2f} wall, {held[1] / without[1]:.2f} CPU; "
        f"Redis: {redis_per_call(before, commands(), calls * ROUNDS * 2)}"
    )
