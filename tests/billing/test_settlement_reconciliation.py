"""verify_billing checks the operator's consolidated bill: per organization and month, the
settlements bill no more usage than was charged (after packs), usage not settled yet is no
error, and each settlement row adds up; the periodic run logs what it finds once it has
built a month's settlement."""

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from accounts.audit_trail import Actor
from billing.invoicing.consolidated_models import OperatorCharge
from billing.managed import settlement as settlements
from billing.managed.reconciliation import settlement_problems
from billing.packages import services as packages
from tests.billing.invoicing_data import NOV, NOV_FIRST_HOUR, NOV_LAST_HOUR, customer, rollup
from tests.billing.metering_world import build_world
from tests.billing.test_packages_invoice import MILLION, SOLD, ingest, pack_terms
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

OCT = NOV.replace(month=10)
DEC = NOV.replace(month=12)
OCT_HOUR = datetime(2026, 10, 10, 4, tzinfo=UTC)


def on_the_bill(organization):
    settlements.set_consolidated_billing(actor=Actor.system(), organization=organization,
                                         enabled=True, operator_account_number="A-1")  # fmt: skip


@pytest.fixture
def settled():
    """October settled (5.00), then 1.50 of late October usage and November's 4.00 settled
    in November's file, then 0.70 of late November usage that no settlement has read."""
    c = customer(name="某市大数据局")
    on_the_bill(c.organization)
    rollup(c, hour=OCT_HOUR, cost="5.00")
    settlements.build_settlement(month=OCT)
    rollup(c, hour=OCT_HOUR + timedelta(hours=1), cost="1.50")
    rollup(c, cost="4.00")
    november = settlements.build_settlement(month=NOV)
    rollup(c, hour=NOV_FIRST_HOUR + timedelta(hours=1), cost="0.70")
    return c, november.rows.get()


def test_settled_usage_and_usage_still_to_settle_agree(settled):
    assert settlement_problems() == []
    call_command("verify_billing")  # exit 0


def test_a_row_billing_more_usage_than_was_charged_or_not_adding_up_is_reported(settled):
    c, row = settled
    # October's late usage billed twice: 5.00 + 3.00 settled of the 6.50 charged.
    row.usage_by_month = {"2026-11": "4.00", "2026-10": "3.00"}
    row.adjustments_amount += Decimal("1.50")
    row.subtotal_amount += Decimal("1.50")
    row.tax_amount += Decimal("0.09")  # 6 %: the row adds up
    row.total_amount += Decimal("1.59")
    row.save()
    over = (
        f"organization {c.organization.public_id} (某市大数据局), 2026-10: settlements bill "
        "8.00 of usage, more than the 6.50 charged and not invoiced"
    )
    assert settlement_problems() == [over]
    row.subtotal_amount += 1
    row.save()
    where = f"settlement 2026-11, organization {c.organization.public_id}"
    assert settlement_problems() == [
        f"{where}: subtotal {row.subtotal_amount}, its parts add up to {row.subtotal_amount - 1}",
        f"{where}: total {row.total_amount} is not subtotal {row.subtotal_amount} + VAT "
        f"{row.tax_amount}",
        over,
    ]
    assert settlement_problems(since=NOV) == settlement_problems()[:2]  # October not read
    with pytest.raises(CommandError, match="3 settlement differences"):
        call_command("verify_billing")


def test_the_periodic_run_logs_the_differences_once_it_built_a_month(settled, caplog):
    _c, row = settled
    row.total_amount += 1
    row.save()
    january = datetime(2027, 1, 10, tzinfo=UTC)  # December's grace period is over
    with caplog.at_level(logging.ERROR, logger="billing.managed.reconciliation"):
        assert settlements.settle(now=january, system=None).month == DEC
        [problem] = settlement_problems()
        assert [record.getMessage() for record in caplog.records] == [f"verify_billing: {problem}"]
        assert "settlement 2026-11" in problem and "is not subtotal" in problem
        caplog.clear()
        settlements.settle(now=january + timedelta(hours=1), system=None)  # built already
    assert caplog.records == []


