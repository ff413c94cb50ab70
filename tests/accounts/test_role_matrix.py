# ruff: noqa: E501  (the endpoint table reads best one endpoint a line)
"""Every role against every action, on the real pages and endpoints of the accounts app.

A role the permission map allows gets a success (2xx/3xx); any other role gets 403.
"manager" is a viewer who manages a department: managing adds rights over projects, keys and
quotas only, so on these pages they are a viewer.
"""

from types import SimpleNamespace

import pytest

from accounts.permissions import PERMISSIONS, Action, Role
from tests.factories import DepartmentFactory, InvitationFactory

pytestmark = pytest.mark.django_db

JSON = "application/json"


def settings_data(w):
    org = w.department.organization
    return {
        "name": org.name,
        "legal_name": org.legal_name,
        "contact_name": "New contact",
        "contact_phone": org.contact_phone,
        "address": org.address,
        "billing_email": org.billing_email,
    }


# name: (action, method, path, body). Paths name the world's objects: {target} (a developer),
# {department}, {empty} (a department with nothing in it), {invitation}. A body may be a
# function of the world. /api/ bodies are sent as JSON.
A = Action
ENDPOINTS = {
    "api organization": (A.VIEW_ORGANIZATION, "get", "/api/v1/organization/", None),
    "settings page": (A.MANAGE_ORGANIZATION, "get", "/organization/settings/", None),
    "settings save": (A.MANAGE_ORGANIZATION, "post", "/organization/settings/", settings_data),
    "api organization patch": (A.MANAGE_ORGANIZATION, "patch", "/api/v1/organization/", {"contact_name": "x"}),
    "member list": (A.VIEW_MEMBERS, "get", "/organization/members/", None),
    "api members": (A.VIEW_MEMBERS, "get", "/api/v1/members/", None),
    "api member": (A.VIEW_MEMBERS, "get", "/api/v1/members/{target}/", None),
    "department tree": (A.VIEW_MEMBERS, "get", "/organization/departments/", None),
    "api departments": (A.VIEW_MEMBERS, "get", "/api/v1/departments/", None),
    "api department": (A.VIEW_MEMBERS, "get", "/api/v1/departments/{department}/", None),
    "member page": (A.MANAGE_MEMBERS, "get", "/organization/members/{target}/", None),
    "member change": (A.MANAGE_MEMBERS, "post", "/organization/members/{target}/", {"role": "viewer"}),
    "member remove": (A.MANAGE_MEMBERS, "post", "/organization/members/{target}/remove/", None),
    "api member patch": (A.MANAGE_MEMBERS, "patch", "/api/v1/members/{target}/", {"role": "viewer"}),
    "api member delete": (A.MANAGE_MEMBERS, "delete", "/api/v1/members/{target}/", None),
    "invitation list": (A.MANAGE_MEMBERS, "get", "/organization/invitations/", None),
    "invitation send": (A.MANAGE_MEMBERS, "post", "/organization/invitations/", {"email": "n@example.com", "role": "viewer"}),
    "invitation resend": (A.MANAGE_MEMBERS, "post", "/organization/invitations/{invitation}/resend/", None),
    "invitation revoke": (A.MANAGE_MEMBERS, "post", "/organization/invitations/{invitation}/revoke/", None),
    "api invitations": (A.MANAGE_MEMBERS, "get", "/api/v1/invitations/", None),
    "api invitation create": (A.MANAGE_MEMBERS, "post", "/api/v1/invitations/", {"email": "n@example.com", "role": "viewer"}),
    "api invitation resend": (A.MANAGE_MEMBERS, "post", "/api/v1/invitations/{invitation}/resend/", None),
    "api invitation revoke": (A.MANAGE_MEMBERS, "post", "/api/v1/invitations/{invitation}/revoke/", None),
    "grant owner": (A.MANAGE_OWNERS, "post", "/organization/members/{target}/", {"role": "owner"}),
    "api grant owner": (A.MANAGE_OWNERS, "patch", "/api/v1/members/{target}/", {"role": "owner"}),
    "department new page": (A.MANAGE_DEPARTMENTS, "get", "/organization/departments/new/", None),
    "department create": (A.MANAGE_DEPARTMENTS, "post", "/organization/departments/new/", {"name": "N", "code": "N"}),
    "department edit": (A.MANAGE_DEPARTMENTS, "post", "/organization/departments/{department}/", lambda w: {"name": "R", "code": w.department.code}),
    "department delete": (A.MANAGE_DEPARTMENTS, "post", "/organization/departments/{empty}/delete/", None),
    "api department create": (A.MANAGE_DEPARTMENTS, "post", "/api/v1/departments/", {"name": "N", "code": "N"}),
    "api department move": (A.MANAGE_DEPARTMENTS, "patch", "/api/v1/departments/{empty}/", lambda w: {"parent": w.department.public_id}),
    "api department delete": (A.MANAGE_DEPARTMENTS, "delete", "/api/v1/departments/{empty}/", None),
    "audit page": (A.VIEW_AUDIT, "get", "/organization/audit/", None),
    "audit export": (A.VIEW_AUDIT, "get", "/organization/audit/export.csv", None),
    "api audit events": (A.VIEW_AUDIT, "get", "/api/v1/audit-events/", None),
}  # fmt: skip

ROLES = [*Role, "manager"]


def test_every_action_of_the_map_that_these_pages_guard_is_covered():
    covered = {action for action, *_ in ENDPOINTS.values()}
    assert covered == {
        Action.VIEW_ORGANIZATION,
        Action.MANAGE_ORGANIZATION,
        Action.VIEW_MEMBERS,
        Action.MANAGE_MEMBERS,
        Action.MANAGE_OWNERS,
        Action.MANAGE_DEPARTMENTS,
        Action.VIEW_AUDIT,
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_role_may_use_an_endpoint_exactly_when_the_map_allows(
    owner, member, client_of, role, endpoint
):
    action, method, path, body = ENDPOINTS[endpoint]
    org = owner.organization
    department = DepartmentFactory(organization=org)
    if role == "manager":
        actor = member(Role.VIEWER, department=department)
        department.managers.add(actor.user)
        effective_role = Role.VIEWER
    else:
        actor = owner if role == Role.OWNER else member(role)
        effective_role = role
    world = SimpleNamespace(
        department=department,
        empty=DepartmentFactory(organization=org),
        target=member(Role.DEVELOPER),
        invitation=InvitationFactory(organization=org),
    )
    path = path.format(**{name: obj.public_id for name, obj in vars(world).items()})
    kwargs = {"data": body(world) if callable(body) else body} if body else {}
    if path.startswith("/api/") and body:
        kwargs["content_type"] = "application/json"
    response = getattr(client_of(actor), method)(path, **kwargs)
    if effective_role in PERMISSIONS[action]:
        assert 200 <= response.status_code < 400, response.content[:500]
    else:
        assert response.status_code == 403
