"""Sign-in steps shared by the tests/accounts/test_auth*.py files: allauth's own pages,
driven as a user would, and TOTP codes computed from the secret like an authenticator app."""

import re
import time

from allauth.account.models import EmailAddress
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import (
    SECRET_SESSION_KEY,
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)

from tests.factories import UserFactory

PASSWORD = "correct horse battery"  # UserFactory's


def verified_user(email: str, **fields):
    """A user as sign-up leaves them: with their address verified (allauth's EmailAddress)."""
    user = UserFactory(email=email, **fields)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def totp_code(secret: str, step: int = 0) -> str:
    """The code an authenticator app shows now, or `step` periods later (each code is
    accepted once, so a second sign-in in the same period uses the next one)."""
    counter = int(time.time()) // mfa_settings.TOTP_PERIOD + step
    return format_hotp_value(hotp_value(secret, counter))


def sign_in(client, email: str, password: str = PASSWORD, code: str | None = None):
    """Email and password, then the second factor when allauth asks for it."""
    response = client.post("/accounts/login/", {"login": email, "password": password})
    if code is not None:
        assert response.headers["Location"] == "/accounts/2fa/authenticate/"
        response = client.post("/accounts/2fa/authenticate/", {"code": code})
    return response


def activate_totp(client) -> str:
    """Turn on TOTP from the signed-in user's MFA pages; returns the secret."""
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})  # allauth asks first
    client.get("/accounts/2fa/totp/activate/")
    secret = client.session[SECRET_SESSION_KEY]
    response = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert response.status_code == 302, response.content.decode()
    return secret


def totp_set_up_earlier(user) -> str:
    """TOTP turned on before the test (allauth's own activation); returns the secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def mailed_code(message) -> str:
    """The verification code in an allauth email (e.g. "7KQ3-XM2P", on a line of its own)."""
    return re.search(r"^([A-Z0-9]+(?:-[A-Z0-9]+)+)$", message.body, re.MULTILINE).group(1)
