"""Issue 23's plans in Chromium on a phone: a billing member finds Plan in the side navigation,
reads the plan offered, subscribes from the prepaid balance, sees the plan with this month's
allowance and its renewal date, and cancels the renewal (axe-checked at every step, nothing
wider than the screen)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.audit_trail import Actor
from accounts.permissions import Role
from billing.packages import services as packages
from billing.packages.models import Offer, OfferTerms, Subscription
from tests.e2e.journey import PHONE, horizontal_overflow, sign_in
from tests.factories import LedgerEntryFactory, MembershipFactory, VerifiedUserFactory

pytestmark = pytest.mark.browser


def test_subscribe_to_a_plan_and_cancel_its_renewal(journey, transactional_db):
    member = MembershipFactory(
        role=Role.BILLING, user=VerifiedUserFactory(email="plans@acme.example")
    )
    member.organization.payment_mode = "prepaid"
    member.organization.save()
    LedgerEntryFactory(organization=member.organization, kind="top_up", amount=Decimal(1000))
    offer = Offer.objects.create(
        kind=Offer.Kind.PLAN, name_en="Team", name_zh="团队版", is_published=True
    )
    packages.save_terms(
        actor=Actor.system(),
        terms=OfferTerms(
            offer=offer, effective_from=timezone.now() - timedelta(days=1),
            price_amount=Decimal("300.00"), token_amount=10_000_000, scope=OfferTerms.Scope.ALL,
            period=OfferTerms.Period.MONTH, overage_discount_percent=Decimal(10),
        ),
    )  # fmt: skip
    visitor = journey("en", viewport=PHONE, audit=True)
    page = visitor.page
    sign_in(visitor, "plans@acme.example")
    page.locator(".topbar .menu-button").click()
    page.locator("#sidenav").get_by_role("link", name="Plan", exact=True).click()
    visitor.heading("Plan")
    offered = page.get_by_role("article", name="Team")
    expect(offered).to_contain_text("¥318.00 a month, VAT included")
    expect(offered).to_contain_text("10,000,000 tokens")
    assert horizontal_overflow(page) <= 0
    visitor.step("the plans offered")
    offered.get_by_role("link", name="Subscribe").click()
    page.get_by_label("Now, from the prepaid balance").check()
    visitor.step("the subscription form")
    visitor.press("Subscribe")
    visitor.heading("Plan")
    expect(page.get_by_text("Your plan has started")).to_be_visible()
    expect(page.get_by_text("Renews automatically on")).to_be_visible()
    assert horizontal_overflow(page) <= 0
    visitor.step("the plan")
    visitor.press("Cancel the renewal")
    expect(page.get_by_text("Your plan ends at the end of its current period.")).to_be_visible()
    visitor.step("renewal cancelled")
    assert not Subscription.objects.get().auto_renew
