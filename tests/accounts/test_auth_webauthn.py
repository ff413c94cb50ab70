"""Security keys (WebAuthn) as a second factor, with a software key that signs for real
(tests/accounts/webauthn_key.py): allauth's pages and headless API verify its attestation
and its P-256 signatures as they would a YubiKey's."""

import json

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client
from fido2.utils import websafe_encode

from accounts.models import AuditEvent
from accounts.permissions import Role
from tests.accounts.signin import (
    PASSWORD,
    sign_in,
    totp_code,
    totp_set_up_earlier,
    verified_user,
)
from tests.accounts.webauthn_key import SoftwareKey, key_set_up_earlier
from tests.factories import MembershipFactory, OrganizationFactory
from tests.portal.test_csp import InlineFinder

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

ADD = "/accounts/2fa/webauthn/add/"
KEYS = "/accounts/2fa/webauthn/"
AUTHENTICATE = "/accounts/2fa/authenticate/"
APP = "/_allauth/app/v1"


def add_key(client, key: SoftwareKey, name: str = "YubiKey 5", **register):
    """From the signed-in user's MFA pages: confirm the password, open the add page, let the
    key answer the browser's request (the options the page hands to allauth's script)."""
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})  # allauth asks first
    options = client.get(ADD).context["js_data"]["creation_options"]
    credential = key.register(options, **register)
    return client.post(ADD, {"name": name, "credential": json.dumps(credential)})


def sign_in_with_key(client, email: str, key: SoftwareKey, **sign):
    """Email and password, then the key signs the challenge of the second step."""
    response = sign_in(client, email)
    assert response.headers["Location"] == AUTHENTICATE
    options = client.get(AUTHENTICATE).context["js_data"]["request_options"]
    return client.post(AUTHENTICATE, {"credential": json.dumps(key.sign(options, **sign))})


def signed_in_user(client):
    return client.get("/accounts/2fa/").wsgi_request.user


@pytest.fixture
def anna():
    return verified_user("anna@example.com")


# --- adding, listing, renaming, removing ----------------------------------------------------


def test_a_key_is_added_from_the_mfa_pages(client, anna):
    sign_in(client, "anna@example.com")
    key = SoftwareKey()

    response = add_key(client, key, name="Office YubiKey")

    # The first second factor comes with recovery codes, which allauth shows next.
    assert response.headers["Location"] == "/accounts/2fa/recovery-codes/"
    authenticator = Authenticator.objects.get(user=anna, type=Authenticator.Type.WEBAUTHN)
    assert authenticator.wrap().name == "Office YubiKey"
    data = authenticator.wrap().authenticator_data.credential_data
    assert data.credential_id == key.credential_id
    assert Authenticator.objects.filter(user=anna, type="recovery_codes").exists()
    page = client.get(KEYS).content.decode()
    assert "Office YubiKey" in page and "Never" in page
    assert "You have added 1 security key." in client.get("/accounts/2fa/").content.decode()


def test_a_blank_name_gets_allauths_name(client, anna):
    sign_in(client, "anna@example.com")
    add_key(client, SoftwareKey(), name="")
    add_key(client, SoftwareKey(), name="")
    names = sorted(a.wrap().name for a in Authenticator.objects.filter(type="webauthn"))
    assert names == ["Backup key", "Master key"]


def test_a_name_is_at_most_100_characters(client, anna):
    sign_in(client, "anna@example.com")
    response = add_key(client, SoftwareKey(), name="k" * 101)
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert not Authenticator.objects.filter(user=anna).exists()


@pytest.mark.parametrize(
    ("key", "tamper"),
    [
        (SoftwareKey(origin="https://portal.evil.example"), {}),  # made for another site
        (SoftwareKey(), {"challenge": "bm90IHRoZSBjaGFsbGVuZ2U"}),  # answers another request
    ],
    ids=["other-origin", "other-challenge"],
)
def test_a_registration_the_server_cannot_verify_adds_nothing(client, anna, key, tamper):
    sign_in(client, "anna@example.com")
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    options = client.get(ADD).context["js_data"]["creation_options"]
    options["publicKey"].update(tamper)
    credential = key.register(options)

    response = client.post(ADD, {"name": "Evil", "credential": json.dumps(credential)})

    assert response.status_code == 200
    assert "Incorrect code." in response.content.decode()  # allauth's only wording
    assert not Authenticator.objects.filter(user=anna).exists()


