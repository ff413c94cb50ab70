"""Issue 3's "done when", from a verified account on (sign-up itself is tested with allauth):
create an enterprise organization (an invalid USCC is a field error), invite a colleague as
developer into a department; the colleague accepts and sees only what a developer may."""

import re

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import Membership, Organization
from accounts.permissions import Role
from tests.factories import VerifiedUserFactory, make_uscc

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # the factories' password


def sign_in(client, email, next_url=None):
    data = {"login": email, "password": PASSWORD, **({"next": next_url} if next_url else {})}
    response = client.post("/accounts/login/", data)
    assert response.status_code == 302, response.content[:300]
    return response["Location"]


def test_a_new_customer_sets_up_and_a_colleague_joins_as_developer(
    django_capture_on_commit_callbacks, mailoutbox
):
    founder = VerifiedUserFactory(email="founder@acme.example")
    VerifiedUserFactory(email="colleague@acme.example")
    boss = Client()
    assert sign_in(boss, founder.email) == "/"
    assert "/organization/new/" in boss.get("/").content.decode()

    form = {
        "kind": "enterprise",
        "name": "Acme",
        "legal_name": "阿克米科技有限公司",
        "uscc": "91110000000000000X",
        "contact_name": "张伟",
        "contact_phone": "+86 10 8888 0000",
        "address": "北京市海淀区中关村大街1号",
        "billing_email": "finance@acme.example",
    }
    response = boss.post("/organization/new/", form)
    assert "uscc" in response.context["form"].errors
    response = boss.post("/organization/new/", {**form, "uscc": make_uscc(7)})
    assert response.status_code == 302
    organization = Organization.objects.get(name="Acme")
    assert organization.status == Organization.Status.PENDING

    boss.post("/organization/departments/new/", {"name": "Platform", "code": "PLT"})
    department = organization.departments.get(code="PLT")
    with django_capture_on_commit_callbacks(execute=True):
        boss.post(
            "/organization/invitations/",
            {
                "email": "colleague@acme.example",
                "role": "developer",
                "department": department.public_id,
            },
        )
    base = re.escape(settings.PORTAL_BASE_URL.rstrip("/"))
    link = re.search(base + r"(/\S+)", mailoutbox[-1].body).group(1)

    colleague = Client()
    assert f"?next={link}" in colleague.get(link).content.decode()
    assert sign_in(colleague, "colleague@acme.example", next_url=link) == link
    assert colleague.post(link).status_code == 302
    membership = Membership.objects.get(user__email="colleague@acme.example")
    assert (membership.organization, membership.role, membership.department) == (
        organization,
        Role.DEVELOPER,
        department,
    )

    home = colleague.get("/").content.decode()
    assert "Acme" in home and "Developer" in home and "Platform" in home
    assert "/organization/audit/" not in home and "/organization/invitations/" not in home
    for allowed in ("/organization/members/", "/organization/departments/", "/api/v1/members/"):
        assert colleague.get(allowed).status_code == 200
    for refused in (
        "/organization/settings/",
        "/organization/invitations/",
        "/organization/audit/",
        "/organization/departments/new/",
        "/api/v1/audit-events/",
    ):
        assert colleague.get(refused).status_code == 403
    response = colleague.patch(
        f"/api/v1/members/{membership.public_id}/",
        {"role": "owner"},
        content_type="application/json",
    )
    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.role == Role.DEVELOPER
