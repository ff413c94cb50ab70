"""Browser fixtures: Playwright (Python) driving Debian's Chromium against pytest-django's
live server. Without /usr/bin/chromium or node_modules/axe-core (make test installs it) the
browser tests fail rather than skip: CI has both."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import sync_playwright

from accounts.audit_trail import Actor
from accounts.permissions import Role
from billing.invoicing import services as invoicing
from billing.metering import services as metering
from billing.quotas import services as quotas
from billing.quotas.models import Quota
from portal.periods import add_months, month_of, month_start
from projects import services
from tests.e2e.journey import AXE, CHROMIUM, CHROMIUM_ARGS, MODEL, Journey, folder_for
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


@pytest.fixture
def chromium(monkeypatch):
    """Debian's Chromium, launched for one test: Playwright's sync API keeps an event loop
    in this thread while it runs, which Django's async-safety check would see in every later
    test of the session."""
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: apt-get install chromium"
    assert AXE.exists(), f"{AXE} is missing: npm ci (make test does it)"
    # Django refuses ORM calls from a thread with a running event loop unless told that it is
    # safe: it is, the loop only drives the browser.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def journey(request, chromium, live_server):
    """journey(language="en", viewport=None, audit=False) -> a Journey on a fresh browser
    context (its own cookies: one per user). Screenshots of all of them go to one folder per
    test; `audit` runs axe-core at every step."""
    folder = folder_for(request.node.name)
    counter = [0]
    contexts, journeys = [], []

    def open_journey(language="en", viewport=None, audit=False):
        context = chromium.new_context(
            base_url=live_server.url,
            locale="zh-CN" if language == "zh-hans" else "en-US",
            viewport=viewport or {"width": 1280, "height": 900},
            accept_downloads=True,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        journeys.append(Journey(context.new_page(), folder, language, counter, audit))
        return journeys[-1]

    yield open_journey
    try:
        for number, opened in enumerate(journeys, start=1):
            # Where each page ended: the step after the last one, when a test fails.
            opened.page.screenshot(path=folder / f"zz-end-{number}.png", full_page=True)
            opened.assert_no_problems()
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def celery_worker_env():
    """The journeys' worker closes last month on its billing day without waiting for the
    grace days, whatever today's date. It writes each customer's notifications in the
    language they signed up in (User.language): no language setting for the worker."""
    return {"INVOICE_GRACE_DAYS": "0"}


@pytest.fixture
def customer_world(transactional_db):
    """An owner of an active organization with what fills the pages: a department, a project
    and its key, a top-up, usage this month and last month (rolled up), a department quota
    with an alert in the bell, and last month's issued invoice. Two priced models, one filed
    with the regulator (its badge)."""
    for slug, model_id in (("deepseek", MODEL), ("qwen", "qwen/qwen-max")):
        model = CatalogModelFactory(
            model_id=model_id, provider=ProviderFactory(slug=slug), is_filed=slug == "deepseek"
        )
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
        "key": f"/projects/{project.public_id}/keys/{key.public_id}/",
        "quota": f"/organization/quotas/{quota.public_id}/",
    }
