import pytest

from accounts.models import Department
from accounts.permissions import EVERYWHERE, PERMISSIONS, Action, Role, can, scope_for
from tests.factories import DepartmentFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(org, departments):
    """`org` and the ids of its departments ROOT > (A > A1), B, by code."""
    return org, {code: department.id for code, department in departments.items()}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_every_role_against_every_action_follows_the_map(role, action):
    membership = MembershipFactory(role=role)
    assert can(membership, action) is (role in PERMISSIONS[action])


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.BILLING, Role.VIEWER])
def test_org_wide_roles_act_everywhere_they_are_allowed(tree, role):
    org, deps = tree
    membership = MembershipFactory(organization=org, role=role, department_id=deps["A"])
    assert scope_for(membership, Action.VIEW_PROJECTS) is EVERYWHERE


def test_a_developer_acts_within_their_department_subtree(tree):
    org, deps = tree
    developer = MembershipFactory(organization=org, role=Role.DEVELOPER, department_id=deps["A"])
    assert scope_for(developer, Action.MANAGE_KEYS) == {deps["A"], deps["A1"]}
    assert can(developer, Action.MANAGE_KEYS, deps["A1"])
    assert not can(developer, Action.MANAGE_KEYS, deps["B"])
    assert not can(developer, Action.MANAGE_PROJECTS)


def test_a_developer_without_department_acts_on_the_whole_organization(tree):
    org, _ = tree
    developer = MembershipFactory(organization=org, role=Role.DEVELOPER, department=None)
    assert scope_for(developer, Action.MANAGE_KEYS) is EVERYWHERE


def test_a_department_manager_manages_projects_in_the_managed_subtree_only(tree):
    org, deps = tree
    viewer = MembershipFactory(organization=org, role=Role.VIEWER)
    Department.objects.get(id=deps["A"]).managers.add(viewer.user)
    assert scope_for(viewer, Action.MANAGE_PROJECTS) == {deps["A"], deps["A1"]}
    assert not can(viewer, Action.MANAGE_PROJECTS, deps["B"])
    assert not can(viewer, Action.MANAGE_MEMBERS)


def test_a_subtree_never_crosses_into_another_organization(tree):
    org, deps = tree
    other = DepartmentFactory()
    developer = MembershipFactory(organization=org, role=Role.DEVELOPER, department_id=deps["ROOT"])
    assert other.id not in scope_for(developer, Action.MANAGE_KEYS)


def test_for_member_narrows_department_owned_rows(tree):
    org, deps = tree
    developer = MembershipFactory(organization=org, role=Role.DEVELOPER, department_id=deps["A"])
    # Department rows are not department-owned: a developer sees the organization's tree.
    visible = Department.objects.for_member(developer, Action.VIEW_MEMBERS)
    assert set(visible.values_list("id", flat=True)) == set(deps.values())
    assert not Department.objects.for_member(developer, Action.MANAGE_DEPARTMENTS).exists()
