"""Staff reach the admin site only from a session that passed two-factor authentication."""

import pytest

from tests.accounts.signin import sign_in, totp_code, totp_set_up_earlier, verified_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


@pytest.fixture
def staff():
    return verified_user("ops@example.com", is_staff=True, is_superuser=True)


def test_anonymous_visitors_are_sent_to_the_portal_sign_in(client):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/?next=/admin/"


def test_the_admin_site_has_no_password_form_of_its_own(client, staff):
    response = client.post("/admin/login/", {"username": "ops@example.com", "password": "x"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login/")
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_staff_without_mfa_are_sent_to_set_it_up(client, staff):
    sign_in(client, "ops@example.com")
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/2fa/"
    assert "The staff console requires two-factor authentication" in response.content.decode()


def test_staff_signed_in_with_totp_reach_the_admin_site(client, staff):
    secret = totp_set_up_earlier(staff)
    sign_in(client, "ops@example.com", code=totp_code(secret))
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200


def test_the_admin_login_redirects_only_within_the_portal(client, staff):
    sign_in(client, "ops@example.com", code=totp_code(totp_set_up_earlier(staff)))
    response = client.get("/admin/login/?next=https://evil.example/")
    assert response.headers["Location"] == "/admin/"
    response = client.get("/admin/login/?next=/admin/accounts/user/")
    assert response.headers["Location"] == "/admin/accounts/user/"


def test_a_session_that_skipped_mfa_is_asked_for_a_code(client, staff):
    secret = totp_set_up_earlier(staff)
    client.force_login(staff)  # e.g. signed in before TOTP was turned on

    response = client.get("/admin/accounts/user/", follow=True)
    assert response.redirect_chain[-1][0] == (
        "/accounts/2fa/reauthenticate/?next=/admin/accounts/user/"
    )

    response = client.post(
        "/accounts/2fa/reauthenticate/?next=/admin/accounts/user/", {"code": totp_code(secret)}
    )
    assert response.headers["Location"] == "/admin/accounts/user/"
    assert client.get("/admin/accounts/user/").status_code == 200


def test_signed_in_non_staff_are_refused(client):
    verified_user("anna@example.com")
    sign_in(client, "anna@example.com")
    assert client.get("/admin/", follow=True).status_code == 403
