"""The plan page and API: offers, subscribing (balance, transfer), the current plan with its
allowance left and renewal, changing at the boundary, cancelling (refused in the commitment
with its date), who may do what, and nothing of another organization's."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.audit_trail import Actor
from billing.invoicing.models import Invoice
from billing.packages.models import Offer, Subscription
from billing.sales import plans
from tests.billing.metering_world import build_world
from tests.billing.plan_data import plan_offer, prepaid
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    return prepaid(build_world())


def test_the_plan_page_subscribes_shows_the_plan_and_cancels(client_of, world):
    offer = plan_offer(tokens=1_000_000, discount=10, commitment=2)
    small = plan_offer("100.00", tokens=100_000, name="Small")
    owner = client_of(world.members["owner"])
    page = owner.get(reverse("billing:plan")).content.decode()
    assert "Team" in page and "¥318.00 a month, VAT included" in page
    assert "1,000,000 tokens" in page and "10 % off your prices" in page
    subscribe = reverse("billing:plan-subscribe", args=[offer.public_id])
    assert owner.get(subscribe).status_code == 200
    done = owner.post(subscribe, {"pay": "balance"})
    assert done["Location"] == reverse("billing:plan")
    plan = owner.get(done["Location"])
    assert plan.context["plan"].allowance_left > 0
    text = plan.content.decode()
    assert "Renews automatically on" in text and "Cancel the renewal" in text
    packs = owner.get(reverse("billing:packs")).content.decode()
    assert "allowance left" in packs and "Renews automatically on" in packs  # the plan's card
    # Inside the commitment, cancelling is refused with the date it ends.
    refused = owner.post(reverse("billing:plan-renewal"), follow=True).content.decode()
    subscription = Subscription.objects.get()
    ends = timezone.localtime(subscription.commitment_ends_at).strftime("%Y-%m-%d")
    assert f"committed until {ends}" in refused
    assert Subscription.objects.get().auto_renew
    change = reverse("billing:plan-change", args=[small.public_id])
    assert owner.post(change, {"when": "next_period", "pay": "balance"}).status_code == 302
    assert Subscription.objects.get().next_terms.offer == small
    viewer = client_of(world.members["viewer"])  # no view_billing
    assert viewer.get(reverse("billing:plan")).status_code == 403
    assert viewer.post(reverse("billing:plan-renewal")).status_code == 403


def test_subscribing_by_transfer_leaves_the_fee_open_on_the_page(client_of, world):
    offer = plan_offer(tokens=1_000_000)
    owner = client_of(world.members["owner"])
    owner.post(reverse("billing:plan-subscribe", args=[offer.public_id]), {"pay": "transfer"})
    invoice = Invoice.objects.get(kind="purchase")
    assert invoice.status == Invoice.Status.ISSUED
    page = owner.get(reverse("billing:plan")).content.decode()
    assert invoice.number in page and "Waiting for payment" in page


def test_the_api_subscribes_reads_changes_and_cancels(client_of, world):
    offer = plan_offer(tokens=1_000_000)
    bigger = plan_offer("900.00", tokens=4_000_000, name="Big")
    api = client_of(world.members["owner"])
    assert api.get("/api/v1/billing/plan").status_code == 404
    listed = api.get("/api/v1/billing/plan/offers").json()
    assert {row["id"] for row in listed} == {offer.public_id, bigger.public_id}
    wrong = api.post(
        "/api/v1/billing/plan/subscribe",
        {"offer": "ofr_nosuchoffer", "pay_from_balance": True},
        content_type="application/json",
    )
    assert wrong.status_code == 400
    assert list(wrong.json()["error"]["fields"]) == ["offer"]
    made = api.post(
        "/api/v1/billing/plan/subscribe",
        {"offer": offer.public_id, "pay_from_balance": True},
        content_type="application/json",
    )
    assert made.status_code == 201
    body = made.json()
    assert body["offer"] == offer.public_id and body["auto_renew"] is True
    assert Decimal(body["allowance_left"]) > 0 and body["open_fees"] == []
    changed = api.post(
        "/api/v1/billing/plan/change",
        {"offer": bigger.public_id, "when": "next_period", "pay_from_balance": False},
        content_type="application/json",
    )
    assert changed.json()["next_offer"] == bigger.public_id
    cancelled = api.post(
        "/api/v1/billing/plan/renewal", {"auto_renew": False}, content_type="application/json"
    )
    assert cancelled.json()["renews_at"] is None


def test_another_organization_sees_no_named_plan(client_of, world):
    offer = plan_offer(tokens=1_000_000, visibility=Offer.Visibility.NAMED)
    offer.offered_to.add(world.org)
    other = build_world(OrganizationFactory())
    stranger = client_of(other.members["owner"])
    assert "Team" not in stranger.get(reverse("billing:plan")).content.decode()
    subscribe = reverse("billing:plan-subscribe", args=[offer.public_id])
    assert stranger.get(subscribe).status_code == 404
    assert stranger.get("/api/v1/billing/plan/offers").json() == []


def test_staff_see_subscriptions_with_their_fees_and_allowances(client, staff_user, world):
    offer = plan_offer(tokens=1_000_000)
    owner = world.members["owner"]
    subscription = plans.subscribe(
        actor=Actor(user=owner.user, membership=owner),
        organization=world.org,
        offer=offer,
        from_balance=True,
    )
    listing = client.get(reverse("admin:billing_subscription_changelist")).content.decode()
    assert world.org.name in listing
    page = client.get(reverse("admin:billing_subscription_change", args=[subscription.pk]))
    text = page.content.decode()
    assert Invoice.objects.get(kind="purchase").number in text
    assert f"plan:{subscription.public_id}:" in text
