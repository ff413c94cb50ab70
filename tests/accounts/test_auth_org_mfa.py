"""An organization that requires MFA: its members without a second factor can only set one up."""

import pytest
from django.test import Client

from accounts.permissions import Role
from accounts.tenancy import SESSION_KEY
from tests.accounts.signin import (
    PASSWORD,
    activate_totp,
    sign_in,
    totp_code,
    totp_set_up_earlier,
    verified_user,
)
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


@pytest.fixture
def strict_org():
    return OrganizationFactory(name="Strict Bureau", require_mfa=True)


@pytest.fixture
def strict_member(strict_org):
    """A developer of the strict organization (a verified user, no second factor yet)."""
    user = verified_user("anna@example.com")
    MembershipFactory(organization=strict_org, user=user, role=Role.DEVELOPER)
    return user


def test_a_member_without_mfa_is_sent_to_set_it_up_from_every_page(client, strict_member):
    sign_in(client, "anna@example.com")
    for page in ["/", "/accounts/email/", "/accounts/sessions/"]:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response.headers["Location"] == "/accounts/2fa/"
    page = client.get("/", follow=True).content.decode()
    assert "Strict Bureau requires two-factor authentication for all members" in page


def test_the_way_to_mfa_stays_open(client, strict_member):
    sign_in(client, "anna@example.com")
    assert client.get("/accounts/2fa/").status_code == 200
    assert client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"}).status_code == 302
    assert client.get("/healthz").status_code != 302

    activate_totp(client)  # through re-authentication and the activation page

    assert client.get("/").status_code == 200
    assert client.get("/accounts/email/").status_code == 200


def test_signing_out_stays_open(client, strict_member):
    sign_in(client, "anna@example.com")
    response = client.post("/accounts/logout/")
    assert response.headers["Location"] == "/"
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_the_api_answers_403_mfa_required(client, strict_member):
    sign_in(client, "anna@example.com")
    response = client.get("/api/v1/me")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "mfa_required"
    assert "Strict Bureau" in response.json()["error"]["message"]


def test_the_api_answers_403_to_an_app_session_token_too(strict_member):
    app = Client()
    response = app.post(
        "/_allauth/app/v1/auth/login",
        {"email": "anna@example.com", "password": PASSWORD},
        content_type="application/json",
    )
    token = response.json()["meta"]["session_token"]
    response = app.get("/api/v1/me", headers={"x-session-token": token})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "mfa_required"


def test_a_member_with_totp_is_let_through(client, strict_member):
    secret = totp_set_up_earlier(strict_member)
    sign_in(client, "anna@example.com", code=totp_code(secret))
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/me").status_code == 200


def test_only_the_current_organization_counts(client, strict_member):
    relaxed = OrganizationFactory(name="Relaxed Ltd")
    MembershipFactory(organization=relaxed, user=strict_member, role=Role.OWNER)
    sign_in(client, "anna@example.com")
    session = client.session
    session[SESSION_KEY] = relaxed.public_id
    session.save()
    assert client.get("/").status_code == 200

    response = client.get(
        "/api/v1/me",
        headers={
            "x-organization": strict_member.memberships.get(
                organization__require_mfa=True
            ).organization.public_id
        },
    )
    assert response.status_code == 403


def test_members_of_organizations_that_do_not_require_mfa_are_not_asked(client):
    user = verified_user("bob@example.com")
    MembershipFactory(organization=OrganizationFactory(), user=user)
    sign_in(client, "bob@example.com")
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/me").status_code == 200
