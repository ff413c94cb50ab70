"""Security keys in Chromium, with the DevTools protocol's virtual authenticator (a CTAP2 USB
key that verifies its user and is touched at once): a member of an organization that
requires MFA is sent to the two-factor page, adds a key there (after confirming the
password), signs out and signs in with the password and the key. In English and in
Simplified Chinese; axe-core runs at every step. Screenshots: $VAR_DIR/e2e-screenshots/<test>/.

The live server is http://localhost:<port>: browsers offer WebAuthn on https:// and on
localhost only, and a key is bound to the host name (an IP address is not one)."""

import re

import pytest
from allauth.mfa.models import Authenticator
from playwright.sync_api import expect

from accounts.models import AuditEvent
from accounts.permissions import Role
from tests.accounts.signin import PASSWORD, verified_user
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.browser


def plug_in_a_key(page):
    """A virtual authenticator on this page's browser tab (DevTools protocol, WebAuthn
    domain): the browser talks to it as to a USB security key, without any dialog."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable", {"enableUI": False})
    added = devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": False,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return devtools, added["authenticatorId"]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_member_adds_a_security_key_and_signs_in_with_it(language, journey, transactional_db):
    email = f"keys-{language}@bureau.example"
    user = verified_user(email)
    strict = OrganizationFactory(name="Strict Bureau", require_mfa=True)
    MembershipFactory(organization=strict, user=user, role=Role.DEVELOPER)
    member = journey(language, audit=True)
    page, t = member.page, member.t
    devtools, authenticator_id = plug_in_a_key(page)

    # --- Sign in with the password: the organization sends the member to set up MFA -------
    member.goto("/accounts/login/")
    if language != "en":
        member.choose_language()
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    member.step("sign in")
    member.press("Sign In")
    member.heading("Two-Factor Authentication")
    expect(page.locator(".messages")).to_contain_text("Strict Bureau")
    member.step("sent to two-factor authentication")

    # --- Add a key: confirm the password, name the key, the browser asks the key -------------
    page.locator("main").get_by_role("link", name=t("Add"), exact=True).click()
    page.locator("input[name=password]").fill(PASSWORD)
    member.step("confirm the password")
    member.press("Confirm")
    member.heading("Add a security key")
    page.locator("input[name=name]").fill("Virtual key")
    member.step("add a security key")
    member.press("Add")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    member.step("recovery codes")

    [stored] = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})[
        "credentials"
    ]
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.WEBAUTHN)
    assert authenticator.wrap().name == "Virtual key"
    assert not stored["isResidentCredential"]  # a second factor, not a passkey
    assert AuditEvent.objects.filter(
        organization=strict, action="mfa.security_key_added", actor=user
    ).exists()

    member.goto("/accounts/2fa/webauthn/")
    member.heading("Security keys")
    expect(page.locator("main table")).to_contain_text("Virtual key")
    expect(page.locator("main table")).to_contain_text(t("Never"))
    member.step("the list of keys")
    member.goto("/")  # the organization lets the member in now
    expect(page.get_by_role("heading", level=1)).to_have_text("Strict Bureau")

    # --- Sign out, sign in again: password, then the key --------------------------------------
    member.goto("/accounts/logout/")
    member.press("Sign Out")
    member.goto("/accounts/login/")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    member.press("Sign In")
    member.heading("Two-Factor Authentication")
    expect(page.locator("main")).to_contain_text(
        t("Your account is protected by two-factor authentication. Use your security key:")
    )
    member.step("second step offers the key")
    member.press("Use a security key")
    expect(page.get_by_role("heading", level=1)).to_have_text("Strict Bureau")
    expect(page.locator(".account-menu")).to_contain_text(email)
    member.step("signed in with the key")

    authenticator.refresh_from_db()
    assert authenticator.last_used_at is not None
    [stored] = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})[
        "credentials"
    ]
    assert stored["signCount"] >= 2  # registered, then signed once
