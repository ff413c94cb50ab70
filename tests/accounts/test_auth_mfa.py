"""Two-factor authentication with allauth.mfa: TOTP from a real code, recovery codes once."""

import pytest
from allauth.mfa.models import Authenticator

from accounts.models import AuditEvent
from tests.accounts.signin import PASSWORD, activate_totp, sign_in, totp_code, verified_user
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


@pytest.fixture
def user_with_totp(client):
    """Anna, who turned TOTP on from her MFA page, then signed out. Yields her secret."""
    user = verified_user("anna@example.com")
    sign_in(client, "anna@example.com")
    secret = activate_totp(client)
    client.post("/accounts/logout/")
    return user, secret


def test_totp_is_activated_with_a_code_from_the_secret(client):
    user = verified_user("anna@example.com")
    sign_in(client, "anna@example.com")

    activate_totp(client)

    assert set(Authenticator.objects.filter(user=user).values_list("type", flat=True)) == {
        Authenticator.Type.TOTP,
        Authenticator.Type.RECOVERY_CODES,  # come with it
    }
    assert "totp" in client.get("/accounts/2fa/").context["authenticators"]


def test_a_wrong_code_does_not_activate_totp(client):
    user = verified_user("anna@example.com")
    sign_in(client, "anna@example.com")
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    client.get("/accounts/2fa/totp/activate/")
    response = client.post("/accounts/2fa/totp/activate/", {"code": "000000"})
    assert response.status_code == 200
    assert "Incorrect code." in response.content.decode()
    assert not Authenticator.objects.filter(user=user).exists()


def test_signing_in_asks_for_the_code_after_the_password(client, user_with_totp):
    _, secret = user_with_totp
    response = client.post(
        "/accounts/login/", {"login": "anna@example.com", "password": "correct horse battery"}
    )
    assert response.headers["Location"] == "/accounts/2fa/authenticate/"
    assert not client.get("/").wsgi_request.user.is_authenticated

    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret, step=1)})

    assert response.headers["Location"] == "/"
    assert client.get("/").wsgi_request.user.email == "anna@example.com"


def test_a_wrong_totp_code_signs_no_one_in(client, user_with_totp):
    response = sign_in(client, "anna@example.com", code="000000")
    assert response.status_code == 200
    assert "Incorrect code." in response.content.decode()
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_a_recovery_code_signs_in_once(client, user_with_totp):
    user, secret = user_with_totp
    sign_in(client, "anna@example.com", code=totp_code(secret, step=1))
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})  # to see the codes
    codes = client.get("/accounts/2fa/recovery-codes/").context["unused_codes"]
    client.post("/accounts/logout/")

    response = sign_in(client, "anna@example.com", code=codes[0])
    assert response.headers["Location"] == "/"
    assert client.get("/").wsgi_request.user == user
    client.post("/accounts/logout/")

    response = sign_in(client, "anna@example.com", code=codes[0])
    assert response.status_code == 200
    assert "Incorrect code." in response.content.decode()
    assert not client.get("/").wsgi_request.user.is_authenticated


@pytest.mark.django_db(transaction=True)  # allauth signals these on commit, as in production
def test_turning_totp_on_and_off_and_new_recovery_codes_are_audited(client):
    user = verified_user("anna@example.com")
    membership = MembershipFactory(user=user)
    sign_in(client, "anna@example.com")

    activate_totp(client)
    assert client.post("/accounts/2fa/recovery-codes/generate/").status_code == 302
    assert client.post("/accounts/2fa/totp/deactivate/").status_code == 302

    assert not Authenticator.objects.filter(user=user).exists()
    events = AuditEvent.objects.filter(action__startswith="mfa.").order_by("pk")
    assert [(e.organization, e.action, e.actor, e.changes) for e in events] == [
        (membership.organization, "mfa.totp_activated", user, {}),
        (membership.organization, "mfa.recovery_codes_regenerated", user, {}),
        (membership.organization, "mfa.totp_deactivated", user, {}),
    ]
