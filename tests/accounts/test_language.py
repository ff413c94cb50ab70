"""Each user's own language (accounts/languages.py): chosen with the switcher, on sign-up,
through /api/v1/me; the fallback for users who never chose; the organization's language."""

import pytest
from django.core import mail
from django.test import Client

from accounts import languages, services
from accounts.models import User
from accounts.permissions import Role
from tests.accounts.signin import PASSWORD
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, as_actor

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


def test_the_switcher_saves_a_signed_in_users_choice(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == "zh-hans"
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    user.refresh_from_db()
    assert user.language == "en"


def test_the_switcher_ignores_unknown_languages_and_anonymous_visitors(client):
    user = UserFactory()
    client.force_login(user)
    client.post("/i18n/setlang/", {"language": "klingon", "next": "/"})
    user.refresh_from_db()
    assert user.language == ""
    anonymous = Client().post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert anonymous.status_code == 302  # Django's view still sets the cookie


def test_sign_up_stores_the_request_language(client, django_capture_on_commit_callbacks):
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})  # anonymous: a cookie
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/accounts/signup/",
            {"email": "zh@example.com", "password1": PASSWORD, "password2": PASSWORD},
        )
    browser = Client(headers={"accept-language": "en-US,en;q=0.9"})
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(
            "/accounts/signup/",
            {"email": "en@example.com", "password1": PASSWORD, "password2": PASSWORD},
        )
    assert User.objects.get(email="zh@example.com").language == "zh-hans"
    assert User.objects.get(email="en@example.com").language == "en"


def test_me_shows_and_changes_the_language(client):
    user = UserFactory(language="en")
    client.force_login(user)
    assert client.get("/api/v1/me").json()["language"] == "en"
    response = client.patch("/api/v1/me", {"language": "zh-hans"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["language"] == "zh-hans"
    user.refresh_from_db()
    assert user.language == "zh-hans"
    bad = client.patch("/api/v1/me", {"language": "fr"}, content_type="application/json")
    assert bad.status_code == 400
    assert "language" in bad.json()["error"]["fields"]
    user.refresh_from_db()
    assert user.language == "zh-hans"


def test_users_who_never_chose_get_the_notification_language(settings):
    settings.NOTIFICATION_LANGUAGE = "zh-hans"
    assert languages.language_of(UserFactory()) == "zh-hans"
    assert languages.language_of(UserFactory(language="en")) == "en"


def test_the_organization_speaks_its_first_owners_language(settings):
    settings.NOTIFICATION_LANGUAGE = "en"
    organization = OrganizationFactory()
    assert languages.organization_language(organization) == "en"  # no owner chose yet
    MembershipFactory(organization=organization, role=Role.OWNER, user=UserFactory())
    MembershipFactory(organization=organization, role=Role.ADMIN, user=UserFactory(language="en"))
    MembershipFactory(
        organization=organization, role=Role.OWNER, user=UserFactory(language="zh-hans")
    )
    assert languages.organization_language(organization) == "zh-hans"


def test_a_status_change_reaches_each_owner_in_their_language(
    django_capture_on_commit_callbacks,
):
    organization = OrganizationFactory(name="示例政务云")
    zh, en = (
        MembershipFactory(
            organization=organization, role=Role.OWNER, user=UserFactory(language=language)
        )
        for language in ("zh-hans", "en")
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.suspend_organization(
            actor=as_actor(UserFactory(is_staff=True)), organization=organization, reason="Unpaid"
        )
    by_address = {message.to[0]: message for message in mail.outbox}
    assert set(by_address) == {zh.user.email, en.user.email}
    assert by_address[en.user.email].subject == "[Token Portal] 示例政务云 is suspended"
    assert "suspended" not in by_address[zh.user.email].subject
