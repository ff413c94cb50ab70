"""Finance's pack report: sold, consumed, expired (breakage) and deferred revenue per month,
exact, on the staff console's page and in its CSV."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.audit_trail import Actor
from billing.metering import services as metering
from billing.packages import reports
from billing.packages import services as packages
from billing.packages.models import Entitlement, Offer, OfferTerms
from billing.sales import services as sales
from portal.periods import add_months, month_of, month_start
from tests.billing.metering_world import build_world
from tests.billing.test_packages_store import (
    buyer,
    domestic_pack,
    top_up,
    world,  # noqa: F401 (fixture)
)

pytestmark = pytest.mark.django_db

OCT, NOV, DEC = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)
MILLION = 1_000_000


def use(w, when, tokens):
    """A chat-2 call (1 CNY per million input tokens at list price) ingested at `when`."""
    event = w.event(model="chat-2", at=when - timedelta(hours=1), input_tokens=tokens,
                    output_tokens=0)  # fmt: skip
    metering.ingest_usage(events=[event], now=when)


@pytest.fixture
def history(db):
    """Two 1M-token packs at 100 CNY valid 30 days, sold October 10 and November 5; used
    250,000 tokens in October, 900,000 in November; both expire with tokens left."""
    w = build_world()
    offer = Offer.objects.create(kind=Offer.Kind.PACK, name_en="1M", name_zh="100 万")
    terms = packages.save_terms(
        actor=Actor.system(),
        terms=OfferTerms(
            offer=offer,
            effective_from=datetime(2026, 10, 1, tzinfo=UTC),
            price_amount=Decimal("100.00"),
            token_amount=MILLION,
            scope=OfferTerms.Scope.ALL,
            validity_days=30,
        ),
    )
    sold = (datetime(2026, 10, 10, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC))
    for number, at in enumerate(sold, start=1):
        packages.grant_pack(organization=w.org, terms=terms, reference=f"PO-{number}", at=at)
    use(w, datetime(2026, 10, 15, tzinfo=UTC), 250_000)  # the first pack
    use(w, datetime(2026, 11, 8, tzinfo=UTC), 500_000)  # the first (earliest expiry)
    packages.expire_due(datetime(2026, 11, 10, tzinfo=UTC))  # 250,000 left: 25 CNY
    use(w, datetime(2026, 11, 20, tzinfo=UTC), 400_000)  # the second
    packages.expire_due(datetime(2026, 12, 6, tzinfo=UTC))  # 600,000 left: 60 CNY
    return w


def test_each_month_sold_consumed_expired_and_deferred(history):
    october, november, december = reports.pack_report(OCT, DEC)
    assert (october.packs_sold, october.tokens_sold, october.revenue_amount) == (1, MILLION, 100)
    assert (october.tokens_consumed, october.consumed_value_amount) == (250_000, Decimal("0.25"))
    assert (october.tokens_expired, october.breakage_amount) == (0, 0)
    assert october.deferred_revenue_amount == Decimal(75)  # 750,000 of 1M left
    assert (november.packs_sold, november.revenue_amount) == (1, 100)
    assert (november.tokens_consumed, november.consumed_value_amount) == (900_000, Decimal("0.9"))
    assert (november.tokens_expired, november.breakage_amount) == (250_000, Decimal(25))
    assert november.deferred_revenue_amount == Decimal(60)  # the second pack: 600,000 left
    assert (december.packs_sold, december.tokens_consumed) == (0, 0)
    assert (december.tokens_expired, december.breakage_amount) == (600_000, Decimal(60))
    assert december.deferred_revenue_amount == 0
    # Every token sold is consumed, expired or deferred; so is every yuan.
    assert sum(m.tokens_consumed + m.tokens_expired for m in (october, november, december)) == (
        2 * MILLION
    )


def test_the_staff_console_shows_the_report_and_its_csv(client, staff_user, history):
    url = reverse("admin:billing_entitlemententry_report")
    page = client.get(url, {"first": "2026-10", "last": "2026-12"})
    assert page.status_code == 200
    assert "2026-11" in page.text and "¥60.00" in page.text and "¥25.00" in page.text
    download = client.get(url, {"first": "2026-10", "last": "2026-12", "format": "csv"})
    rows = b"".join(download.streaming_content).decode().lstrip("\ufeff").splitlines()
    assert rows[0].split(",") == reports.CSV_COLUMNS
    assert rows[2].split(",") == [
        "2026-11", "1", "1000000", "900000", "250000", "100.00", "0.00", "0.90", "25.00", "60.00"
    ]  # fmt: skip
    changelist = client.get(reverse("admin:billing_entitlemententry_changelist"))
    assert changelist.status_code == 200 and url in changelist.text


def test_a_credited_pack_purchase_is_counted_in_the_month_of_its_credit_note(world):  # noqa: F811
    top_up(world, "6000.00")
    purchase = sales.buy_pack(
        actor=buyer(world), organization=world.org, offer=domestic_pack(), from_balance=True
    )
    this_month = month_of(timezone.now())
    last_month = add_months(this_month, -1)
    sold_then = month_start(last_month) + timedelta(days=2)
    Entitlement.objects.filter(pk=purchase.entitlement_id).update(starts_at=sold_then)
    note = sales.credit_purchase(actor=Actor.system(), purchase=purchase, reason="refund")
    assert note.subtotal_amount == Decimal("-5000.00")  # nothing used: all of it

    sold, credited = reports.pack_report(last_month, this_month)
    assert (sold.packs_sold, sold.revenue_amount, sold.credited_amount) == (1, 5000, 0)
    assert (credited.packs_sold, credited.revenue_amount) == (0, 0)
    assert credited.credited_amount == Decimal("5000.00")
    assert credited.csv_row()[reports.CSV_COLUMNS.index("credited_amount")] == Decimal("5000.00")


def test_a_reversed_range_is_refused_at_its_field(client, staff_user, history):
    url = reverse("admin:billing_entitlemententry_report")
    page = client.get(url, {"first": "2026-12", "last": "2026-10"})
    assert page.status_code == 400
    assert page.context["form"].errors == {"last": ["Choose a month from the first month on."]}
    assert page.context["months"] == []
    bad = client.get(url, {"first": "2026-13", "last": "2026-10", "format": "csv"})
    assert bad.status_code == 400 and "first" in bad.context["form"].errors
