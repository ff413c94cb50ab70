"""Issues 9 and 21: every customer page, the public catalog and the sign-in and sign-up pages
on a desktop (1366x900) and a phone (375x812), in English and in Chinese: nothing wider than
the screen, and no serious or critical axe-core violation; the same for the billing pages of
an organization on the operator's consolidated bill.
Screenshots: $VAR_DIR/e2e-screenshots/<test>/ (docs/operations.md)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.permissions import Role
from billing.managed import settlement as settlements
from billing.metering import services as metering
from billing.packages import services as packages
from billing.packages.models import Offer, OfferTerms
from billing.sales import services as sales
from portal.periods import add_months, month_of, month_start
from projects import services
from tests.e2e.journey import (
    DESKTOP,
    MODEL,
    PHONE,
    accessibility_violations,
    horizontal_overflow,
    sign_in,
    table_overflow,
)
from tests.factories import (
    CatalogModelFactory,
    MembershipFactory,
    OrganizationFactory,
    PriceVersionFactory,
    UserFactory,
    VerifiedUserFactory,
    as_actor,
)

pytestmark = pytest.mark.browser

PUBLIC_PAGES = [
    "/",
    "/models/",
    f"/models/{MODEL}/",
    f"/models/compare/?models={MODEL}&models=qwen/qwen-max",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
]
CUSTOMER_PAGES = [
    "/",
    "/projects/",
    "/projects/new/",
    "{project}",
    "{project}keys/new/",
    "/keys/",
    "{key}",
    "/usage/",
    "/usage/calls/",
    "/organization/quotas/",
    "/organization/quotas/new/",
    "{quota}",
    "/organization/quotas/requests/",
    "/notifications/",
    "/billing/",
    "/billing/ledger/",
    "/organization/members/",
    "/organization/invitations/",
    "/organization/departments/",
    "/organization/departments/new/",
    "/organization/settings/",
    "/organization/audit/",
    "/organization/model-policies/",
    "/organization/webhooks/",
    "/organization/exports/",
    "/accounts/profile/",
]
# Pages whose tables fit a phone once their optional columns hide (docs/console.md): no
# sideways scrolling in the table's frame either.
NARROW_TABLE_PAGES = ["{project}", "/keys/", "/usage/calls/", "/billing/", "/billing/ledger/"]
# An organization on the operator's consolidated bill: its billing page and the bill.
CONSOLIDATED_PAGES = ["/billing/", "/billing/operator-bill/"]
viewports = pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
languages = pytest.mark.parametrize("language", ["en", "zh-hans"])


def walk(visitor, paths, narrow_tables=()) -> list[str]:
    """Visit each page; return what is wrong with them (all pages, not only the first)."""
    problems = []
    for path in paths:
        visitor.goto(path)
        visitor.step(path.strip("/").replace("/", "-") or "home")
        if (overflow := horizontal_overflow(visitor.page)) > 0:
            problems.append(f"{path}: {overflow}px wider than the screen")
        if path in narrow_tables and (overflow := table_overflow(visitor.page)) > 0:
            problems.append(f"{path}: a table {overflow}px wider than its frame")
        problems += [f"{path}: {v}" for v in accessibility_violations(visitor.page)]
    return problems


def visitor_in(journey, language, viewport):
    """A visitor on a fresh browser who chose `language` with the switcher."""
    visitor = journey(language, viewport=viewport)
    if language != "en":
        visitor.goto("/")
        visitor.choose_language()
    return visitor


@viewports
@languages
def test_pages_fit_the_screen_and_pass_axe(
    language, viewport, journey, customer_world, empty_cache
):
    visitor = visitor_in(journey, language, viewport)
    problems = walk(visitor, PUBLIC_PAGES)

    sign_in(visitor, "owner@acme.example")
    organization = customer_world["owner"].organization.name
    expect(visitor.page.get_by_role("heading", level=1)).to_have_text(organization)
    paths = [p.format(**customer_world) for p in CUSTOMER_PAGES]
    narrow = [p.format(**customer_world) for p in NARROW_TABLE_PAGES] if viewport == PHONE else []
    problems += walk(visitor, paths, narrow)
    assert not problems, "\n".join(problems)


@pytest.fixture
def consolidated_customer(transactional_db):
    """The owner of a postpaid organization on the operator's consolidated bill: last month's
    usage in a settlement (sent, not acknowledged yet), this month's so far, and a pack
    charged on the bill."""
    model = CatalogModelFactory(model_id=MODEL)
    PriceVersionFactory(model=model, effective_from=timezone.now() - timedelta(days=400))
    organization = OrganizationFactory(name="某市政务云", payment_mode="postpaid")
    owner = MembershipFactory(
        organization=organization, role=Role.OWNER,
        user=VerifiedUserFactory(email="owner@gov.example"),
    )  # fmt: skip
    settlements.set_consolidated_billing(
        actor=as_actor(UserFactory(is_staff=True)), organization=organization, enabled=True,
        operator_account_number="0571-88886666",
    )  # fmt: skip
    actor = as_actor(owner)
    project = services.create_project(actor=actor, name="Citizen hotline")
    key, _ = services.create_api_key(actor=actor, project=project, name="production")
    now = timezone.now()
    metering.ingest_usage(events=[
        {"request_id": f"gov-{n}", "key_id": key.public_id, "model": MODEL,
         "input_tokens": 600_000, "output_tokens": 200_000, "occurred_at": at.isoformat()}
        for n, at in enumerate([now, month_start(month_of(now)) - timedelta(hours=6)])
    ])  # fmt: skip
    metering.roll_up()
    settlements.build_settlement(month=add_months(month_of(now), -1))
    offer = Offer.objects.create(
        kind=Offer.Kind.PACK, name_en="Domestic models 100M", name_zh="国产模型 1 亿",
        is_published=True,
    )  # fmt: skip
    packages.save_terms(
        actor=actor,
        terms=OfferTerms(
            offer=offer, effective_from=now - timedelta(days=1), price_amount=Decimal(5000),
            token_amount=100_000_000, scope=OfferTerms.Scope.ALL, validity_days=365,
        ),
    )  # fmt: skip
    purchase = sales.buy_pack(actor=actor, organization=organization, offer=offer,
                              from_balance=False)  # fmt: skip
    return purchase.operator_charge


@viewports
@languages
def test_the_operator_bill_fits_the_screen_and_passes_axe(
    language, viewport, journey, consolidated_customer, empty_cache
):
    visitor = visitor_in(journey, language, viewport)
    sign_in(visitor, "owner@gov.example")
    expect(visitor.page.get_by_role("heading", level=1)).to_have_text("某市政务云")
    narrow = CONSOLIDATED_PAGES if viewport == PHONE else []
    problems = walk(visitor, CONSOLIDATED_PAGES, narrow)
    assert not problems, "\n".join(problems)
    # The bill as it should read: the settled month, this month so far, the pack's charge.
    main = visitor.page.locator("main")
    expect(main.get_by_text(visitor.t("Sent to the operator"), exact=True)).to_have_count(1)
    expect(main.get_by_text(visitor.t("So far, not settled yet"), exact=True)).to_have_count(1)
    expect(main.get_by_role("cell", name=consolidated_customer.description)).to_be_visible()