def test_adding_a_key_asks_for_the_password_again(client, anna):
    sign_in(client, "anna@example.com")  # even right after signing in (allauth's rule)
    response = client.get(ADD)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/reauthenticate/")


def test_a_key_is_renamed_and_removed(client, anna):
    key_set_up_earlier(anna, name="Old name")
    client.force_login(anna)
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    authenticator = Authenticator.objects.get(user=anna, type="webauthn")

    response = client.post(f"{KEYS}keys/{authenticator.pk}/edit/", {"name": "Desk key"})
    assert response.headers["Location"] == KEYS
    authenticator.refresh_from_db()
    assert authenticator.wrap().name == "Desk key"

    page = client.get(f"{KEYS}keys/{authenticator.pk}/remove/").content.decode()
    assert "Desk key" in page
    response = client.post(f"{KEYS}keys/{authenticator.pk}/remove/")
    assert response.headers["Location"] == KEYS
    assert not Authenticator.objects.filter(user=anna, type="webauthn").exists()
    assert "No security keys have been added." in client.get(KEYS).content.decode()


def test_nobody_else_sees_renames_or_removes_a_key(client, anna):
    key_set_up_earlier(anna, name="Anna's key")
    authenticator = Authenticator.objects.get(user=anna)
    bob = verified_user("bob@example.com")
    client.force_login(bob)
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})

    assert "Anna's key" not in client.get(KEYS).content.decode()
    for action in ("edit", "remove"):
        url = f"{KEYS}keys/{authenticator.pk}/{action}/"
        assert client.get(url).status_code == 404
        assert client.post(url, {"name": "Bob's now"}).status_code == 404
    authenticator.refresh_from_db()
    assert authenticator.wrap().name == "Anna's key"


# --- signing in -------------------------------------------------------------------------


def test_signing_in_asks_for_the_key_after_the_password(client, anna):
    key = key_set_up_earlier(anna)
    response = sign_in(client, "anna@example.com")
    assert response.headers["Location"] == AUTHENTICATE
    assert not client.get("/").wsgi_request.user.is_authenticated
    page = client.get(AUTHENTICATE)
    options = page.context["js_data"]["request_options"]["publicKey"]
    assert [c["id"] for c in options["allowCredentials"]] == [websafe_encode(key.credential_id)]
    assert "Use a security key" in page.content.decode()

    response = client.post(
        AUTHENTICATE, {"credential": json.dumps(key.sign({"publicKey": options}))}
    )

    assert response.headers["Location"] == "/"
    assert signed_in_user(client) == anna
    records = client.session["account_authentication_methods"]
    assert [(r["method"], r.get("type")) for r in records] == [
        ("password", None),
        ("mfa", "webauthn"),
    ]
    assert Authenticator.objects.get(user=anna, type="webauthn").last_used_at is not None


@pytest.mark.parametrize(
    "sign",
    [{"tamper": True}, {"origin": "https://portal.evil.example"}],
    ids=["wrong-signature", "other-origin"],
)
def test_a_signature_that_does_not_verify_signs_no_one_in(client, anna, sign):
    key = key_set_up_earlier(anna)

    response = sign_in_with_key(client, "anna@example.com", key, **sign)

    assert response.status_code == 200
    assert "The security key was not accepted." in response.content.decode()
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_another_users_key_is_refused(client, anna):
    key_set_up_earlier(anna)
    bobs_key = key_set_up_earlier(verified_user("bob@example.com"))

    response = sign_in_with_key(client, "anna@example.com", bobs_key)

    assert response.status_code == 200
    assert "The security key was not accepted." in response.content.decode()
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_an_assertion_is_accepted_once(client, anna):
    """The challenge lives in the session until used: a replayed answer finds none."""
    key = key_set_up_earlier(anna)
    sign_in(client, "anna@example.com")
    options = client.get(AUTHENTICATE).context["js_data"]["request_options"]
    answer = json.dumps(key.sign(options))
    client.post(AUTHENTICATE, {"credential": answer})
    client.post("/accounts/logout/")

    sign_in(client, "anna@example.com")
    response = client.post(AUTHENTICATE, {"credential": answer})

    assert response.status_code == 200
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_an_account_with_a_key_and_totp_may_use_either(client, anna):
    key = key_set_up_earlier(anna)
    secret = totp_set_up_earlier(anna)
    sign_in(client, "anna@example.com")
    page = client.get(AUTHENTICATE).content.decode()
    assert "Use a security key" in page and 'name="code"' in page

    response = client.post(AUTHENTICATE, {"code": totp_code(secret)})
    assert response.headers["Location"] == "/"
    client.post("/accounts/logout/")

    response = sign_in_with_key(client, "anna@example.com", key)
    assert response.headers["Location"] == "/"


