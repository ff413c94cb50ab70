"""The call log on PostgreSQL: each page, filtered or not and however deep, is an index range
read in log order (no sort, no scan of the month); EXPLAIN says which index."""

import json
import os
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.db import connection

from accounts.permissions import Action
from billing.metering import selectors
from billing.metering.filters import CallFilter
from tests.billing.call_log_data import generate_calls

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="EXPLAIN of PostgreSQL's plans: set DATABASE_URL",
    ),
]
START = datetime(2026, 11, 1, tzinfo=UTC)


def plan_of(queryset) -> dict:
    """The plan of the queryset's SQL, as PostgreSQL's EXPLAIN (FORMAT JSON) gives it."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        return cursor.fetchone()[0][0]["Plan"]


def nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def events_scan(plan) -> dict:
    """The node that reads billing_usageevent."""
    (scan,) = [n for n in nodes(plan) if n.get("Relation Name") == "billing_usageevent"]
    return scan


@pytest.fixture
def month(metering_world):
    """20,000 calls over November: key b (project B) and model chat-2 make one call in 50
    each, so that reading the organization's index and filtering would read 50 rows a row."""
    world = metering_world
    keys = [world.keys["a"]] * 48 + [world.keys["b"], world.keys["n"]]
    models = [world.models["chat-1"]] * 49 + [world.models["chat-2"]]
    generate_calls(world, 20_000, start=START, seconds=30 * 86400, keys=keys, models=models)
    return world


def page_query(member, params, position=None):
    request = world_request(member)
    events = selectors.calls().for_member(member, Action.VIEW_USAGE)
    filtered = CallFilter(params, queryset=events, request=request)
    assert filtered.is_valid(), filtered.errors
    return selectors.calls_after(filtered.qs, position, size=51)


def world_request(member):
    """What CallFilter reads of a request: the member it acts for."""
    return SimpleNamespace(_current_membership=member, user=member.user)


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({}, "usage_event_org_time"),
        ({"key": "b"}, "usage_event_key_time"),
        ({"project": "b"}, "usage_event_project_time"),
        ({"model": "chat-2"}, "usage_event_model_time"),
        ({"since": "2026-11-10T00:00:00+08:00", "until": "2026-11-12T00:00:00+08:00"}, None),
    ],
)
@pytest.mark.parametrize("deep", [False, True])
def test_every_page_is_an_index_range_in_log_order(month, params, index, deep):
    values = {
        "key": month.keys.get(params.get("key")),
        "project": month.projects.get(params.get("project")),
    }
    query = {
        name: values[name].public_id if name in ("key", "project") else value
        for name, value in params.items()
    }
    # The middle of the month: half of the events are newer than this position.
    position = (datetime(2026, 11, 16, tzinfo=UTC), 10_000) if deep else None
    plan = plan_of(page_query(month.members["owner"], query, position))
    assert not [n for n in nodes(plan) if n["Node Type"] in ("Sort", "Incremental Sort")]
    scan = events_scan(plan)
    assert scan["Node Type"] == "Index Scan", json.dumps(plan, indent=1)
    assert scan["Scan Direction"] == "Backward"
    assert scan["Index Name"] == (index or "usage_event_org_time")
    if deep:  # the position bounds the range read, not a filter over the newer rows
        assert "occurred_at <=" in scan["Index Cond"]


def test_a_developers_department_scope_reads_its_index_too(month):
    plan = plan_of(page_query(month.members["developer_a"], {}))
    scan = events_scan(plan)
    assert scan["Node Type"] == "Index Scan"
    assert not [n for n in nodes(plan) if n["Node Type"] in ("Sort", "Incremental Sort")]
