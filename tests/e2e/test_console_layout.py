"""Issue 21, the console's layout in Chromium: on a phone the side navigation hides behind the
"Menu" button, which opens it and reaches every area; on a desktop it stays beside the page,
marks the current page, and breadcrumbs lead back to the overview.
Screenshots: $VAR_DIR/e2e-screenshots/<test>/ (docs/operations.md)."""

import pytest
from playwright.sync_api import expect

from tests.e2e.journey import DESKTOP, PHONE, sign_in

pytestmark = pytest.mark.browser

# Every link an owner finds in the side navigation, with the heading of the page it opens.
AREAS = [
    ("Overview", None),
    ("Usage", "Usage"),
    ("Call log", "Call log"),
    ("Projects", "Projects"),
    ("API keys", "API keys"),
    ("Quotas", "Quotas"),
    ("Alerts", "Notifications"),
    ("Webhooks", "Webhooks"),
    ("Billing", "Billing"),
    ("Members", "Members"),
    ("Departments", "Departments"),
    ("Invitations", "Invitations"),
    ("Audit log", "Audit log"),
    ("Data export", "Data export"),
    ("Model policy", "Model policy"),
    ("Settings", "Organization settings"),
]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_phone_menu_opens_and_reaches_every_area(
    language, journey, customer_world, empty_cache
):
    visitor = journey(language, viewport=PHONE, audit=True)
    page, t = visitor.page, visitor.t
    if language != "en":
        visitor.goto("/")
        visitor.choose_language()
    sign_in(visitor, "owner@acme.example")
    menu = page.locator(".topbar .menu-button")
    sidenav = page.locator("#sidenav")
    for link, heading in AREAS:
        expect(sidenav).to_be_hidden()
        expect(menu).to_have_attribute("aria-expanded", "false")
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        expect(sidenav).to_be_visible()
        visitor.step(f"menu open before {link}")
        label = t(link, names_a_brand=link == "Webhooks")
        sidenav.get_by_role("link", name=label, exact=True).click()
        if heading is None:
            expect(page.get_by_role("heading", level=1)).to_have_text(
                customer_world["owner"].organization.name
            )
        else:
            expect(page.get_by_role("heading", level=1)).to_contain_text(
                t(heading, names_a_brand=heading == "Webhooks")
            )
            expect(sidenav.locator("[aria-current=page]")).to_have_text(label)

    # Escape closes the open menu and gives the focus back to its button.
    menu.click()
    expect(sidenav).to_be_visible()
    page.keyboard.press("Escape")
    expect(sidenav).to_be_hidden()
    expect(menu).to_be_focused()


def test_desktop_keeps_the_navigation_beside_the_page_with_breadcrumbs(
    journey, customer_world, empty_cache
):
    visitor = journey("en", viewport=DESKTOP, audit=True)
    page = visitor.page
    sign_in(visitor, "owner@acme.example")
    expect(page.locator(".topbar .menu-button")).to_be_hidden()
    sidenav = page.locator("#sidenav")
    expect(sidenav).to_be_visible()
    expect(page.locator(".breadcrumbs")).to_have_count(0)  # the overview is the root

    # The keyboard's focus is visible: the skip link first, then a 3 px ring on each link.
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    expect(page.locator(".skip")).to_be_in_viewport()
    page.keyboard.press("Tab")
    expect(page.locator(".topbar .brand")).to_be_focused()
    ring = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]; })()"
    )
    assert ring == ["solid", "3px"]

    visitor.goto(customer_world["project"])
    crumbs = page.locator(".breadcrumbs li")
    expect(crumbs).to_have_text(["Overview", "Projects", "Chatbot"])
    expect(crumbs.last).to_have_attribute("aria-current", "page")
    visitor.step("project with breadcrumbs")
    crumbs.nth(1).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Projects")
    expect(sidenav.locator("[aria-current=page]")).to_have_text("Projects")

    # The account menu holds the profile, the sign-in methods, the language and signing out.
    page.locator(".account-menu summary").click()
    panel = page.locator(".account-menu-panel")
    for name in ("Profile", "Email addresses", "Password", "Two-factor authentication", "Sign out"):
        expect(panel.get_by_role("link", name=name)).to_be_visible()
    expect(panel.get_by_label("Language")).to_be_visible()
    visitor.step("account menu")
