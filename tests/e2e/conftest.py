"""Browser fixtures: Playwright (Python) driving Debian's Chromium against pytest-django's
live server. Without /usr/bin/chromium or node_modules/axe-core (make test installs it) the
browser tests fail rather than skip: CI has both."""

import os

import pytest
from playwright.sync_api import sync_playwright

from portal.celery import app as celery_app
from tests.conftest import start_celery_worker, stop_celery_worker
from tests.e2e.journey import AXE, CHROMIUM, CHROMIUM_ARGS, Journey, folder_for


@pytest.fixture(scope="session")
def chromium():
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: apt-get install chromium"
    assert AXE.exists(), f"{AXE} is missing: npm ci (make test does it)"
    # Playwright's sync API runs an event loop in this thread; Django refuses ORM calls
    # from a thread with a running loop unless told that this one is safe (it is: the loop
    # only drives the browser).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


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
def worker(transactional_db, tmp_path, monkeypatch):
    """A real Celery worker process (tests/conftest.py) whose billing day closes last month
    without waiting for the grace days. Yields the folder its email backend writes to."""
    process, _ = start_celery_worker(tmp_path, INVOICE_GRACE_DAYS="0")
    try:
        monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
        yield tmp_path / "mail"
    finally:
        stop_celery_worker(process)
