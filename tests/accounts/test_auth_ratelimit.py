"""allauth's default rate limits stay on."""

import pytest
from allauth.account import app_settings as account_settings

from tests.accounts.signin import sign_in, verified_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

TOO_MANY = "Too many failed login attempts. Try again later."


def test_allauths_rate_limits_are_in_force():
    limits = account_settings.RATE_LIMITS
    assert all(limits[action] for action in ["login", "login_failed", "signup", "reset_password"])


def test_repeated_failed_logins_lock_the_account_for_a_while(client):
    verified_user("anna@example.com")
    for _ in range(5):  # allauth's default: 5 failures per account in 5 minutes
        response = sign_in(client, "anna@example.com", password="wrong horse battery")
        assert TOO_MANY not in response.content.decode()

    response = sign_in(client, "anna@example.com", password="wrong horse battery")
    assert TOO_MANY in response.content.decode()
    # Even the right password is refused now.
    response = sign_in(client, "anna@example.com")
    assert response.status_code == 200
    assert TOO_MANY in response.content.decode()
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_other_accounts_are_not_locked(client):
    verified_user("anna@example.com")
    verified_user("bob@example.com")
    for _ in range(6):
        sign_in(client, "anna@example.com", password="wrong horse battery")
    assert sign_in(client, "bob@example.com").headers["Location"] == "/"
