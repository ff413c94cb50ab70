import pytest

from accounts.models import AuditEvent, Department
from accounts.permissions import Role
from tests.factories import DepartmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(owner):
    """HQ > (RND > AI), OPS"""
    org = owner.organization
    hq = DepartmentFactory(organization=org, code="HQ", name="Headquarters")
    rnd = DepartmentFactory(organization=org, code="RND", name="Research", parent=hq)
    ai = DepartmentFactory(organization=org, code="AI", name="AI Lab", parent=rnd)
    ops = DepartmentFactory(organization=org, code="OPS", name="Operations", parent=hq)
    return {d.code: d for d in (hq, rnd, ai, ops)}


def test_the_tree_page_lists_departments_in_tree_order_in_a_fixed_number_of_queries(
    tree, owner, member, client_of, django_assert_num_queries
):
    tree["AI"].managers.add(member(Role.VIEWER, department=tree["AI"]).user)
    client = client_of(owner)
    client.get("/organization/departments/")
    # session, user, membership, departments with member counts, their managers, the bell
    with django_assert_num_queries(6):
        response = client.get("/organization/departments/")
    assert [(d.code, depth) for d, depth in response.context["tree"]] == [
        ("HQ", 0),
        ("OPS", 1),
        ("RND", 1),
        ("AI", 2),
    ]
    assert tree["AI"].managers.get().email in response.content.decode()


def test_the_departments_api_lists_in_a_fixed_number_of_queries(
    tree, owner, client_of, django_assert_num_queries
):
    client = client_of(owner)
    # session, user, membership, count, page, managers
    with django_assert_num_queries(6):
        response = client.get("/api/v1/departments/")
    assert response.json()["count"] == 4


def test_an_owner_creates_a_department_with_a_manager(tree, owner, member, client_of):
    manager = member(Role.DEVELOPER)
    response = client_of(owner).post(
        "/organization/departments/new/",
        {
            "name": "Cloud",
            "code": "CLD",
            "parent": tree["RND"].public_id,
            "managers": [manager.public_id],
        },
    )
    assert response.status_code == 302
    cloud = Department.objects.get(code="CLD")
    assert cloud.parent == tree["RND"]
    assert list(cloud.managers.all()) == [manager.user]
    event = AuditEvent.objects.get(action="department.created")
    assert event.changes["after"]["managers"] == [manager.user.email]


def test_a_code_is_unique_in_the_organization(tree, owner, outsider, client_of):
    DepartmentFactory(organization=outsider.organization, code="NEW")  # another org's: fine
    client = client_of(owner)
    assert (
        client.post("/organization/departments/new/", {"name": "n", "code": "NEW"}).status_code
        == 302
    )
    response = client.post("/organization/departments/new/", {"name": "n", "code": "HQ"})
    assert response.context["form"].errors["code"] == ["Another department already uses this code."]
    response = client.post(
        "/api/v1/departments/", {"name": "n", "code": "HQ"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["code"]


def test_a_department_moves_under_another(tree, owner, client_of):
    response = client_of(owner).patch(
        f"/api/v1/departments/{tree['AI'].public_id}/",
        {"parent": tree["OPS"].public_id},
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["parent"] == tree["OPS"].public_id
    tree["AI"].refresh_from_db()
    assert tree["AI"].parent == tree["OPS"]
    event = AuditEvent.objects.get(action="department.updated")
    assert event.changes == {
        "before": {"parent": tree["RND"].public_id},
        "after": {"parent": tree["OPS"].public_id},
    }


@pytest.mark.parametrize("new_parent", ["HQ", "RND", "AI"])
def test_a_move_never_makes_a_cycle(tree, owner, client_of, new_parent):
    """HQ cannot go under itself, nor under RND or AI below it."""
    client = client_of(owner)
    target = tree["HQ"]
    response = client.post(
        f"/organization/departments/{target.public_id}/",
        {"name": target.name, "code": target.code, "parent": tree[new_parent].public_id},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["parent"] == [
        "A department cannot move under itself or one of its sub-departments."
    ]
    api = client.patch(
        f"/api/v1/departments/{target.public_id}/",
        {"parent": tree[new_parent].public_id},
        content_type="application/json",
    )
    assert api.status_code == 400 and "parent" in api.json()["error"]["fields"]
    target.refresh_from_db()
    assert target.parent is None


def test_a_department_with_sub_departments_is_not_deleted(tree, owner, client_of):
    response = client_of(owner).post(f"/organization/departments/{tree['RND'].public_id}/delete/")
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "This department still owns departments: move or delete them first."
    ]
    assert Department.objects.filter(pk=tree["RND"].pk).exists()


def test_a_department_with_members_is_not_deleted(tree, owner, member, client_of):
    member(Role.DEVELOPER, department=tree["OPS"])
    response = client_of(owner).delete(f"/api/v1/departments/{tree['OPS'].public_id}/")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["non_field_errors"] == [
        "Move this department's members to another department first."
    ]
    assert Department.objects.filter(pk=tree["OPS"].pk).exists()


def test_an_empty_department_is_deleted_and_audited(tree, owner, client_of):
    response = client_of(owner).post(f"/organization/departments/{tree['AI'].public_id}/delete/")
    assert response.status_code == 302
    assert not Department.objects.filter(code="AI").exists()
    event = AuditEvent.objects.get(action="department.deleted")
    assert (event.target_id, event.changes["before"]["code"]) == (tree["AI"].public_id, "AI")


def test_a_manager_must_be_a_member(tree, owner, outsider, client_of):
    """Another organization's member and an address without an account read the same: the
    API tells nothing of accounts elsewhere."""
    errors = []
    for address in (outsider.user.email, "nobody-here@example.com"):
        response = client_of(owner).patch(
            f"/api/v1/departments/{tree['AI'].public_id}/",
            {"managers": [address]},
            content_type="application/json",
        )
        assert response.status_code == 400 and "managers" in response.json()["error"]["fields"]
        errors.append(response.content.decode().replace(address, "ADDRESS"))
    assert errors[0] == errors[1]


@pytest.mark.parametrize("role", [Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_a_department_manager_still_cannot_change_departments(tree, member, client_of, role):
    """Managing a department is about its projects, keys and quotas, not the tree."""
    manager = member(role, department=tree["RND"])
    tree["RND"].managers.add(manager.user)
    client = client_of(manager)
    assert client.get("/organization/departments/").status_code == 200
    assert client.get(f"/organization/departments/{tree['AI'].public_id}/").status_code == 403
    response = client.patch(
        f"/api/v1/departments/{tree['AI'].public_id}/",
        {"name": "x"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert client.delete(f"/api/v1/departments/{tree['AI'].public_id}/").status_code == 403


def test_an_outsider_sees_a_404_for_a_department(tree, outsider, client_of):
    client = client_of(outsider)
    dep = tree["AI"].public_id
    assert client.get(f"/organization/departments/{dep}/").status_code == 404
    assert client.post(f"/organization/departments/{dep}/delete/").status_code == 404
    assert client.get(f"/api/v1/departments/{dep}/").status_code == 404
    assert client.delete(f"/api/v1/departments/{dep}/").status_code == 404
    response = client.post(
        "/api/v1/departments/",
        {"name": "x", "code": "X", "parent": dep},
        content_type="application/json",
    )
    assert response.status_code == 400 and "parent" in response.json()["error"]["fields"]
    assert Department.objects.filter(pk=tree["AI"].pk).exists()
