"""Issue 23 in Chromium: a billing member finds Token packs in the side navigation, reads the
domestic-models pack's terms, buys it from the prepaid balance and allocates it to a
department on the pack's page (axe-checked at every step)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.audit_trail import Actor
from accounts.permissions import Role
from billing.packages import services as packages
from billing.packages.models import Entitlement, Offer, OfferTerms
from tests.e2e.journey import sign_in
from tests.factories import (
    DepartmentFactory,
    LedgerEntryFactory,
    MembershipFactory,
    VerifiedUserFactory,
)

pytestmark = pytest.mark.browser


def test_buy_a_pack_with_the_balance_and_allocate_it(journey, transactional_db):
    member = MembershipFactory(
        role=Role.BILLING, user=VerifiedUserFactory(email="packs@acme.example")
    )
    department = DepartmentFactory(organization=member.organization, name="Research", code="R")
    LedgerEntryFactory(organization=member.organization, kind="top_up", amount=Decimal(6000))
    offer = Offer.objects.create(
        kind=Offer.Kind.PACK, name_en="Domestic models 100M", name_zh="国产模型 1 亿",
        is_published=True,
    )  # fmt: skip
    packages.save_terms(
        actor=Actor.system(),
        terms=OfferTerms(
            offer=offer, effective_from=timezone.now() - timedelta(days=1),
            price_amount=Decimal("5000.00"), token_amount=100_000_000,
            scope=OfferTerms.Scope.REGION, scope_region="cn", validity_days=365,
        ),
    )  # fmt: skip
    visitor = journey("en", audit=True)
    sign_in(visitor, "packs@acme.example")
    visitor.goto("/billing/")
    visitor.page.get_by_role("navigation").get_by_role("link", name="Token packs").click()
    visitor.heading("Token packs")
    offered = visitor.page.get_by_role("article", name="Domestic models 100M")
    expect(offered).to_contain_text("Domestic models")
    expect(offered).to_contain_text("¥5,300.00 with VAT")
    visitor.step("the packs offered")
    offered.get_by_role("link", name="Buy").click()
    visitor.page.get_by_label("Now, from the prepaid balance").check()
    visitor.step("the purchase form")
    visitor.press("Buy")
    expect(visitor.page.get_by_role("heading", level=1)).to_have_text("Domestic models 100M")
    expect(visitor.page.get_by_text("100,000,000 / 100,000,000")).to_be_visible()
    visitor.step("the pack")
    visitor.page.get_by_label("Allocated to").select_option(label="Research")
    visitor.press("Save")
    expect(
        visitor.page.get_by_text("Keys of Research and the departments below it")
    ).to_be_visible()
    visitor.step("allocated")
    assert Entitlement.objects.get().department == department
