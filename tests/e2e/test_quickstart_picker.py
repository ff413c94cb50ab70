"""A key's quickstart in Chromium: the copy buttons appear (scripts run under the CSP), the
model picker rewrites every example in place and its no-script button is hidden, and a copy
button puts the example, with the chosen model, on the clipboard."""

import pytest
from playwright.sync_api import expect

from tests.e2e.journey import DESKTOP, MODEL, sign_in

pytestmark = pytest.mark.browser
OTHER = "qwen/qwen-max"


def test_the_picker_rewrites_the_examples(journey, customer_world):
    owner = journey("en", viewport=DESKTOP, audit=True)
    page = owner.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(owner, "owner@acme.example")
    owner.goto(customer_world["key"])
    picker = page.locator("#qs-model")
    expect(picker.locator("option")).to_have_text([MODEL, OTHER])
    expect(page.locator("#qs-curl")).to_contain_text(f'"model": "{MODEL}"')
    expect(page.locator("form.quickstart-model button[type=submit]")).to_be_hidden()
    owner.step("key page with its quickstart")

    picker.select_option(OTHER)
    for block in ("qs-curl", "qs-python", "qs-js"):
        expect(page.locator(f"#{block}")).to_contain_text(OTHER)
        expect(page.locator(f"#{block}")).not_to_contain_text(MODEL)
    page.locator('button[data-copy="qs-python"]').click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert f'model="{OTHER}"' in copied and 'os.environ["TOKEN_PORTAL_API_KEY"]' in copied
    expect(page.locator('button[data-copy="qs-python"]')).to_have_text("Copied")
    owner.step("another model chosen and copied")
