"""The call log: what the gateway reports of a call (latency, status), the page
(/usage/calls/), its CSV and GET /api/v1/organization/usage/calls: filters, keyset pages,
role scoping, bad input, query counts."""

from datetime import UTC, datetime, timedelta

import pytest

from billing.metering import services as metering
from billing.metering.models import UsageEvent

pytestmark = pytest.mark.django_db
USAGE_URL = "/api/v1/gateway/usage"


def post_usage(client, token, events):
    return client.post(
        USAGE_URL,
        {"events": events},
        content_type="application/json",
        headers={"authorization": f"Bearer {token}"},
    )


# --- The gateway contract: latency and status ------------------------------------------------


def test_latency_and_status_are_stored_when_reported_and_null_when_not(
    metering_world, client, gateway_token
):
    reported = {**metering_world.event(request_id="with"), "latency_ms": 1234, "status_code": 200}
    explicit_null = {**metering_world.event(request_id="nulls"), "latency_ms": None}
    response = post_usage(
        client, gateway_token, [reported, explicit_null, metering_world.event(request_id="old")]
    )
    assert response.status_code == 202, response.json()
    stored = {e.request_id: (e.latency_ms, e.status_code) for e in UsageEvent.objects.all()}
    assert stored == {"with": (1234, 200), "nulls": (None, None), "old": (None, None)}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("latency_ms", -1),
        ("latency_ms", 86_400_001),
        ("latency_ms", 1.5),
        ("latency_ms", "12"),
        ("latency_ms", True),
        ("status_code", 99),
        ("status_code", 600),
        ("status_code", "200"),
    ],
)
def test_a_bad_latency_or_status_refuses_the_batch_at_its_field(
    metering_world, client, gateway_token, field, value
):
    events = [metering_world.event(), {**metering_world.event(), field: value}]
    response = post_usage(client, gateway_token, events)
    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, field)]
    assert not UsageEvent.objects.exists()


def test_the_service_takes_the_facts_too(metering_world):
    at = datetime.now(UTC) - timedelta(minutes=5)
    event = {**metering_world.event(at=at), "latency_ms": 0, "status_code": 499}
    (stored,) = metering.ingest_usage(events=[event]).events
    assert (stored.latency_ms, stored.status_code) == (0, 499)
