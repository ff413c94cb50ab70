"""The profile page (/accounts/profile/): the signed-in user's name and language, saved by
accounts.services.update_profile, which audits the change in each of the user's
organizations; the language switcher and PATCH /api/v1/me go through the same service."""

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from accounts import services
from accounts.models import AuditEvent
from accounts.permissions import Role
from tests.factories import MembershipFactory, UserFactory, as_actor

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


def profile_events(user):
    return AuditEvent.objects.filter(action="profile.updated", target_id=user.public_id)


def test_the_user_menu_leads_to_the_profile_with_links_to_allauths_pages(owner, client_of):
    client = client_of(owner)
    assert 'href="/accounts/profile/"' in client.get("/").content.decode()
    page = client.get("/accounts/profile/")
    assert page.status_code == 200
    html = page.content.decode()
    for url in ("/accounts/email/", "/accounts/password/change/", "/accounts/2fa/"):
        assert f'href="{url}"' in html
    assert page.context["form"].initial["full_name"] == owner.user.full_name


def test_saving_changes_name_and_language_audited_in_each_organization(owner, client_of):
    user = owner.user
    user.language = "en"
    user.save(update_fields=["language"])
    old_name = user.full_name
    other = MembershipFactory(user=user, role=Role.VIEWER)
    client = client_of(owner)
    response = client.post(
        "/accounts/profile/",
        {"full_name": "  Li Lei  ", "language": "zh-hans"},
        HTTP_USER_AGENT="test-browser",
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    user.refresh_from_db()
    assert (user.full_name, user.language) == ("Li Lei", "zh-hans")
    events = profile_events(user)
    assert {e.organization for e in events} == {owner.organization, other.organization}
    for event in events:
        assert event.actor == user and event.user_agent == "test-browser"
        assert event.changes == {
            "before": {"full_name": old_name, "language": "en"},
            "after": {"full_name": "Li Lei", "language": "zh-hans"},
        }
    assert "个人资料已保存" in client.get("/accounts/profile/").content.decode()


def test_saving_nothing_new_records_nothing(owner, client_of):
    user = owner.user
    client_of(owner).post("/accounts/profile/", {"full_name": user.full_name, "language": "en"})
    client_of(owner).post("/accounts/profile/", {"full_name": user.full_name, "language": "en"})
    assert profile_events(user).count() == 1  # the first save chose the language


def test_bad_input_changes_nothing(owner, client_of):
    user = owner.user
    response = client_of(owner).post(
        "/accounts/profile/", {"full_name": "x" * 151, "language": "fr"}
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"full_name", "language"}
    before = (user.full_name, user.language)
    user.refresh_from_db()
    assert (user.full_name, user.language) == before
    assert not profile_events(user).exists()
    with pytest.raises(ValidationError):
        services.update_profile(actor=as_actor(user), language="klingon")


def test_a_user_without_organization_is_audited_for_staff():
    user = UserFactory(language="en")
    services.update_profile(actor=as_actor(user), language="zh-hans")
    (event,) = profile_events(user)
    assert event.organization is None


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/accounts/profile/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_switcher_and_the_api_audit_a_language_change(member, client_of):
    membership = member(Role.DEVELOPER)
    user = membership.user
    client = client_of(membership)
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})  # no change: no event
    response = client.patch(
        "/api/v1/me", {"language": "en", "full_name": "Han Meimei"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["full_name"] == "Han Meimei"
    changes = [e.changes for e in profile_events(user).order_by("created_at", "id")]
    assert changes == [
        {"before": {"language": ""}, "after": {"language": "zh-hans"}},
        {
            "before": {"full_name": changes[1]["before"]["full_name"], "language": "zh-hans"},
            "after": {"full_name": "Han Meimei", "language": "en"},
        },
    ]
    assert all(e.organization == membership.organization for e in profile_events(user))
