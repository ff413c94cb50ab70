"""Browser fixtures: Playwright (Python) driving Debian's Chromium against pytest-django's
live server. Without /usr/bin/chromium or node_modules/axe-core (make test installs it) the
browser tests fail rather than skip: CI has both."""

import os

import pytest
from playwright.sync_api import sync_playwright

from tests.e2e.journey import AXE, CHROMIUM, CHROMIUM_ARGS, Journey, folder_for


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
