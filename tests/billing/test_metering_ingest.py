"""POST /api/v1/gateway/usage: all-or-nothing validation, idempotence, pricing, fast path."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.metering import services as metering
from billing.metering.models import UsageEvent
from portal import periods
from tests.factories import (
    ContractDiscountFactory,
    LedgerEntryFactory,
    PriceVersionFactory,
    as_actor,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/gateway/usage"


@pytest.fixture
def post(client, gateway_token):
    def call(events, token=None):
        return client.post(
            URL,
            {"events": events},
            content_type="application/json",
            headers={"authorization": f"Bearer {token or gateway_token}"},
        )

    return call


def test_a_batch_is_accepted_priced_and_stored_as_it_was(metering_world, post):
    at = datetime.now(UTC) - timedelta(hours=3)
    event = metering_world.event(
        key="a", model="chat-latest", at=at, input_tokens=1_000_000, output_tokens=500_000
    )
    event["cached_input_tokens"] = 2_000_000
    response = post([event])
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    stored = UsageEvent.objects.get()
    assert stored.model == metering_world.models["chat-1"]  # the alias resolved
    assert stored.organization == metering_world.org
    assert stored.project == metering_world.projects["a"]
    assert stored.department == metering_world.deps["A"]
    assert stored.price_version == metering_world.models["chat-1"].prices.get()
    # 1M x 2 + 0.5M x 8 + 2M x 0.5 per million
    assert stored.cost_amount == Decimal("7")
    assert stored.currency == "CNY"
    assert stored.occurred_at == at


def test_a_retried_batch_and_an_overlapping_one_count_each_event_once(metering_world, post):
    first = [metering_world.event(), metering_world.event()]
    assert post(first).json() == {"accepted": 2, "duplicates": 0}
    assert post(first).json() == {"accepted": 0, "duplicates": 2}
    overlapping = [
        first[1],
        metering_world.event(),
        metering_world.event(request_id=first[0]["request_id"]),
    ]
    assert post(overlapping).json() == {"accepted": 1, "duplicates": 2}
    assert UsageEvent.objects.count() == 3


def test_a_duplicate_inside_one_batch_counts_once(metering_world, post):
    event = metering_world.event()
    assert post([event, event, metering_world.event()]).json() == {"accepted": 2, "duplicates": 1}
    assert UsageEvent.objects.count() == 2


def test_the_service_returns_the_new_events_with_ids(metering_world):
    events = [metering_world.event(), metering_world.event()]
    metering.ingest_usage(events=events[:1])
    result = metering.ingest_usage(events=events)
    assert [e.request_id for e in result.events] == [events[1]["request_id"]]
    assert result.events[0].pk == UsageEvent.objects.get(request_id=events[1]["request_id"]).pk


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"key_id": "key_unknown"}, "key_id"),
        ({"key_id": 12}, "key_id"),
        ({"model": "no-such-model"}, "model"),
        ({"input_tokens": -1}, "input_tokens"),
        ({"output_tokens": -5}, "output_tokens"),
        ({"cached_input_tokens": -1}, "cached_input_tokens"),
        ({"input_tokens": 1.5}, "input_tokens"),
        ({"input_tokens": True}, "input_tokens"),
        ({"output_tokens": None}, "output_tokens"),
        ({"input_tokens": 10**13}, "input_tokens"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-11-27T12:00:00"}, "occurred_at"),  # no offset
        ({"request_id": ""}, "request_id"),
        ({"request_id": "has space"}, "request_id"),
        ({"request_id": "x" * 129}, "request_id"),
        ({"request_id": "ünicode"}, "request_id"),
        ({"request_id": None}, "request_id"),
        ({"estimated": "yes"}, "estimated"),
    ],
)
def test_any_invalid_event_refuses_the_whole_batch(metering_world, post, change, field):
    bad = {**metering_world.event(), **change}
    response = post([metering_world.event(), bad, metering_world.event()])
    assert response.status_code == 400
    assert {"index": 1, "field": field} in [
        {"index": e["index"], "field": e["field"]} for e in response.json()["errors"]
    ]
    assert all(e["message"] for e in response.json()["errors"])
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize(
    ("age", "accepted"),
    [
        (timedelta(days=35) - timedelta(minutes=1), True),
        (timedelta(days=35) + timedelta(minutes=1), False),
        (-timedelta(minutes=4), True),  # inside the 5-minute clock skew
        (-timedelta(minutes=6), False),
    ],
)
def test_the_acceptance_window_and_clock_skew(metering_world, post, age, accepted):
    response = post([metering_world.event(at=datetime.now(UTC) - age)])
    assert response.status_code == (202 if accepted else 400)
    assert UsageEvent.objects.exists() is accepted


def test_a_missing_field_and_a_non_object_are_reported_by_index(metering_world, post):
    missing = metering_world.event()
    del missing["occurred_at"]
    response = post([missing, "nope"])
    errors = [(e["index"], e["field"]) for e in response.json()["errors"]]
    assert (0, "occurred_at") in errors
    assert (1, "") in errors
    assert not UsageEvent.objects.exists()


def test_an_event_before_any_price_is_refused(metering_world, post):
    from tests.factories import PriceVersionFactory

    PriceVersionFactory(
        model__model_id="new-1", effective_from=datetime.now(UTC) - timedelta(hours=1)
    )
    response = post(
        [metering_world.event(model="new-1", at=datetime.now(UTC) - timedelta(hours=2))]
    )
    assert response.json()["errors"][0]["field"] == "occurred_at"
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize("events", [[], "x", None, [{}] * 5001])
def test_an_empty_oversized_or_malformed_batch_is_refused(metering_world, post, events):
    response = post(events)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "events"


def test_no_or_a_wrong_credential_is_401(metering_world, post, client):
    assert client.post(URL, {"events": []}, content_type="application/json").status_code == 401
    assert post([metering_world.event()], token="gwc_wrong").status_code == 401
    assert not UsageEvent.objects.exists()


def test_a_price_change_and_a_contract_discount_apply_at_the_events_time(metering_world, post):
    now = datetime.now(UTC)
    change = now - timedelta(days=2)
    PriceVersionFactory(
        model=metering_world.models["chat-1"], effective_from=change, input_price=Decimal("4"),
        output_price=Decimal("8"), cached_input_price=Decimal("0.5"),
    )  # fmt: skip
    ContractDiscountFactory(
        organization=metering_world.org,
        percent=Decimal("10"),
        valid_from=now.astimezone(periods.business_zone()).date(),
    )
    events = [
        metering_world.event(
            at=change - timedelta(hours=1), input_tokens=1_000_000, output_tokens=0
        ),
        metering_world.event(
            at=change + timedelta(hours=1), input_tokens=1_000_000, output_tokens=0
        ),
        metering_world.event(at=now, input_tokens=1_000_000, output_tokens=0),  # the discount's day
    ]
    post(events)
    costs = [UsageEvent.objects.get(request_id=e["request_id"]).cost_amount for e in events]
    assert costs == [Decimal("2"), Decimal("4"), Decimal("3.6")]
    assert UsageEvent.objects.get(request_id=events[2]["request_id"]).discount_percent == 10


@pytest.mark.parametrize("size", [10, 1000, 5000])
def test_a_batch_runs_a_bounded_number_of_queries(metering_world, size):
    at = datetime.now(UTC) - timedelta(hours=1)
    events = [
        metering_world.event(key="ab"[i % 2], model=("chat-1", "chat-2")[i % 2], at=at)
        for i in range(size)
    ]
    with CaptureQueriesContext(connection) as queries:
        result = metering.ingest_usage(events=events)
    assert result.accepted == size
    # keys, model ids (every name is an id: no alias query), price versions; then for each
    # (organization, model, business day, version) = 2 here: effective_price's version and
    # discount queries; the savepoint pair (the test runs inside a transaction); the ingest
    # lock on PostgreSQL; one INSERT per 1,000 events; the quotas lookup (none apply here);
    # the packs and plan lookups (none here: 2); the prepaid organization's charge
    # (ledger.charge_usage: organization with its low-balance alert, "already charged?", the
    # running balance locked and updated, the entry: 5, in a savepoint pair: 2; this first
    # entry of the organization also creates the balance row in a savepoint: 3 more); the
    # keys' "last used" (one UPDATE whatever the number of keys).
    chunks = -(-size // metering.INSERT_CHUNK)
    lock = 1 if connection.vendor == "postgresql" else 0
    assert len(queries) == 3 + 2 * 2 + 2 + lock + chunks + 1 + 2 + 5 + 2 + 3 + 1


def test_ingestion_feeds_quotas_and_the_prepaid_balance_exactly_once(metering_world, client):
    from billing.invoicing import ledger
    from billing.quotas import services as quotas
    from billing.quotas.models import Quota, QuotaPeriod

    owner = metering_world.members["owner"]
    quota = quotas.create_quota(
        actor=as_actor(owner),
        scope=Quota.Scope.ORGANIZATION,
        limit=1_000_000,
    )
    LedgerEntryFactory(organization=metering_world.org, amount=100)
    batch = [metering_world.event(input_tokens=1000, output_tokens=200) for _ in range(3)]
    for _ in range(2):  # the gateway retries the whole batch: nothing counts twice
        metering.ingest_usage(events=batch)
    period = QuotaPeriod.objects.get(quota=quota)
    assert period.consumed_tokens == 3 * 1200
    cost = sum(UsageEvent.objects.values_list("cost_amount", flat=True))
    assert cost > 0
    assert ledger.balance(metering_world.org) == 100 - cost
