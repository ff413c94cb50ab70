"""The overview in a browser, with a month of figures: the chart draws, the figures fit a
phone and a desktop, axe-core finds nothing serious, and "Create API key" leads to the key
form. Screenshots: $VAR_DIR/e2e-screenshots/<test>/ (docs/operations.md)."""

import re
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.permissions import Role
from billing.metering import services as metering
from billing.quotas import services as quotas
from portal import periods
from tests.billing.metering_world import build_world
from tests.e2e.journey import DESKTOP, PHONE, horizontal_overflow, sign_in
from tests.factories import (
    LedgerEntryFactory,
    MembershipFactory,
    UsageRollupFactory,
    VerifiedUserFactory,
    as_actor,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def busy_owner(transactional_db, empty_cache):
    """An owner (signs in as owner@overview.example) of an organization with usage this
    month and last month, a monthly cap, a department quota and money on its balance."""
    owner = MembershipFactory(
        role=Role.OWNER, user=VerifiedUserFactory(email="owner@overview.example")
    )
    world = build_world(owner.organization)
    quotas.create_quota(
        actor=as_actor(owner), scope="organization", metric="money", period="month",
        limit=Decimal(50), thresholds=[5],
    )  # fmt: skip
    quotas.create_quota(
        actor=as_actor(owner), scope="department", target=world.deps["A"], metric="tokens",
        period="month", limit=Decimal(3_000_000),
    )  # fmt: skip
    LedgerEntryFactory(organization=world.org, amount=Decimal(12_345))
    now = timezone.now()
    at = max(periods.month_start(periods.month_of(now)), now - timedelta(hours=1))
    metering.ingest_usage(
        events=[
            world.event(key="a", at=at, input_tokens=2_000_000, output_tokens=100_000),
            world.event(key="b", model="chat-2", at=at, input_tokens=500_000),
        ]
    )
    last = periods.month_start(periods.add_months(periods.month_of(now), -1))
    for day in range(0, 28, 3):
        UsageRollupFactory(
            hour=(last + timedelta(days=day)).astimezone(UTC), api_key=world.keys["a"],
            model=world.models["chat-1"], cost_amount=Decimal(day + 1),
        )  # fmt: skip
    return owner


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_overview_draws_its_chart_fits_the_screen_and_leads_to_a_new_key(
    viewport, journey, busy_owner
):
    visitor = journey(viewport=viewport, audit=True)
    sign_in(visitor, "owner@overview.example")
    page = visitor.page
    expect(page.get_by_role("heading", level=1)).to_have_text(busy_owner.organization.name)
    expect(page.locator("#overview-chart canvas")).to_have_count(1)
    main = page.locator("main")
    expect(main).to_contain_text("¥12,")  # the balance, in the one money format
    expect(main).to_contain_text("Monthly cap")
    expect(main.locator("progress").first).to_be_visible()
    visitor.step("overview")
    assert horizontal_overflow(page) == 0
    main.get_by_role("link", name="Create API key").click()
    expect(page).to_have_url(re.compile(r"/projects/prj_\w+/keys/new/$"))
    expect(page.locator("main form")).to_be_visible()
    visitor.step("create-key")


def test_usage_history_picks_a_range_and_compares_it(journey, busy_owner):
    visitor = journey(viewport=DESKTOP, audit=True)
    sign_in(visitor, "owner@overview.example")
    visitor.goto("/usage/")
    page = visitor.page
    last = periods.add_months(periods.month_of(timezone.now()), -1)
    page.locator("#usage-month").fill(f"{last:%Y-%m}")
    page.get_by_role("button", name="Show month").click()
    expect(page).to_have_url(re.compile(rf"month={last:%Y-%m}"))
    expect(page.locator("main")).to_contain_text("Compared with the same length of time before")
    expect(page.locator("#usage-chart canvas")).to_have_count(1)
    visitor.step("usage-month")
    page.locator("#usage-start").fill(f"{last:%Y-%m}-05")
    page.locator("#usage-end").fill(f"{last:%Y-%m}-20")
    page.get_by_role("button", name="Show days").click()
    expect(page).to_have_url(re.compile(rf"start={last:%Y-%m}-05&end={last:%Y-%m}-20"))
    csv_link = page.locator("main a", has_text="Download CSV").first
    expect(csv_link).to_have_attribute("href", re.compile(rf"start={last:%Y-%m}-05"))
    visitor.step("usage-days")
