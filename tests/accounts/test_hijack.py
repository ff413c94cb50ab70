"""Staff view the portal as a customer's member (accounts/hijack.py): MFA-guarded, never as
staff, bannered, read-only, audited at start and release."""

import pytest
from django.contrib.auth.models import Permission

from accounts.models import AuditEvent
from accounts.permissions import Role
from projects.models import Project
from tests.accounts.signin import sign_in, totp_code, totp_set_up_earlier, verified_user
from tests.factories import MembershipFactory, OrganizationFactory, VerifiedUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer():
    organization = OrganizationFactory(name="示例政务云", require_mfa=True)
    # No second factor although the organization requires one: staff still see the portal.
    return MembershipFactory(organization=organization, role=Role.OWNER, user=VerifiedUserFactory())


def view_as(client, user):
    return client.post("/support/view-as/", {"user_pk": user.pk, "next": "/"})


def audit(action):
    return list(AuditEvent.objects.filter(action=action))


def test_the_member_page_offers_view_as(client, staff_user, customer):
    page = client.get(f"/admin/accounts/membership/{customer.pk}/change/").content.decode()
    assert "/support/view-as/" in page and f'value="{customer.user.pk}"' in page
    staff_page = client.get(f"/admin/accounts/user/{staff_user.pk}/change/").content.decode()
    assert "/support/view-as/" not in staff_page  # staff are never viewed as


def test_staff_view_as_a_member_with_a_banner_and_it_is_audited(client, staff_user, customer):
    response = view_as(client, customer.user)
    assert (response.status_code, response.headers["Location"]) == (302, "/")

    page = client.get("/")  # the organization requires MFA; the support session passes
    assert page.status_code == 200 and page.wsgi_request.user == customer.user
    html = page.content.decode()
    assert 'class="support-banner"' in html and customer.user.email in html
    assert "/support/release/" in html and "示例政务云" in html
    assert client.get("/projects/").status_code == 200

    [started] = audit("support.view_as_started")
    assert (started.organization, started.actor, started.target_id) == (
        customer.organization, staff_user, customer.user.public_id,
    )  # fmt: skip


def test_a_support_session_is_read_only(client, staff_user, customer):
    view_as(client, customer.user)
    response = client.post("/projects/new/", {"name": "Support was here"})
    assert response.status_code == 403
    api = client.post("/api/v1/projects/", {"name": "Nor here"}, content_type="application/json")
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "read_only_support_session"
    assert not Project.objects.exists()
    assert client.post("/accounts/logout/").status_code == 403  # release, not sign out
    assert client.post("/i18n/setlang/", {"language": "zh-hans"}).status_code == 302
    customer.user.refresh_from_db()
    assert customer.user.language == ""  # the staff member's language is not the customer's


def test_release_is_audited_and_the_console_asks_for_the_code_again(client, staff_user, customer):
    view_as(client, customer.user)
    response = client.post("/support/release/", {"next": "/admin/"})
    assert (response.status_code, response.headers["Location"]) == (302, "/admin/")
    [ended] = audit("support.view_as_ended")
    assert (ended.organization, ended.actor) == (customer.organization, staff_user)
    assert client.get("/").wsgi_request.user == staff_user
    assert 'class="support-banner"' not in client.get("/").content.decode()
    # The fresh session has no second-factor record of the staff member: no MFA bypass.
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/2fa/reauthenticate/")


def test_a_session_without_the_staff_members_second_factor_is_refused(client, customer):
    staff = verified_user("ops@example.com", is_staff=True, is_superuser=True)
    totp_set_up_earlier(staff)
    client.force_login(staff)  # signed in without using the second factor
    assert view_as(client, customer.user).status_code == 403
    assert client.get("/").wsgi_request.user == staff
    assert not audit("support.view_as_started")


def test_staff_are_never_viewed_as(client, staff_user):
    other = verified_user("colleague@example.com", is_staff=True)
    assert view_as(client, other).status_code == 403
    assert client.get("/").wsgi_request.user == staff_user


def test_plain_staff_need_the_permission(client, customer):
    staff = verified_user("support@example.com", is_staff=True)
    sign_in(client, staff.email, code=totp_code(totp_set_up_earlier(staff)))
    assert view_as(client, customer.user).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="hijack_user"))
    assert view_as(client, customer.user).status_code == 302
    assert client.get("/").wsgi_request.user == customer.user