def test_an_account_without_a_key_is_not_offered_one(client, anna):
    totp_set_up_earlier(anna)
    sign_in(client, "anna@example.com")
    page = client.get(AUTHENTICATE).content.decode()
    assert 'name="code"' in page
    assert "Use a security key" not in page
    assert "webauthn.js" not in page


def test_a_recovery_code_still_works_for_a_key_only_account(client, anna):
    sign_in(client, "anna@example.com")
    add_key(client, SoftwareKey())
    codes = client.get("/accounts/2fa/recovery-codes/").context["unused_codes"]
    client.post("/accounts/logout/")

    response = sign_in(client, "anna@example.com", code=codes[0])

    assert response.headers["Location"] == "/"


# --- the portal's rules ---------------------------------------------------------------------


def test_a_key_alone_satisfies_an_organization_that_requires_mfa(client, anna):
    strict = OrganizationFactory(name="Strict Bureau", require_mfa=True)
    MembershipFactory(organization=strict, user=anna, role=Role.DEVELOPER)
    sign_in(client, "anna@example.com")
    assert client.get("/").headers["Location"] == "/accounts/2fa/"
    assert client.get("/api/v1/me").status_code == 403

    key = SoftwareKey()
    add_key(client, key)  # the MFA pages, re-authentication and the add page stay open

    assert client.get("/").status_code == 200
    assert client.get("/api/v1/me").json()["mfa_enabled"] is True
    client.post("/accounts/logout/")
    sign_in_with_key(client, "anna@example.com", key)
    assert client.get("/").status_code == 200


def test_staff_pass_the_console_with_a_key(client):
    staff = verified_user("staff@example.com", is_staff=True, is_superuser=True)
    key = key_set_up_earlier(staff)
    sign_in_with_key(client, "staff@example.com", key)
    assert client.get("/admin/").status_code == 200


def test_adding_and_removing_a_key_is_audited_in_each_organization(client, anna):
    alpha, beta = OrganizationFactory(name="Alpha"), OrganizationFactory(name="Beta")
    for organization in (alpha, beta):
        MembershipFactory(organization=organization, user=anna, role=Role.VIEWER)
    sign_in(client, "anna@example.com")

    add_key(client, SoftwareKey(), name="Office YubiKey")
    authenticator = Authenticator.objects.get(user=anna, type="webauthn")
    client.post(f"{KEYS}keys/{authenticator.pk}/remove/")

    events = AuditEvent.objects.filter(action__startswith="mfa.").order_by("pk")
    assert [(e.organization, e.action, e.changes) for e in events] == [
        (alpha, "mfa.security_key_added", {"after": {"security_key": "Office YubiKey"}}),
        (beta, "mfa.security_key_added", {"after": {"security_key": "Office YubiKey"}}),
        (alpha, "mfa.security_key_removed", {"before": {"security_key": "Office YubiKey"}}),
        (beta, "mfa.security_key_removed", {"before": {"security_key": "Office YubiKey"}}),
    ]
    assert {(e.actor, e.target_id, e.ip_address) for e in events} == {
        (anna, anna.public_id, "127.0.0.1")
    }


def test_a_zh_hans_key_page_is_in_chinese(client, anna):
    key_set_up_earlier(anna, name="办公室密钥")
    client.force_login(anna)
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    page = client.get(KEYS).content.decode()
    assert "安全密钥" in page and "办公室密钥" in page and "从未" in page
    assert "名称" in client.get(ADD).content.decode()


# --- the headless API -----------------------------------------------------------------------


def app_signs_in(client) -> dict:
    """Anna's password to the app API: the headers of her session (MFA may still be pending)."""
    response = client.post(
        f"{APP}/auth/login",
        {"email": "anna@example.com", "password": PASSWORD},
        content_type="application/json",
    )
    return {"x-session-token": response.json()["meta"]["session_token"]}


