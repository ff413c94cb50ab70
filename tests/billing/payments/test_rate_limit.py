"""The notification endpoints are public: each client address may post a limited number of
requests a minute (portal.ratelimit, in the real cache: Redis with REDIS_URL, else locmem)."""

import json
from decimal import Decimal

import pytest

from billing.invoicing.models import LedgerEntry
from billing.payments import services
from portal import ratelimit
from tests.factories import as_actor

NOTIFY = "/billing/payments/notify/wechat/"
PROVIDER = "203.0.113.7"
STRANGER = "198.51.100.66"


@pytest.fixture(autouse=True)
def limit(settings, empty_cache, monkeypatch):
    """Three a minute, and a clock in the middle of a minute (no window ends mid-test)."""
    settings.PAYMENT_NOTIFY_RATE_LIMIT = 3
    monkeypatch.setattr(ratelimit, "now", lambda: 1_800_000_020.0)  # 40 s left in the window


def notify(client, notification, ip):
    headers, body = notification
    return client.post(
        NOTIFY, body, content_type="application/json", REMOTE_ADDR=ip,
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )  # fmt: skip


def forged(ip, client):
    return notify(client, ({}, json.dumps({"event_type": "TRANSACTION.SUCCESS"})), ip)


def top_ups(org):
    return LedgerEntry.objects.for_org(org).filter(kind=LedgerEntry.Kind.TOP_UP).count()


@pytest.fixture
def payment(wechat, org, billing_member):
    return services.start_payment(
        actor=as_actor(billing_member), organization=org, provider_code="wechat",
        amount=Decimal("88.00"),
    )  # fmt: skip


def test_past_the_limit_an_address_gets_429_and_the_view_does_not_run(
    client, wechat, org, payment, caplog
):
    assert [forged(STRANGER, client).status_code for _ in range(3)] == [400] * 3
    refused = notify(client, wechat.paid(payment.out_trade_no), STRANGER)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "40"
    assert top_ups(org) == 0  # even a valid notification is not read past the limit
    assert forged(STRANGER, client).status_code == 429
    limit_lines = [r for r in caplog.records if r.name == "portal.ratelimit"]
    assert len(limit_lines) == 1  # one warning per address and window, not per request
    assert not [r for r in caplog.records if getattr(r, "status_code", None) == 429]


def test_another_address_is_not_affected(client, wechat, org, payment):
    for _ in range(5):
        forged(STRANGER, client)
    answer = notify(client, wechat.paid(payment.out_trade_no), PROVIDER)
    assert answer.status_code == 200
    assert json.loads(answer.content) == {"code": "SUCCESS"}
    assert top_ups(org) == 1


def test_a_valid_notification_under_the_limit_posts_once(client, wechat, org, payment):
    forged(PROVIDER, client)
    answers = [notify(client, wechat.paid(payment.out_trade_no), PROVIDER) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert top_ups(org) == 1
    payment.refresh_from_db()
    assert payment.status == payment.Status.SUCCEEDED


def test_the_next_minute_admits_the_address_again(client, monkeypatch):
    for _ in range(4):
        forged(STRANGER, client)
    assert forged(STRANGER, client).status_code == 429
    monkeypatch.setattr(ratelimit, "now", lambda: 1_800_000_060.0)
    assert forged(STRANGER, client).status_code == 404  # no provider configured: the view ran


def test_zero_turns_the_limit_off(client, settings):
    settings.PAYMENT_NOTIFY_RATE_LIMIT = 0
    assert {forged(STRANGER, client).status_code for _ in range(5)} == {404}
