"""Ending a plan early: a period's fee invoice voided unpaid ends the plan at that period's
start (the first: no allowance ever), an upgrade's voided drops the upgrade; refused while a
later period is paid. Staff in the console end a plan now (its allowance ends, its open fees
are voided) or set its renewal, inside a commitment too; each audited, the customer told."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.audit_trail import Actor
from accounts.models import AuditEvent
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice
from billing.packages import plans
from billing.packages.models import Entitlement, EntitlementEntry, Subscription
from billing.sales import plans as sales_plans
from billing.sales.models import PlanFee
from notifications.models import Notification
from portal.periods import month_of
from tests.billing.metering_world import build_world
from tests.billing.plan_data import plan_offer, prepaid
from tests.factories import as_actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    return prepaid(build_world())


def postpaid(world):
    world.org.payment_mode = "postpaid"
    world.org.save()
    return world


def subscribe(world, offer=None, from_balance=False):
    return sales_plans.subscribe(
        actor=as_actor(world.members["owner"]),
        organization=world.org,
        offer=offer or plan_offer("300.00", tokens=1_000_000),
        from_balance=from_balance,
    )


def void(fee, reason="Never paid"):
    return invoicing.void_invoice(actor=Actor.system(), invoice=fee.invoice, reason=reason)


def pay(fee, reference):
    invoicing.record_payment(
        actor=Actor.system(),
        organization=fee.organization,
        amount=fee.invoice.total_amount,
        provider="bank",
        reference=reference,
        invoice=fee.invoice,
    )


def notices(event_type):
    return list(Notification.objects.filter(event_type=event_type))


def test_voiding_the_first_fee_ends_the_plan_with_no_allowance_ever(world):
    subscription = subscribe(postpaid(world))
    void(PlanFee.objects.get(subscription=subscription))
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ENDED
    assert subscription.ended_at == subscription.started_at
    plans.roll(subscription.current_period_end + timedelta(minutes=5))
    assert not Entitlement.objects.filter(source="plan").exists()
    assert PlanFee.objects.filter(subscription=subscription).count() == 1  # no renewal
    event = AuditEvent.objects.get(action="packages.plan_ended")
    assert event.changes["after"]["invoice"] == PlanFee.objects.get().invoice.number
    assert notices("plan.ended")
    assert "voided unpaid" in str(notices("plan.ended")[0].message)
    subscribe(world)  # the organization may subscribe again


def test_voiding_a_renewal_ends_the_plan_at_that_period_and_its_later_fees(world):
    subscription = subscribe(postpaid(world))
    first = PlanFee.objects.get(subscription=subscription)
    pay(first, "tx-1")
    boundary = subscription.current_period_end
    plans.roll(boundary + timedelta(minutes=5))
    renewal = PlanFee.objects.get(subscription=subscription, period_start=boundary)
    assert renewal.invoice.status == Invoice.Status.ISSUED
    void(renewal)
    subscription.refresh_from_db()
    assert (subscription.status, subscription.ended_at) == (Subscription.Status.ENDED, boundary)
    [allowance] = Entitlement.objects.filter(source="plan")  # the paid first month's only
    assert allowance.expires_at == boundary
    first.invoice.refresh_from_db()
    assert first.invoice.status == Invoice.Status.PAID


def test_voiding_an_earlier_fee_voids_the_later_open_ones_too(world):
    subscription = subscribe(postpaid(world))
    plans.roll(subscription.current_period_end + timedelta(minutes=5))
    first, renewal = PlanFee.objects.filter(subscription=subscription).order_by("period_start")
    void(first, "Customer walked away")
    renewal.invoice.refresh_from_db()
    assert renewal.invoice.status == Invoice.Status.VOID
    assert renewal.invoice.void_reason == "Customer walked away"
    assert Subscription.objects.get().ended_at == subscription.started_at


def test_voiding_a_fee_is_refused_while_a_later_period_is_paid(world):
    subscription = subscribe(postpaid(world))
    plans.roll(subscription.current_period_end + timedelta(minutes=5))
    first, renewal = PlanFee.objects.filter(subscription=subscription).order_by("period_start")
    pay(renewal, "tx-2")
    with pytest.raises(ValidationError, match="later fee period"):
        void(first)
    first.invoice.refresh_from_db()
    assert first.invoice.status == Invoice.Status.ISSUED
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE


def test_voiding_an_upgrade_fee_drops_the_upgrade(world):
    subscription = subscribe(world, from_balance=True)
    big = plan_offer("900.00", tokens=4_000_000, name="Big")
    fee = sales_plans.upgrade_now(
        actor=as_actor(world.members["owner"]), subscription=subscription, offer=big,
        from_balance=False,
    )  # fmt: skip
    void(fee)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.offer.name_en == "Team"
    assert subscription.terms.token_amount == 1_000_000
    assert not Entitlement.objects.filter(reference__contains=":up").exists()
    assert AuditEvent.objects.filter(action="packages.plan_upgrade_dropped").count() == 1
    [notice] = notices("plan.changed")
    assert "Big" in str(notice.message) and "Team" in str(notice.message)


def test_staff_end_a_plan_now_in_the_console(client, staff_user, world):
    subscription = subscribe(world, from_balance=True)
    big = plan_offer("900.00", tokens=4_000_000, name="Big")
    upgrade = sales_plans.upgrade_now(
        actor=as_actor(world.members["owner"]), subscription=subscription, offer=big,
        from_balance=False,
    )  # fmt: skip
    page = client.get(reverse("admin:billing_subscription_change", args=[subscription.pk]))
    end_url = reverse("admin:billing_subscription_end", args=[subscription.pk])
    assert end_url in page.content.decode()
    assert client.post(end_url, {}).status_code == 200  # a reason is required
    response = client.post(end_url, {"reason": "Contract terminated"})
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ENDED
    assert not subscription.auto_renew
    [allowance] = Entitlement.objects.filter(source="plan")
    assert allowance.status == Entitlement.Status.EXPIRED
    assert allowance.expires_at == subscription.ended_at
    expiry = EntitlementEntry.objects.get(entitlement=allowance, kind="expiry")
    assert expiry.units == -allowance.granted  # nothing used: all of it is breakage
    upgrade.invoice.refresh_from_db()
    assert (upgrade.invoice.status, upgrade.invoice.void_reason) == ("void", "Contract terminated")
    assert not notices("plan.changed")  # the end says it all
    event = AuditEvent.objects.get(action="packages.plan_ended")
    assert event.actor == staff_user
    assert event.changes["after"]["reason"] == "Contract terminated"
    assert "ended by the platform" in str(notices("plan.ended")[0].message)
    again = client.post(end_url, {"reason": "Twice"})
    assert "This plan has ended." in again.content.decode()


def test_staff_set_the_renewal_inside_a_commitment(client, staff_user, world):
    subscription = subscribe(world, plan_offer(tokens=1000, commitment=3), from_balance=True)
    with pytest.raises(ValidationError):  # the customer may not
        plans.set_auto_renew(
            actor=as_actor(world.members["owner"]), subscription=subscription, auto_renew=False
        )
    url = reverse("admin:billing_subscription_renewal", args=[subscription.pk])
    assert client.post(url, {"auto_renew": ""}).status_code == 302
    subscription.refresh_from_db()
    assert not subscription.auto_renew
    assert "will not renew" in str(notices("plan.changed")[0].message)
    assert client.post(url, {"auto_renew": "1"}).status_code == 302
    subscription.refresh_from_db()
    assert subscription.auto_renew
    changes = AuditEvent.objects.filter(action="packages.plan_auto_renew").order_by("pk")
    assert [e.changes["after"] for e in changes] == [
        {"auto_renew": False, "by_staff": True},
        {"auto_renew": True, "by_staff": True},
    ]
    plans.roll(subscription.current_period_end + timedelta(minutes=5))
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE


def test_the_console_actions_need_the_change_permission(client, world):
    from tests.accounts.signin import sign_in, totp_code, totp_set_up_earlier, verified_user

    subscription = subscribe(world, from_balance=True)
    viewer = verified_user("viewer@example.com", is_staff=True)
    sign_in(client, viewer.email, code=totp_code(totp_set_up_earlier(viewer)))
    url = reverse("admin:billing_subscription_end", args=[subscription.pk])
    assert client.post(url, {"reason": "No"}).status_code == 403
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE
    assert Decimal(0) < Entitlement.objects.get(source="plan").granted


def test_an_upgrade_unpaid_when_its_period_ends_is_voided_at_the_renewal(world):
    # Paid later, it would move the renewed period (invoiced at the old fee) to the dearer
    # terms: the renewal's payment would then grant the dearer allowance for the old fee.
    subscription = subscribe(postpaid(world))
    pay(PlanFee.objects.get(subscription=subscription), "tx-1")
    big = plan_offer("900.00", tokens=4_000_000, name="Big")
    upgrade = sales_plans.upgrade_now(
        actor=as_actor(world.members["owner"]), subscription=subscription, offer=big,
        from_balance=False,
    )  # fmt: skip
    boundary = subscription.current_period_end
    plans.roll(boundary + timedelta(minutes=5))
    upgrade.invoice.refresh_from_db()
    assert upgrade.invoice.status == Invoice.Status.VOID
    assert AuditEvent.objects.filter(action="packages.plan_upgrade_dropped").count() == 1
    renewal = PlanFee.objects.get(subscription=subscription, period_start=boundary)
    assert renewal.invoice.subtotal_amount == Decimal("300.00")
    pay(upgrade, "tx-late")  # stays on the balance: a void invoice delivers nothing
    pay(renewal, "tx-2")
    plans.roll(boundary + timedelta(minutes=10))
    subscription.refresh_from_db()
    assert subscription.offer.name_en == "Team"
    allowance = Entitlement.objects.get(reference=plans.allowance_reference(
        subscription, month_of(boundary)))  # fmt: skip
    assert allowance.granted == 1_000_000  # Team's, as its fee


def test_an_upgrade_unpaid_when_the_plan_ends_at_its_period_end_is_voided(world):
    # Otherwise it stays due (and dunned) for an upgrade of a plan that is over.
    subscription = subscribe(postpaid(world))
    pay(PlanFee.objects.get(subscription=subscription), "tx-1")
    upgrade = sales_plans.upgrade_now(
        actor=as_actor(world.members["owner"]), subscription=subscription,
        offer=plan_offer("900.00", tokens=4_000_000, name="Big"), from_balance=False,
    )  # fmt: skip
    plans.set_auto_renew(
        actor=as_actor(world.members["owner"]), subscription=subscription, auto_renew=False
    )
    plans.roll(subscription.current_period_end + timedelta(minutes=5))
    subscription.refresh_from_db()
    upgrade.invoice.refresh_from_db()
    assert subscription.status == Subscription.Status.ENDED
    assert upgrade.invoice.status == Invoice.Status.VOID