@pytest.mark.parametrize("kind", ["app", "browser"])
def test_a_headless_client_signs_in_with_a_key_and_lists_it(anna, kind):
    key = key_set_up_earlier(anna, name="Office YubiKey")
    totp_set_up_earlier(anna)
    client = Client()
    base = f"/_allauth/{kind}/v1"
    response = client.post(
        f"{base}/auth/login",
        {"email": "anna@example.com", "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 401
    body = response.json()
    flow = next(f for f in body["data"]["flows"] if f["id"] == "mfa_authenticate")
    assert flow["is_pending"] and set(flow["types"]) == {"totp", "webauthn"}
    headers = {"x-session-token": body["meta"]["session_token"]} if kind == "app" else {}

    options = client.get(f"{base}/auth/webauthn/authenticate", headers=headers).json()["data"]
    response = client.post(
        f"{base}/auth/webauthn/authenticate",
        {"credential": key.sign(options["request_options"])},
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 200, response.content
    assert response.json()["meta"]["is_authenticated"]
    if kind == "app":
        headers = {"x-session-token": response.json()["meta"]["session_token"]}
    listed = client.get(f"{base}/account/authenticators", headers=headers).json()["data"]
    keys = [a for a in listed if a["type"] == "webauthn"]
    assert [(k["name"], k["last_used_at"] is not None) for k in keys] == [("Office YubiKey", True)]
    assert client.get("/api/v1/me", headers=headers).json()["mfa_enabled"] is True


def test_a_headless_wrong_signature_is_refused(anna):
    key = key_set_up_earlier(anna)
    client = Client()
    headers = app_signs_in(client)
    options = client.get(f"{APP}/auth/webauthn/authenticate", headers=headers).json()["data"]

    response = client.post(
        f"{APP}/auth/webauthn/authenticate",
        {"credential": key.sign(options["request_options"], tamper=True)},
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 400
    assert client.get("/api/v1/me", headers=headers).status_code == 403  # still pending


def test_an_app_adds_and_removes_a_key_audited(anna):
    MembershipFactory(organization=OrganizationFactory(name="Alpha"), user=anna)
    client = Client()
    headers = app_signs_in(client)
    url = f"{APP}/account/authenticators/webauthn"
    assert client.get(url, headers=headers).status_code == 401  # asks to confirm first
    client.post(
        f"{APP}/auth/reauthenticate",
        {"password": PASSWORD},
        content_type="application/json",
        headers=headers,
    )
    options = client.get(url, headers=headers).json()["data"]["creation_options"]

    response = client.post(
        url,
        {"name": "Phone", "credential": SoftwareKey().register(options)},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 200, response.content
    [authenticator] = Authenticator.objects.filter(user=anna, type="webauthn")
    response = client.delete(
        url,
        {"authenticators": [authenticator.pk]},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 200, response.content

    assert list(
        AuditEvent.objects.filter(action__startswith="mfa.")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["mfa.security_key_added", "mfa.security_key_removed"]


def test_the_key_pages_keep_to_the_content_security_policy(client, anna):
    """Nothing inline on the pages that run allauth's WebAuthn scripts (the crawl in
    tests/portal/test_csp.py cannot reach them: they need a key or a fresh password)."""
    key = key_set_up_earlier(anna)
    sign_in(client, "anna@example.com")
    pages = {AUTHENTICATE: client.get(AUTHENTICATE)}
    client.post(
        AUTHENTICATE,
        {
            "credential": json.dumps(
                key.sign(pages[AUTHENTICATE].context["js_data"]["request_options"])
            )
        },
    )
    pages["/accounts/2fa/webauthn/reauthenticate/"] = client.get(
        "/accounts/2fa/webauthn/reauthenticate/"
    )
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    pk = key.authenticator.pk
    for url in ("/accounts/2fa/", KEYS, ADD, f"{KEYS}keys/{pk}/edit/", f"{KEYS}keys/{pk}/remove/"):
        pages[url] = client.get(url)

    for url, response in pages.items():
        assert response.status_code == 200, url
        assert "script-src 'self'" in response["Content-Security-Policy"], url
        finder = InlineFinder()
        finder.feed(response.content.decode())
        assert finder.problems == [], url
    for url in (AUTHENTICATE, ADD, "/accounts/2fa/webauthn/reauthenticate/"):
        page = pages[url].content.decode()
        assert '<script src="/static/mfa/js/webauthn.js">' in page, url
        assert '<script id="js_data" type="application/json">' in page, url
