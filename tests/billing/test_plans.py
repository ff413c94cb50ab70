"""Plans: the first fee period and allowance pro rata, one allowance per month however often
the roll runs, the old month's allowance expired (breakage), renewal notices once, renewal
or end at the period's end, commitment, a change at the boundary, and the upgrade figures."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from accounts.audit_trail import Actor
from billing.packages import plans, tasks
from billing.packages import services as packages
from billing.packages.models import Entitlement, EntitlementEntry, Offer, OfferTerms, Subscription
from billing.packages.services import unreconciled_entitlements
from notifications.models import Notification
from portal.celery import app as celery_app
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# November 2026 has 30 days: subscribing on the 16th at 00:00 leaves exactly half of it.
MID_NOVEMBER = datetime(2026, 11, 16, tzinfo=SHANGHAI)
DECEMBER = datetime(2026, 12, 1, tzinfo=SHANGHAI)
JANUARY = datetime(2027, 1, 1, tzinfo=SHANGHAI)


def plan(price, *, tokens=None, credit=None, period="month", commitment=0, discount=0, name="Team"):
    offer = Offer.objects.create(
        kind=Offer.Kind.PLAN, name_en=name, name_zh=name, is_published=True
    )
    terms = OfferTerms(
        offer=offer,
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        price_amount=Decimal(price),
        token_amount=tokens,
        credit_amount=credit,
        scope=OfferTerms.Scope.ALL,
        period=period,
        commitment_months=commitment,
        overage_discount_percent=Decimal(discount),
        renewal_notice_days=7,
    )
    packages.save_terms(actor=Actor.system(), terms=terms)
    return offer


@pytest.fixture
def org(db):
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, role="billing")
    return organization


def subscribe(org, offer, at=MID_NOVEMBER, paid=True):
    subscription = plans.open_subscription(
        actor=Actor.system(), organization=org, offer=offer, at=at
    )
    if paid:
        plans.fee_paid(subscription, until=subscription.current_period_end, now=at)
    subscription.refresh_from_db()
    return subscription


def allowances(org):
    return list(Entitlement.objects.for_org(org).filter(source="plan").order_by("starts_at"))


def test_the_first_period_runs_to_the_month_end_at_its_share_of_the_fee(org):
    offer = plan("300.00", tokens=1_000_000)
    terms = offer.terms.get()
    subscription = subscribe(org, offer, paid=False)
    assert subscription.current_period_end == DECEMBER
    assert plans.fee_amount(terms, MID_NOVEMBER, DECEMBER) == Decimal("150.00")
    assert plans.fee_amount(terms, DECEMBER, JANUARY) == Decimal("300.00")
    # Not paid yet: no allowance.
    plans.roll(MID_NOVEMBER + timedelta(hours=1))
    assert allowances(org) == []


def test_an_annual_plan_is_billed_for_the_year_and_grants_monthly(org):
    offer = plan("1200.00", tokens=100_000, period="year")
    terms = offer.terms.get()
    subscription = subscribe(org, offer, at=DECEMBER)
    assert subscription.current_period_end == datetime(2027, 12, 1, tzinfo=SHANGHAI)
    assert plans.fee_amount(terms, DECEMBER, subscription.current_period_end) == Decimal("1200.00")
    [december] = allowances(org)
    assert (december.granted, december.expires_at, december.price_amount) == (
        100_000,
        JANUARY,
        Decimal("100.00"),
    )
    plans.roll(JANUARY + timedelta(hours=1))
    assert [a.granted for a in allowances(org)] == [100_000, 100_000]


def test_one_allowance_a_month_the_old_one_expires_as_breakage(org):
    subscription = subscribe(org, plan("300.00", tokens=1_000_000))
    [november] = allowances(org)
    # Half of November left: half the tokens, valued at half the monthly fee.
    assert (november.granted, november.price_amount) == (500_000, Decimal("150.00"))
    assert november.reference == f"plan:{subscription.public_id}:2026-11"
    plans.roll(MID_NOVEMBER + timedelta(days=1))
    plans.roll(MID_NOVEMBER + timedelta(days=2))
    assert len(allowances(org)) == 1
    # December: paid through the renewal (here directly) and rolled twice.
    plans.roll(DECEMBER + timedelta(minutes=5))
    subscription.refresh_from_db()
    plans.fee_paid(subscription, until=subscription.current_period_end, now=DECEMBER)
    plans.roll(DECEMBER + timedelta(minutes=10))
    november.refresh_from_db()
    assert november.status == Entitlement.Status.EXPIRED
    expiry = EntitlementEntry.objects.get(entitlement=november, kind="expiry")
    assert (expiry.units, expiry.value_amount) == (-500_000, Decimal("150.00"))
    [_, december] = allowances(org)
    assert (december.granted, december.starts_at, december.expires_at) == (
        1_000_000,
        DECEMBER,
        JANUARY,
    )
    assert unreconciled_entitlements() == []


def test_the_renewal_notice_goes_out_once_and_the_plan_renews(org):
    subscription = subscribe(org, plan("300.00", tokens=1_000_000))
    invoiced = []
    plans.add_fee_invoicer(lambda s, now: invoiced.append((s.pk, s.current_period_start)))
    try:
        plans.roll(DECEMBER - timedelta(days=8))
        assert not Notification.objects.filter(event_type="plan.renewing").exists()
        plans.roll(DECEMBER - timedelta(days=6))
        plans.roll(DECEMBER - timedelta(days=5))
        [notice] = Notification.objects.filter(event_type="plan.renewing")
        assert "¥318.00" in str(notice.message)  # 300 + 6 % VAT
        plans.roll(DECEMBER + timedelta(hours=1))
        plans.roll(DECEMBER + timedelta(hours=2))
    finally:
        plans._fee_invoicers.pop()
    subscription.refresh_from_db()
    assert (subscription.current_period_start, subscription.current_period_end) == (
        DECEMBER,
        JANUARY,
    )
    assert invoiced == [(subscription.pk, DECEMBER)]


def test_cancel_within_the_commitment_is_refused_and_a_cancelled_plan_ends(org):
    subscription = subscribe(org, plan("300.00", tokens=1000, commitment=2))
    # Two months counted as fee periods are: the partial November, then December.
    assert subscription.commitment_ends_at == JANUARY
    with pytest.raises(ValidationError) as refused:
        plans.set_auto_renew(actor=Actor.system(), subscription=subscription, auto_renew=False)
    assert "2027-01-01" in str(refused.value.message_dict["auto_renew"])
    plans.roll(DECEMBER + timedelta(hours=1))
    subscription.refresh_from_db()
    assert subscription.current_period_end == JANUARY  # the last committed period
    plans.set_auto_renew(actor=Actor.system(), subscription=subscription, auto_renew=False)
    plans.roll(JANUARY + timedelta(hours=1))
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ENDED
    assert subscription.ended_at == JANUARY
    # The organization may subscribe again; a year's commitment on an annual plan ends with
    # its first period, so its renewal may be cancelled at once.
    annual = plans.open_subscription(
        actor=Actor.system(),
        organization=org,
        offer=plan("1200.00", tokens=1000, period="year", commitment=12, name="Annual"),
        at=JANUARY + timedelta(days=9),
    )
    assert annual.commitment_ends_at == annual.current_period_end
    plans.set_auto_renew(actor=Actor.system(), subscription=annual, auto_renew=False)


def test_one_plan_per_organization(org):
    offer = plan("300.00", tokens=1000)
    subscribe(org, offer)
    with pytest.raises(ValidationError) as refused:
        plans.open_subscription(actor=Actor.system(), organization=org, offer=offer, at=DECEMBER)
    assert "offer" in refused.value.message_dict


def test_a_downgrade_waits_for_the_boundary(org):
    subscription = subscribe(org, plan("300.00", tokens=1_000_000, discount=20))
    small = plan("100.00", tokens=200_000, name="Small")
    plans.schedule_change(actor=Actor.system(), subscription=subscription, offer=small)
    subscription.refresh_from_db()
    assert subscription.offer.name_en == "Team"  # the running period keeps its terms
    assert subscription.terms.overage_discount_percent == 20
    plans.roll(DECEMBER + timedelta(hours=1))
    subscription.refresh_from_db()
    assert (subscription.offer, subscription.next_terms) == (small, None)
    assert subscription.terms.token_amount == 200_000


def test_upgrade_now_charges_the_fee_difference_for_the_time_left(org):
    subscription = subscribe(org, plan("300.00", tokens=1_000_000))
    big = plan("900.00", tokens=4_000_000, name="Big").terms.get()
    # On 23 November at 12:00, 7.5 of November's 30 days are left: a quarter of the period.
    at = datetime(2026, 11, 23, 12, tzinfo=SHANGHAI)
    fee, extra = plans.upgrade_figures(subscription, big, at)
    assert fee == Decimal("150.00")  # (900 - 300) x 1/4
    assert extra == Decimal(750_000)  # (4,000,000 - 1,000,000) x 1/4
    plans.apply_upgrade(subscription, terms=big, at=at, extra=extra)
    subscription.refresh_from_db()
    assert subscription.terms == big
    top_up = Entitlement.objects.get(reference__endswith=f":up{big.pk}")
    assert (top_up.granted, top_up.starts_at, top_up.expires_at) == (750_000, at, DECEMBER)
    assert top_up.price_amount == Decimal("150.00")
    cheaper = plan("100.00", tokens=10, name="Cheap").terms.get()
    with pytest.raises(ValidationError):
        plans.upgrade_figures(subscription, cheaper, at)


def test_beat_runs_the_plan_roll(settings):
    celery_app.loader.import_default_modules()
    task = settings.CELERY_BEAT_SCHEDULE["plans"]["task"]
    assert celery_app.tasks[task].name == tasks.roll_plans.name == task


def test_a_plan_that_cannot_renew_is_left_for_staff_and_the_others_roll(org, caplog):
    broken = subscribe(org, plan("300.00", tokens=1000))
    other = OrganizationFactory()
    fine = subscribe(other, plan("100.00", tokens=1000, name="Fine"))
    Offer.objects.filter(pk=broken.offer_id).update(kind=Offer.Kind.PACK)  # no longer a plan
    plans.roll(DECEMBER + timedelta(hours=1))
    broken.refresh_from_db()
    fine.refresh_from_db()
    assert broken.current_period_end == DECEMBER  # untouched, logged
    assert fine.current_period_end == JANUARY
    assert f"subscription {broken.pk} left as it is" in caplog.text
