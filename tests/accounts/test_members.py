import pytest

from accounts.models import AuditEvent, Membership
from accounts.permissions import Role
from tests.factories import DepartmentFactory

pytestmark = pytest.mark.django_db


def test_the_member_list_shows_every_member_in_a_fixed_number_of_queries(
    owner, member, client_of, django_assert_num_queries
):
    department = DepartmentFactory(organization=owner.organization)
    for role in Role:
        member(role, department=department)
    client = client_of(owner)
    client.get("/organization/members/")  # warm the session
    # session, user, membership, count, page of members, the bell
    with django_assert_num_queries(6):
        response = client.get("/organization/members/")
    assert len(response.context["object_list"]) == 6


def test_the_members_api_lists_members_in_a_fixed_number_of_queries(
    owner, member, client_of, django_assert_num_queries
):
    for role in Role:
        member(role)
    client = client_of(owner)
    with django_assert_num_queries(5):
        response = client.get("/api/v1/members/")
    assert response.json()["count"] == 6


def test_an_admin_changes_a_role_and_department_and_it_is_audited(member, client_of):
    admin = member(Role.ADMIN)
    developer = member(Role.DEVELOPER)
    department = DepartmentFactory(organization=admin.organization)
    response = client_of(admin).post(
        f"/organization/members/{developer.public_id}/",
        {"role": Role.VIEWER, "department": department.public_id},
    )
    assert response.status_code == 302
    developer.refresh_from_db()
    assert (developer.role, developer.department) == (Role.VIEWER, department)
    event = AuditEvent.objects.get(action="member.changed")
    assert event.actor == admin.user
    assert event.changes == {
        "before": {"role": "developer", "department": None},
        "after": {"role": "viewer", "department": department.public_id},
    }


def test_a_department_of_another_organization_is_refused(owner, member, outsider, client_of):
    developer = member(Role.DEVELOPER)
    foreign = DepartmentFactory(organization=outsider.organization)
    response = client_of(owner).patch(
        f"/api/v1/members/{developer.public_id}/",
        {"department": foreign.public_id},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "department" in response.json()["error"]["fields"]
    developer.refresh_from_db()
    assert developer.department is None


def test_only_an_owner_grants_the_owner_role(member, client_of):
    admin, developer = member(Role.ADMIN), member(Role.DEVELOPER)
    response = client_of(admin).post(
        f"/organization/members/{developer.public_id}/", {"role": Role.OWNER}
    )
    assert response.status_code == 403
    developer.refresh_from_db()
    assert developer.role == Role.DEVELOPER


def test_an_admin_cannot_demote_or_remove_an_owner(owner, member, client_of):
    client = client_of(member(Role.ADMIN))
    response = client.patch(
        f"/api/v1/members/{owner.public_id}/", {"role": "viewer"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert client.delete(f"/api/v1/members/{owner.public_id}/").status_code == 403
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_the_last_owner_cannot_be_demoted_or_removed(owner, client_of):
    client = client_of(owner)
    response = client.post(f"/organization/members/{owner.public_id}/", {"role": Role.ADMIN})
    assert response.status_code == 200
    assert "The last owner cannot be demoted." in response.context["form"].non_field_errors()
    response = client.post(f"/organization/members/{owner.public_id}/remove/")
    assert response.status_code == 200
    assert "The last owner cannot be removed." in response.context["form"].non_field_errors()
    response = client.delete(f"/api/v1/members/{owner.public_id}/")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["non_field_errors"] == [
        "The last owner cannot be removed."
    ]
    owner.refresh_from_db()
    assert owner.role == Role.OWNER
    assert not AuditEvent.objects.exists()


def test_an_owner_hands_over_to_another_owner(owner, member, client_of):
    second = member(Role.DEVELOPER)
    client = client_of(owner)
    client.post(f"/organization/members/{second.public_id}/", {"role": Role.OWNER})
    response = client.post(f"/organization/members/{owner.public_id}/remove/")
    assert response.status_code == 302
    assert list(Membership.objects.values_list("role", flat=True)) == [Role.OWNER]
    removed = AuditEvent.objects.get(action="member.removed")
    assert removed.changes["before"]["user"] == owner.user.email


def test_removing_a_member_is_audited(owner, member, client_of):
    viewer = member(Role.VIEWER)
    response = client_of(owner).delete(f"/api/v1/members/{viewer.public_id}/")
    assert response.status_code == 204
    assert not Membership.objects.filter(pk=viewer.pk).exists()
    event = AuditEvent.objects.get(action="member.removed")
    assert event.target_id == viewer.public_id
    assert event.changes == {
        "before": {"user": viewer.user.email, "role": "viewer", "department": None}
    }


@pytest.mark.parametrize("role", [Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_read_only_roles_see_members_but_cannot_change_them(member, owner, client_of, role):
    client = client_of(member(role))
    page = client.get("/organization/members/")
    assert page.status_code == 200 and owner.user.email in page.content.decode()
    assert f"/organization/members/{owner.public_id}/" not in page.content.decode()
    assert client.get(f"/organization/members/{owner.public_id}/").status_code == 403
    response = client.patch(
        f"/api/v1/members/{owner.public_id}/", {"role": "viewer"}, content_type="application/json"
    )
    assert response.status_code == 403


def test_an_outsider_sees_a_404_for_a_member(owner, outsider, client_of):
    client = client_of(outsider)
    assert client.get(f"/organization/members/{owner.public_id}/").status_code == 404
    assert client.get(f"/api/v1/members/{owner.public_id}/").status_code == 404
    assert client.delete(f"/api/v1/members/{owner.public_id}/").status_code == 404
    assert Membership.objects.filter(pk=owner.pk).exists()
