"""Sign-up with mandatory email verification, login by email, password reset, email change
and the sessions list: allauth's pages, inside the portal layout."""

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client

from tests.accounts.signin import PASSWORD, mailed_code, sign_in, verified_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


def sign_up(client, email, **headers):
    return client.post(
        "/accounts/signup/",
        {"email": email, "password1": PASSWORD, "password2": PASSWORD},
        headers=headers,
    )


def test_sign_up_requires_verification_then_lands_on_the_home_page(
    client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(client, "new@example.com")
    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/confirm-email/"
    assert not client.get("/").wsgi_request.user.is_authenticated
    [message] = mail.outbox
    assert message.to == ["new@example.com"]
    assert message.subject == "[Token Portal] Please Confirm Your Email Address"
    assert "Hello from Token Portal!" in message.body
    assert "register an account on testserver." in message.body

    response = client.post("/accounts/confirm-email/", {"code": mailed_code(message)})

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").wsgi_request.user.email == "new@example.com"


def test_a_wrong_verification_code_signs_no_one_in(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, "new@example.com")
    response = client.post("/accounts/confirm-email/", {"code": "AAAA-AAAA"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_an_unverified_user_cannot_sign_in(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, "new@example.com")
    client.logout()
    cache.clear()  # a new code is sent at most every ten seconds: this is later
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_in(client, "new@example.com")
    assert response.headers["Location"] == "/accounts/confirm-email/"
    assert not client.get("/").wsgi_request.user.is_authenticated
    assert len(mail.outbox) == 2  # a fresh code


def test_a_chinese_sign_up_gets_a_chinese_verification_email(
    client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, "xin@example.com", accept_language="zh-hans")
    [message] = mail.outbox
    assert message.subject == "[Token 门户] 请确认您的电子邮件地址"
    assert "这里是 Token 门户" in message.body
    assert "您的电子邮件验证代码如下所示" in message.body
    assert "在 testserver 上注册" in message.body


def test_login_is_by_email_and_password(client):
    verified_user("anna@example.com")
    response = sign_in(client, "anna@example.com")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").wsgi_request.user.email == "anna@example.com"


def test_a_wrong_password_is_refused(client):
    verified_user("anna@example.com")
    response = sign_in(client, "anna@example.com", password="wrong horse battery")
    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in (
        response.content.decode()
    )
    assert not response.wsgi_request.user.is_authenticated


def test_a_password_is_reset_through_the_emailed_link(client, django_capture_on_commit_callbacks):
    verified_user("anna@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/password/reset/", {"email": "anna@example.com"})
    assert response.headers["Location"] == "/accounts/password/reset/done/"
    [message] = mail.outbox
    link = next(line for line in message.body.splitlines() if "/password/reset/key/" in line)
    form_url = client.get(link.split("testserver", 1)[1]).headers["Location"]

    response = client.post(
        form_url, {"password1": "a new horse battery", "password2": "a new horse battery"}
    )

    assert response.headers["Location"] == "/accounts/password/reset/key/done/"
    assert sign_in(client, "anna@example.com", password="a new horse battery").status_code == 302
    assert client.get("/").wsgi_request.user.is_authenticated


def test_the_email_address_is_changed_after_the_new_one_is_verified(
    client, django_capture_on_commit_callbacks
):
    user = verified_user("anna@example.com")
    sign_in(client, "anna@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/accounts/email/", {"email": "anna@new.example.com", "action_add": ""}
        )
    assert response.status_code == 302
    verification = next(m for m in mail.outbox if m.to == ["anna@new.example.com"])
    user.refresh_from_db()
    assert user.email == "anna@example.com"  # not before it is verified

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/confirm-email/", {"code": mailed_code(verification)})

    user.refresh_from_db()
    assert user.email == "anna@new.example.com"
    assert list(user.emailaddress_set.values_list("email", flat=True)) == ["anna@new.example.com"]


def test_the_sessions_page_lists_sessions_and_signs_out_the_others(client):
    verified_user("anna@example.com")
    other_device = Client()
    sign_in(other_device, "anna@example.com")
    sign_in(client, "anna@example.com")

    response = client.get("/accounts/sessions/")
    assert response.status_code == 200
    assert len(response.context["sessions"]) == 2
    assert "Sign Out Other Sessions" in response.content.decode()

    client.post("/accounts/sessions/")

    assert client.get("/").wsgi_request.user.is_authenticated
    assert not other_device.get("/").wsgi_request.user.is_authenticated


def test_the_account_menu_links_email_password_two_factor_and_sessions(client):
    verified_user("anna@example.com")
    sign_in(client, "anna@example.com")
    page = client.get("/").content.decode()
    for url in [
        "/accounts/email/",
        "/accounts/password/change/",
        "/accounts/2fa/",
        "/accounts/sessions/",
    ]:
        assert f'href="{url}"' in page
        assert client.get(url).status_code == 200