def test_the_bill_is_checked_against_usage_as_charged_after_packs(settings):
    settings.INVOICE_GRACE_DAYS = 2
    w = build_world(OrganizationFactory(name="Pack 用户", payment_mode="postpaid"))
    on_the_bill(w.org)
    packages.grant_pack(organization=w.org, terms=pack_terms(MILLION), reference="PO-1", at=SOLD)
    during = datetime(2026, 11, 20, tzinfo=UTC)
    ingest(w, during, during - timedelta(days=1), tokens=3 * MILLION)  # 3.00, 1.00 covered
    row = settlements.build_settlement(month=NOV).rows.get()
    assert (row.usage_amount, row.usage_by_month) == (Decimal("2.00"), {"2026-11": "2.00"})
    assert settlement_problems() == []
    # Billed at cost, as if the pack had covered nothing.
    over = (
        f"organization {w.org.public_id} (Pack 用户), 2026-11: settlements bill 3.00 of usage, "
        "more than the 2.00 charged and not invoiced"
    )
    row.usage_by_month = {"2026-11": "3.00"}
    row.save()
    assert settlement_problems() == [
        f"settlement 2026-11, organization {w.org.public_id}: usage by month says 3.00 of its "
        "month and 0 earlier, the row bills usage 2.00 and adjustments 0.00",
        over,
    ]
    row.usage_amount += 1  # and the row adds up
    row.subtotal_amount += 1
    row.tax_amount += Decimal("0.06")
    row.total_amount += Decimal("1.06")
    row.save()
    assert settlement_problems() == [over]


def charge(c, category, subtotal, at):
    """A pack or plan fee on the operator's bill, charged `at`, with 6 % VAT."""
    subtotal = Decimal(subtotal)
    tax = (subtotal * Decimal("0.06")).quantize(Decimal("0.01"))
    return OperatorCharge.objects.create(
        organization=c.organization, category=category, description=category, currency="CNY",
        subtotal_amount=subtotal, tax_rate=Decimal("0.06"), tax_amount=tax,
        total_amount=subtotal + tax, charged_at=at,
    )  # fmt: skip


def test_a_rows_packs_and_plan_fees_are_its_months_charges_on_the_operators_bill():
    c = customer(name="某市政务云")
    on_the_bill(c.organization)
    rollup(c, cost="4.00")
    charge(c, "pack", "100.00", NOV_FIRST_HOUR + timedelta(days=2))
    charge(c, "plan_fee", "30.00", NOV_FIRST_HOUR + timedelta(days=3))
    charge(c, "pack", "7.00", OCT_HOUR)  # October's: not November's row
    row = settlements.build_settlement(month=NOV).rows.get()
    assert (row.packs_amount, row.plan_fees_amount, row.tax_amount) == (
        Decimal("100.00"), Decimal("30.00"), Decimal("6.00") + Decimal("1.80") + Decimal("0.24"),
    )  # fmt: skip
    assert settlement_problems() == []

    # The row bills a pack more than was charged (and still adds up).
    row.packs_amount += 10
    row.subtotal_amount += 10
    row.tax_amount += Decimal("0.60")
    row.total_amount += Decimal("10.60")
    row.save()
    where = f"settlement 2026-11, organization {c.organization.public_id}"
    assert settlement_problems() == [
        f"{where}: packs 110.00 and plan fees 30.00, the charges on the operator's bill of "
        "2026-11 are 100.00 and 30.00",
        f"{where}: VAT 8.64, the usage's and the charges' (7.80) add up to 8.04",
    ]
    # A plan fee charged in November after its settlement was built: the bill missed it.
    row.packs_amount -= 10
    row.subtotal_amount -= 10
    row.tax_amount -= Decimal("0.60")
    row.total_amount -= Decimal("10.60")
    row.save()
    charge(c, "plan_fee", "5.00", NOV_LAST_HOUR)
    assert settlement_problems() == [
        f"{where}: packs 100.00 and plan fees 30.00, the charges on the operator's bill of "
        "2026-11 are 100.00 and 35.00",
        f"{where}: VAT 8.04, the usage's and the charges' (8.10) add up to 8.34",
    ]
    with pytest.raises(CommandError, match="2 settlement differences"):
        call_command("verify_billing")
