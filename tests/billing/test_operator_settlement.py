"""Consolidated billing: an organization on the operator's bill gets no monthly invoice; the
month's settlement file (one row per organization: usage, packs, plan fees, adjustments,
VAT) is pushed to the operator's billing system (a fake one on 127.0.0.1 that fails the first
attempt), retried with backoff, acknowledged once, and never sent again."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.audit_trail import Actor
from accounts.models import AuditEvent
from billing.invoicing import services as invoicing
from billing.invoicing.consolidated_models import OperatorCharge
from billing.invoicing.models import Invoice
from billing.invoicing.reconciliation import verify_billing
from billing.managed import settlement as settlements
from billing.managed import tasks
from billing.managed.billing_system import billing_system
from billing.managed.models import Settlement
from portal.celery import app as celery_app
from tests.billing import fake_operator_billing
from tests.billing.invoicing_data import NOV, NOV_FIRST_HOUR, customer, event, rollup
from tests.factories import InvoiceFactory, UserFactory, as_actor

pytestmark = pytest.mark.django_db

DEC_5 = datetime(2026, 12, 5, 2, tzinfo=UTC)  # past the 2-day grace of November
OCT = NOV.replace(month=10)
OCT_HOUR = datetime(2026, 10, 10, 4, tzinfo=UTC)


@pytest.fixture
def on_operator_bill():
    c = customer(name="某市大数据局")
    staff = UserFactory(email="ops@example.com", is_staff=True)
    settlements.set_consolidated_billing(
        actor=as_actor(staff), organization=c.organization, enabled=True,
        operator_account_number=" 0571-88886666 ",
    )  # fmt: skip
    return c


@pytest.fixture
def operator(settings, server_port):
    settings.OPERATOR_BILLING_URL = f"http://127.0.0.1:{server_port}/settlements"
    settings.OPERATOR_BILLING_TOKEN = fake_operator_billing.TOKEN
    settings.OPERATOR_BILLING_RETRY_BASE_SECONDS = 300
    return server_port


def test_setting_the_consolidated_bill_needs_the_account_number_and_is_audited():
    c = customer()
    staff = UserFactory(is_staff=True)
    with pytest.raises(ValidationError) as refused:
        settlements.set_consolidated_billing(actor=as_actor(staff), organization=c.organization,
                                             enabled=True, operator_account_number=" ")  # fmt: skip
    assert "operator_account_number" in refused.value.message_dict
    settlements.set_consolidated_billing(actor=as_actor(staff), organization=c.organization,
                                         enabled=True, operator_account_number="A-1")  # fmt: skip
    prepaid = customer(name="预付费客户", payment_mode="prepaid")
    with pytest.raises(ValidationError) as refused:  # its balance already pays its usage
        settlements.set_consolidated_billing(
            actor=as_actor(staff), organization=prepaid.organization, enabled=True,
            operator_account_number="A-2",
        )  # fmt: skip
    assert "postpaid" in refused.value.message_dict["enabled"][0]
    event = AuditEvent.objects.get(action="billing.consolidated_billing_changed")
    assert event.changes == {"before": {"enabled": False, "account": ""},
                             "after": {"enabled": True, "account": "A-1"}}  # fmt: skip


def test_the_close_makes_no_invoice_for_an_organization_on_the_operator_bill(on_operator_bill):
    other = customer(name="普通客户")
    rollup(on_operator_bill, cost="10.00")
    rollup(other, cost="3.00")
    drafts = invoicing.close_month(month=NOV)
    assert [d.organization for d in drafts] == [other.organization]
    staff = UserFactory(is_staff=True)
    with pytest.raises(invoicing.InvoiceError, match="consolidated bill"):
        invoicing.close_and_issue_month(actor=as_actor(staff),
                                        organization=on_operator_bill.organization,
                                        month=NOV, now=DEC_5)  # fmt: skip
    assert not Invoice.objects.for_org(on_operator_bill.organization).exists()


def charge(c, category, amount):
    """A pack or plan fee charged on the operator's bill in November (billing.sales makes
    these; tests/billing/test_operator_purchases.py buys through it)."""
    subtotal = Decimal(amount)
    tax = (subtotal * Decimal("0.06")).quantize(Decimal("0.01"))
    return OperatorCharge.objects.create(
        organization=c.organization, category=category, description=category, currency="CNY",
        subtotal_amount=subtotal, tax_rate=Decimal("0.06"), tax_amount=tax,
        total_amount=subtotal + tax, charged_at=NOV_FIRST_HOUR + timedelta(days=3),
    )  # fmt: skip


def test_the_month_is_settled_pushed_retried_acknowledged_once(on_operator_bill, operator):
    c = on_operator_bill
    rollup(c, cost="10.00")
    rollup(c, key="web", cost="2.345")
    pack = charge(c, OperatorCharge.Category.PACK, "900.00")
    fee = charge(c, OperatorCharge.Category.PLAN_FEE, "100.00")
    # Invoiced and paid to us (bought before it joined the bill): not the operator's to bill.
    InvoiceFactory(organization=c.organization, kind=Invoice.Kind.PURCHASE,
                   status=Invoice.Status.PAID, period_start=NOV, subtotal_amount=Decimal(50),
                   issued_at=NOV_FIRST_HOUR + timedelta(days=3))  # fmt: skip
    with fake_operator_billing.receiver(operator, fail_first=1) as received:
        settlement = settlements.settle(now=DEC_5, system=billing_system())
        settlement.refresh_from_db()
        # The first attempt failed: still pending, retried after the backoff.
        assert (settlement.status, settlement.attempts) == (Settlement.Status.PENDING, 1)
        assert settlement.next_attempt_at == DEC_5 + timedelta(seconds=300)
        assert "503" in settlement.last_error
        settlements.settle(now=DEC_5 + timedelta(seconds=60), system=billing_system())
        assert len(received) == 1  # not due yet
        later = DEC_5 + timedelta(minutes=6)
        assert settlements.settle(now=later, system=billing_system()) == settlement
        settlement.refresh_from_db()
        assert (settlement.status, settlement.ack_id) == (
            Settlement.Status.ACKNOWLEDGED,
            "ACK-0001",
        )
        assert settlement.acknowledged_at == later
        # Acknowledged: re-running the month and the beat post nothing new.
        settlements.settle(now=later + timedelta(days=1), system=billing_system())
        assert settlements.build_settlement(month=NOV) == settlement
        assert len(received) == 2

    [(key1, first), (key2, second)] = received
    assert key1 == key2 == "token-portal-settlement-2026-11" == settlement.idempotency_key
    assert first == second  # the same file, byte for byte in its JSON
    usage = Decimal("12.35")  # 10.00 + 2.345 rounded once per line: 10.00 + 2.35
    # 6 % of the usage, and the purchases' VAT at purchase
    vat = Decimal("0.74") + pack.tax_amount + fee.tax_amount
    before_vat = usage + Decimal("1000.00")
    assert first["rows"] == [{
        "month": "2026-11", "organization_id": c.organization.public_id,
        "organization": "某市大数据局", "operator_account_number": "0571-88886666",
        "currency": "CNY", "usage": str(usage), "packs": "900.00", "plan_fees": "100.00",
        "adjustments": "0.00", "amount_before_vat": str(before_vat),
        "vat": str(vat), "total": str(before_vat + vat),
    }]  # fmt: skip
    header, row = first["csv"].lstrip("\ufeff").splitlines()
    assert header == ",".join(settlements.COLUMNS)
    assert row.startswith(f"2026-11,{c.organization.public_id},某市大数据局,0571-88886666,CNY,")
    assert row.endswith(f",{before_vat},{vat},{before_vat + vat}")
    acked = AuditEvent.objects.filter(action="billing.settlement_acknowledged")
    assert [e.changes["after"]["ack_id"] for e in acked] == ["ACK-0001"]


def test_late_usage_of_a_settled_month_is_an_adjustment_of_the_next(on_operator_bill):
    c = on_operator_bill
    rollup(c, hour=OCT_HOUR, cost="5.00")
    october = settlements.build_settlement(month=OCT)
    rollup(c, hour=OCT_HOUR + timedelta(hours=1), cost="1.50")  # arrived after October closed
    rollup(c, cost="4.00")
    [row] = settlements.build_settlement(month=NOV).rows.all()
    assert october.rows.get().usage_amount == Decimal("5.00")
    assert (row.usage_amount, row.adjustments_amount) == (Decimal("4.00"), Decimal("1.50"))
    assert row.usage_by_month == {"2026-11": "4.00", "2026-10": "1.50"}
    assert row.tax_amount == Decimal("0.33")  # 6 % of 5.50
    with pytest.raises(ValidationError) as refused:  # the close would bill it again
        settlements.set_consolidated_billing(actor=Actor.system(), organization=c.organization,
                                             enabled=False, operator_account_number="")  # fmt: skip
    assert "enabled" in refused.value.message_dict


def test_off_by_default_builds_but_sends_nothing(on_operator_bill, settings):
    assert billing_system() is None  # OPERATOR_BILLING_URL empty
    rollup(on_operator_bill, cost="1.00")
    settlement = settlements.settle(now=DEC_5, system=billing_system())
    assert (settlement.status, settlement.attempts) == (Settlement.Status.PENDING, 0)


def test_beat_runs_the_settlement(settings):
    celery_app.loader.import_default_modules()
    task = settings.CELERY_BEAT_SCHEDULE["settlements"]["task"]
    assert celery_app.tasks[task].name == tasks.settle_consolidated_billing.name == task


def test_verify_billing_leaves_the_operator_bill_to_the_settlement(on_operator_bill):
    event(on_operator_bill, occurred_at=NOV_FIRST_HOUR)
    long_after = datetime(2027, 6, 1, tzinfo=UTC)  # November is final: due on an invoice
    assert verify_billing(now=long_after).problems == []


def test_an_organization_on_the_operator_bill_cannot_be_made_prepaid(
    on_operator_bill, client, staff_user
):
    # A prepaid balance would be charged the usage the settlement bills the operator.
    with pytest.raises(ValidationError) as refused:
        invoicing.set_credit_terms(
            actor=Actor.system(), organization=on_operator_bill.organization,
            payment_mode="prepaid", credit_limit_amount=Decimal(0),
        )  # fmt: skip
    assert "operator's consolidated bill" in refused.value.message_dict["payment_mode"][0]
    page = client.post(
        f"/admin/billing/billingaccount/{on_operator_bill.organization.pk}/change/",
        {"payment_mode": "prepaid", "credit_limit_amount": "0.00"},
    )
    assert page.status_code == 200 and "operator&#x27;s consolidated bill" in page.content.decode()
    on_operator_bill.organization.refresh_from_db()
    assert on_operator_bill.organization.payment_mode == "postpaid"
