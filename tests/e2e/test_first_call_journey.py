"""Issue 21's journey, in Chromium, in English and Chinese, on a desktop and a phone: an owner
signs in and reads the overview, creates an API key, copies the quickstart with its copy
buttons (read back from the clipboard), runs the copied curl against the live relay and a fake
upstream, finds the call in the call log within seconds and exports it as CSV. axe-core runs
at every step. Screenshots: $VAR_DIR/e2e-screenshots/<test>/ (docs/operations.md)."""

import csv
import io
import json
import re
import subprocess

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.audit_trail import Actor
from portal.asgi import application
from relay import services as relay_services
from tests.conftest import free_port
from tests.e2e.journey import DESKTOP, MODEL, PHONE, sign_in
from tests.relay.fake_upstream import CONTENT, FakeUpstream, serve

pytestmark = pytest.mark.browser


@pytest.fixture
def relay(customer_world, settings):
    """A live relay (portal.asgi under uvicorn) in front of a fake upstream that serves
    MODEL; the quickstart shows the relay's URL."""
    settings.RELAY_BILL_EVERY_SECONDS = 0.05  # the call is billed at once, not in a batch
    upstream = FakeUpstream("upstream")
    with serve(application, free_port(), lifespan="on") as base, serve(upstream, free_port()) as up:
        relay_services.configure_channel(
            actor=Actor.system(), name="upstream", base_url=up + "/v1", credential="sk-up-secret",
            models={MODEL: "deepseek-chat"},
        )  # fmt: skip
        settings.RELAY_PUBLIC_URL = base + "/v1"
        yield base + "/v1"


def copied(visitor, block: str) -> str:
    """Press the copy button of the quickstart's `block` and return what the clipboard holds
    (the same text as the code block shows)."""
    page = visitor.page
    page.locator(f'button[data-copy="{block}"]').click()
    text = page.evaluate("navigator.clipboard.readText()")
    assert text == page.locator(f"#{block}").inner_text()
    return text


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_first_call_from_the_quickstart_to_the_call_log(
    language, viewport, journey, customer_world, relay, empty_cache, tmp_path
):
    owner = journey(language, viewport=viewport, audit=True)
    page, t = owner.page, owner.t
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    if language != "en":
        owner.goto("/")
        owner.choose_language()

    # --- Sign in and read the overview ----------------------------------------------------
    sign_in(owner, "owner@acme.example")
    organization = customer_world["owner"].organization
    expect(page.get_by_role("heading", level=1)).to_have_text(organization.name)
    owner.step("overview")

    # --- Create a key from the overview's call to action ----------------------------------
    page.locator("main").get_by_role("link", name=t("Create API key")).click()
    page.locator("input[name=name]").fill(f"first call {language} {viewport['width']}")
    owner.step("new key")
    page.locator("main form button[type=submit]").last.click()
    owner.heading("Your new API key")
    secret = page.locator("#secret").input_value()
    owner.step("key shown once with its quickstart")

    # --- Copy the quickstart and call the relay with it ------------------------------------
    env_line = copied(owner, "qs-env")
    assert secret in env_line
    curl = copied(owner, "qs-curl")
    assert relay in curl and MODEL in curl
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", f"{env_line}\n{curl}"], cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["choices"][0]["message"]["content"] == "".join(CONTENT)

    # --- The call is in the call log within seconds ------------------------------------------
    key_name = f"first call {language} {viewport['width']}"
    owner.goto(reverse("billing:call-log"))
    owner.heading("Call log")
    row = page.locator("table tbody tr", has_text=key_name)
    for _ in range(20):  # billed within 0.05 s of the answer; a reload shows it
        if row.count():
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(row).to_have_count(1)
    expect(row).to_contain_text(MODEL)
    owner.step("the call in the call log")

    # --- Export the log as CSV --------------------------------------------------------------
    owner.expect_failure(r"export=csv", "net::ERR_ABORTED")  # a download ends its navigation
    with page.expect_download() as download:
        page.locator("main").get_by_role("link", name=t("Export CSV")).click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    assert any(key_name in line and MODEL in line for line in rows[1:]), rows[:3]
    assert re.search(r"\d{4}-\d{2}-\d{2}", rows[1][0])  # the year in every date
    owner.step("call log exported")
