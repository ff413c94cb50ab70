"""Issues 9 and 21: every customer page, the public catalog and the sign-in and sign-up pages
on a desktop (1366x900) and a phone (375x812), in English and in Chinese: nothing wider than
the screen, and no serious or critical axe-core violation.
Screenshots: $VAR_DIR/e2e-screenshots/<test>/ (docs/operations.md)."""

import pytest
from playwright.sync_api import expect

from tests.e2e.journey import (
    DESKTOP,
    MODEL,
    PHONE,
    accessibility_violations,
    horizontal_overflow,
    sign_in,
    table_overflow,
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


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_pages_fit_the_screen_and_pass_axe(
    language, viewport, journey, customer_world, empty_cache
):
    visitor = journey(language, viewport=viewport)
    if language != "en":
        visitor.goto("/")
        visitor.choose_language()
    problems = walk(visitor, PUBLIC_PAGES)

    sign_in(visitor, "owner@acme.example")
    organization = customer_world["owner"].organization.name
    expect(visitor.page.get_by_role("heading", level=1)).to_have_text(organization)
    paths = [p.format(**customer_world) for p in CUSTOMER_PAGES]
    narrow = [p.format(**customer_world) for p in NARROW_TABLE_PAGES] if viewport == PHONE else []
    problems += walk(visitor, paths, narrow)
    assert not problems, "\n".join(problems)
