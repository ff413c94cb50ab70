"""Issue 9: the main customer pages, the public catalog and the sign-in and sign-up pages at
a phone's width (375 CSS pixels), in English and in Chinese: nothing wider than the screen,
and no serious or critical axe-core violation. Screenshots: tests/e2e/screenshots/<test>/."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.audit_trail import Actor
from accounts.permissions import Role
from billing.invoicing import services as invoicing
from billing.metering import services as metering
from billing.quotas import services as quotas
from billing.quotas.models import Quota
from portal.periods import add_months, month_of, month_start
from projects import services
from tests.e2e.journey import PHONE, accessibility_violations, horizontal_overflow
from tests.factories import (
    CatalogModelFactory,
    DepartmentFactory,
    LedgerEntryFactory,
    MembershipFactory,
    PriceVersionFactory,
    ProviderFactory,
    VerifiedUserFactory,
    as_actor,
)

pytestmark = pytest.mark.browser

MODEL = "deepseek/deepseek-chat"
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
    "/usage/",
    "/organization/quotas/",
    "/organization/quotas/new/",
    "{quota}",
    "/notifications/",
    "/billing/",
    "/organization/members/",
    "/organization/invitations/",
    "/organization/departments/",
    "/organization/departments/new/",
    "/organization/settings/",
    "/organization/audit/",
    "/organization/model-policies/",
    "/organization/webhooks/",
    "/accounts/profile/",
]


@pytest.fixture
def customer_world(transactional_db):
    """An owner of an active organization with what fills the pages: a department, a project
    and its key, a top-up, usage this month and last month (rolled up), a department quota
    with an alert in the bell, and last month's issued invoice. Two priced models."""
    for slug, model_id in (("deepseek", MODEL), ("qwen", "qwen/qwen-max")):
        model = CatalogModelFactory(model_id=model_id, provider=ProviderFactory(slug=slug))
        PriceVersionFactory(model=model, effective_from=timezone.now() - timedelta(days=400))
    owner = MembershipFactory(role=Role.OWNER, user=VerifiedUserFactory(email="owner@acme.example"))
    organization = owner.organization
    department = DepartmentFactory(organization=organization, name="Platform", code="PLT")
    actor = as_actor(owner)
    project = services.create_project(actor=actor, name="Chatbot", department=department)
    key, _ = services.create_api_key(actor=actor, project=project, name="production")
    LedgerEntryFactory(organization=organization, amount=1000, reference="BANK-1")
    quotas.create_quota(
        actor=actor, scope=Quota.Scope.DEPARTMENT, target=department, metric="tokens",
        period="month", limit=100_000, thresholds=[50, 80, 100], on_exceed="alert",
    )  # fmt: skip
    now = timezone.now()
    last_month = add_months(month_of(now), -1)
    metering.ingest_usage(events=[
        {"request_id": f"req-{n}", "key_id": key.public_id, "model": MODEL,
         "input_tokens": 60_000, "output_tokens": 20_000, "occurred_at": at.isoformat()}
        for n, at in enumerate([now, month_start(month_of(now)) - timedelta(hours=6)])
    ])  # fmt: skip
    metering.roll_up()
    invoicing.issue_invoice(
        actor=Actor.system(),
        invoice=invoicing.close_month_for(organization=organization, month=last_month),
    )
    quota = Quota.objects.get(organization=organization)
    return {
        "owner": owner,
        "project": f"/projects/{project.public_id}/",
        "quota": f"/organization/quotas/{quota.public_id}/",
    }


def walk(visitor, paths) -> list[str]:
    """Visit each page; return what is wrong with them (all pages, not only the first)."""
    problems = []
    for path in paths:
        visitor.goto(path)
        visitor.step(path.strip("/").replace("/", "-") or "home")
        if (overflow := horizontal_overflow(visitor.page)) > 0:
            problems.append(f"{path}: {overflow}px wider than the phone")
        problems += [f"{path}: {v}" for v in accessibility_violations(visitor.page)]
    return problems


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_pages_fit_a_phone_and_pass_axe(language, journey, customer_world, empty_cache):
    visitor = journey(language, viewport=PHONE)
    if language != "en":
        visitor.goto("/")
        visitor.choose_language()
    problems = walk(visitor, PUBLIC_PAGES)

    visitor.goto("/accounts/login/")
    visitor.page.locator("input[name=login]").fill("owner@acme.example")
    visitor.page.locator("input[name=password]").fill("correct horse battery")
    visitor.press("Sign In")
    organization = customer_world["owner"].organization.name
    expect(visitor.page.get_by_role("heading", level=1)).to_have_text(organization)
    paths = [p.format(**customer_world) for p in CUSTOMER_PAGES]
    problems += walk(visitor, paths)
    assert not problems, "\n".join(problems)
