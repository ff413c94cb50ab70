"""The ledger: append-only, usage draw-down, top-ups, and insufficient_balance in authorize."""

from decimal import Decimal

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.audit_trail import Actor
from billing.invoicing import ledger
from billing.invoicing.models import LedgerBalance, LedgerEntry
from projects import authorize as authorization
from tests.billing.invoicing_data import customer, event, rollup, top_up
from tests.factories import ApiKeyFactory, as_actor

pytestmark = pytest.mark.django_db


def test_entries_are_append_only():
    c = customer()
    top_up(c, "10")
    entry = LedgerEntry.objects.get()
    entry.amount = Decimal(1000)
    for refused in (entry.save, entry.delete, LedgerEntry.objects.all().delete):
        with pytest.raises(TypeError):
            refused()
    with pytest.raises(TypeError):
        LedgerEntry.objects.update(amount=0)


def test_a_staff_top_up_is_recorded_audited_and_refused_twice(staff_user):
    c = customer(payment_mode="prepaid")
    ledger.record_top_up(
        organization=c.organization, amount=Decimal("5000"), reference="对公转账 20261127-01",
        actor=as_actor(staff_user),
    )  # fmt: skip
    assert ledger.balance(c.organization) == Decimal("5000")
    assert c.organization.audit_events.filter(action="billing.top_up").count() == 1
    with pytest.raises(ValidationError):
        ledger.record_top_up(
            organization=c.organization,
            amount=Decimal("-1"),
            reference="x",
            actor=as_actor(staff_user),
        )


def test_the_running_balance_is_the_sum_of_the_entries_and_costs_one_query(
    django_assert_num_queries,
):
    c = customer(payment_mode="prepaid")
    top_up(c, "1000")
    ledger.charge_usage([event(c, cost="0.0123456789"), event(c, key="web", cost="1.5")])
    ledger.charge_usage([event(c, cost="3")])
    with pytest.raises(TypeError):
        LedgerEntry.objects.bulk_create([LedgerEntry(organization=c.organization, amount=1)])
    call_command("verify_ledger")  # raises CommandError on a mismatch
    LedgerBalance.objects.filter(organization=c.organization).update(amount=0)
    with pytest.raises(CommandError, match="1 ledger mismatch"):
        call_command("verify_ledger")
    LedgerBalance.objects.filter(organization=c.organization).update(
        amount=Decimal("995.4876543211")
    )
    with django_assert_num_queries(1):
        assert ledger.balance(c.organization) == Decimal("995.4876543211")


def test_usage_of_a_prepaid_organization_is_charged_once_per_batch():
    c = customer(payment_mode="prepaid")
    top_up(c, "1000")
    batch = [event(c, cost="0.0123456789"), event(c, key="web", cost="1.5")]
    ledger.charge_usage(batch)
    ledger.charge_usage(batch)  # called again with the same events: nothing more
    charge = LedgerEntry.objects.get(kind="usage_charge")
    assert charge.amount == Decimal("-1.5123456789")
    assert charge.reference == f"usage:CNY:{batch[0].id}-{batch[1].id}"
    assert ledger.balance(c.organization) == Decimal("998.4876543211")


def test_one_charge_per_organization_and_none_for_postpaid():
    prepaid = customer(payment_mode="prepaid")
    postpaid = customer(payment_mode="postpaid", name="后付费", legal_name="后付费有限公司")
    ledger.charge_usage([event(prepaid), event(prepaid), event(postpaid)])
    assert LedgerEntry.objects.filter(kind="usage_charge").count() == 1
    assert not LedgerEntry.objects.for_org(postpaid.organization).exists()


def test_crossing_the_low_balance_threshold_sends_one_alert(
    settings, django_capture_on_commit_callbacks
):
    settings.LOW_BALANCE_ALERT_AMOUNT = Decimal("100")
    c = customer(payment_mode="prepaid")
    top_up(c, "150")
    with django_capture_on_commit_callbacks(execute=True):
        ledger.charge_usage([event(c, cost="40")])  # 110: above
        ledger.charge_usage([event(c, cost="20")])  # 90: crosses
        ledger.charge_usage([event(c, cost="20")])  # 70: already below
    to_finance = [m for m in mail.outbox if m.to == [c.organization.billing_email]]
    assert [m.extra_headers["X-Token-Portal-Event"] for m in to_finance] == ["balance.low"]


# --- authorize ---------------------------------------------------------------------------


@pytest.fixture
def authorize_for(gateway_token):
    """authorize_for(customer, project) -> call(): the gateway's authorize with a new key of
    the customer's project, "allowed" or the refusal reason."""
    cache.clear()

    def call(c, key="service"):
        secret = ApiKeyFactory(project=c.projects[key], name="k").plaintext
        return lambda: authorization.authorize(
            credential=gateway_token,
            api_key=secret,
            model="deepseek/deepseek-chat",
            client_ip="203.0.113.7",
        )[1].get("reason", "allowed")

    return call


def test_prepaid_usage_draws_down_until_insufficient_balance(
    authorize_for, django_capture_on_commit_callbacks, django_assert_num_queries
):
    c = customer(payment_mode="prepaid")
    call = authorize_for(c)
    assert call() == "insufficient_balance"  # a new organization has nothing to spend
    with django_capture_on_commit_callbacks(execute=True):
        ledger.record_top_up(
            organization=c.organization, amount=Decimal("10"), reference="r1", actor=Actor.system()
        )
    assert call() == "allowed"
    with django_assert_num_queries(0):  # warm: the cached headroom, no query
        assert call() == "allowed"
    with django_capture_on_commit_callbacks(execute=True):
        ledger.charge_usage([event(c, cost="9.99")])
    with django_assert_num_queries(0):  # decremented in the cache, still no query
        assert call() == "allowed"
    with django_capture_on_commit_callbacks(execute=True):
        ledger.charge_usage([event(c, cost="0.01")])
    with django_assert_num_queries(0):
        assert call() == "insufficient_balance"


def test_the_prepaid_floor_is_a_setting(settings, authorize_for):
    settings.PREPAID_BALANCE_FLOOR = Decimal("-50")  # trusted customers may go below zero
    c = customer(payment_mode="prepaid")
    assert authorize_for(c)() == "allowed"


def test_postpaid_is_refused_when_owed_plus_this_months_usage_reaches_the_limit(
    authorize_for, django_capture_on_commit_callbacks
):
    c = customer(payment_mode="postpaid", credit_limit=Decimal("100"))
    call = authorize_for(c)
    now = timezone.now()
    rollup(c, cost="60", hour=now.replace(minute=0, second=0, microsecond=0))
    assert call() == "allowed"
    with django_capture_on_commit_callbacks(execute=True):
        ledger.charge_usage(
            [event(c, cost="39.99", occurred_at=now)]
        )  # not rolled up yet: the tail counts
    assert call() == "allowed"
    with django_capture_on_commit_callbacks(execute=True):
        ledger.charge_usage([event(c, cost="0.01", occurred_at=now)])
    assert call() == "insufficient_balance"
    cache.clear()  # recomputed from the database: the same answer
    assert call() == "insufficient_balance"
