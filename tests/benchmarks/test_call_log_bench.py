"""Call log benchmark (PostgreSQL): a month of 5 M calls, the API's first page against pages
deep in the month (keyset: one index range each) and against OFFSET at the same depth, for
the whole organization, one key of 100 and one model of 50 calls in 50. Each figure is
printed next to its baseline from the same run, with the ratio.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tp_calllog make bench-call-log

CALL_LOG_BENCH_EVENTS (default 5,000,000) sizes the month.
"""

import os
import time
from datetime import UTC, datetime

import pytest
from django.db import connection
from rest_framework.pagination import Cursor

from accounts.permissions import Action
from billing.metering import selectors
from billing.metering.pagination import CallCursorPagination
from projects import services
from tests.billing.call_log_data import generate_calls
from tests.billing.metering_world import build_world
from tests.factories import as_actor

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="the call log benchmark measures PostgreSQL: set DATABASE_URL",
    ),
]
EVENTS = int(os.environ.get("CALL_LOG_BENCH_EVENTS", 5_000_000))
MONTH = datetime(2026, 9, 30, 16, tzinfo=UTC)  # October 2026 in Asia/Shanghai
API = "/api/v1/organization/usage/calls"
PAGE = 50


def report(name, value, baseline, baseline_name, target=""):
    print(
        f"\n[bench] {name}: {value * 1000:,.1f} ms | {baseline_name} {baseline * 1000:,.1f} ms "
        f"| ratio {value / baseline:.2f}{f' (target {target})' if target else ''}"
    )


def best_of(runs, function) -> float:
    """The fastest of `runs` timed calls (the least disturbed by the rest of the machine)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


@pytest.fixture
def month():
    """5 M calls over October: 100 keys in turn (one project of the world each, in turn),
    chat-2 one call in 50."""
    world = build_world()
    owner = as_actor(world.members["owner"])
    keys = [world.keys[name] for name in "abn"] + [
        services.create_api_key(actor=owner, project=world.projects["abn"[i % 3]],
                                name=f"bench key {i}")[0]
        for i in range(97)
    ]  # fmt: skip
    models = [world.models["chat-1"]] * 49 + [world.models["chat-2"]]
    started = time.perf_counter()
    generate_calls(world, EVENTS, start=MONTH, seconds=31 * 86400, keys=keys, models=models)
    print(f"\n[bench] generated {EVENTS:,} calls in {time.perf_counter() - started:,.0f} s")
    world.bench_keys = keys
    return world


def deep_position(world, depth: int, **filters) -> str:
    """The position of the call `depth` calls into the log (newest first)."""
    events = selectors.calls().for_member(world.members["owner"], Action.VIEW_USAGE)
    event = events.filter(**filters).order_by("-occurred_at", "-id")[depth]
    return CallCursorPagination.position(event)


def url(query: str, position: str | None = None) -> str:
    base = f"{API}?limit={PAGE}{query}"
    if position is None:
        return base
    pagination = CallCursorPagination()
    pagination.base_url = base
    return pagination.encode_cursor(Cursor(offset=0, reverse=False, position=position))


def test_deep_keyset_pages_against_the_first_page_and_offset(month, client):
    client.force_login(month.members["owner"].user)
    key = month.bench_keys[7]
    chat2 = month.models["chat-2"]
    cases = [
        ("whole organization", "", {}, EVENTS * 4 // 5),
        ("one key of 100", f"&key={key.public_id}", {"api_key": key}, EVENTS // 100 * 4 // 5),
        ("model chat-2 (1 call in 50)", "&model=chat-2", {"model": chat2}, EVENTS // 50 * 4 // 5),
    ]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE billing_usageevent")
    for name, query, filters, depth in cases:
        position = deep_position(month, depth, **filters)

        def get(link):
            response = client.get(link)
            assert response.status_code == 200
            assert len(response.json()["results"]) == PAGE

        get(url(query))  # warm up: connection, caches, the first reads of the index
        get(url(query, position))
        first = best_of(5, lambda query=query: get(url(query)))
        deep = best_of(5, lambda query=query, position=position: get(url(query, position)))
        report(f"API, {name}, keyset page {depth:,} calls deep", deep, first, "first page", "<= 2")

        events = selectors.calls().for_member(month.members["owner"], Action.VIEW_USAGE)
        selected = events.filter(**filters)
        at, pk = position.split("|")
        keyset = best_of(
            5,
            lambda selected=selected, at=at, pk=pk: list(
                selectors.calls_after(selected, (datetime.fromisoformat(at), int(pk)), size=PAGE)
            ),
        )
        ordered = selected.order_by("-occurred_at", "-id")
        offset = best_of(
            1, lambda ordered=ordered, depth=depth: list(ordered[depth : depth + PAGE])
        )
        report(f"OFFSET {depth:,} (ORM, the same page)", offset, keyset, "keyset (ORM)")
