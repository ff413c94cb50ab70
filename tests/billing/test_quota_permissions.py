"""Who may set quotas and decide increase requests; pages and API per role."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from billing.quotas import services as quotas
from billing.quotas.models import Quota, QuotaIncreaseRequest
from projects import services
from tests.factories import as_actor

pytestmark = pytest.mark.django_db
Scope = Quota.Scope


def create(membership, scope, target=None, limit=100):
    return quotas.create_quota(
        actor=as_actor(membership), scope=scope, target=target, limit=Decimal(limit)
    )


def test_owners_and_admins_set_quotas_everywhere(owner, admin, departments, project_a1, key_a1):
    for membership in (owner, admin):
        create(membership, Scope.ORGANIZATION)
        create(membership, Scope.DEPARTMENT, departments["A"])
        create(membership, Scope.PROJECT, project_a1)
        create(membership, Scope.API_KEY, key_a1[0])
    assert Quota.objects.count() == 8


def test_a_manager_sets_project_and_key_quotas_in_their_subtree_only(
    manager_of_a, departments, project_a1, project_b, key_a1
):
    create(manager_of_a, Scope.PROJECT, project_a1)  # A1 is under A, which they manage
    create(manager_of_a, Scope.API_KEY, key_a1[0])
    for scope, target in [
        (Scope.DEPARTMENT, departments["A"]),  # their own department's quota
        (Scope.DEPARTMENT, departments["A1"]),  # department quotas are for owners and admins
        (Scope.DEPARTMENT, departments["ROOT"]),  # an ancestor
        (Scope.ORGANIZATION, None),
        (Scope.PROJECT, project_b),  # outside their subtree
    ]:
        with pytest.raises(PermissionDenied):
            create(manager_of_a, scope, target)


def test_a_manager_cannot_edit_their_department_quota(owner, manager_of_a, departments):
    quota = create(owner, Scope.DEPARTMENT, departments["A"])
    with pytest.raises(PermissionDenied):
        quotas.update_quota(actor=as_actor(manager_of_a), quota=quota, limit=Decimal(10**9))


@pytest.mark.parametrize("role", ["developer_in_a1", "viewer"])
def test_developers_and_viewers_set_no_quota(request, role, project_a1):
    with pytest.raises(PermissionDenied):
        create(request.getfixturevalue(role), Scope.PROJECT, project_a1)


def test_bad_settings_are_refused(owner, departments):
    with pytest.raises(quotas.ValidationError):
        quotas.create_quota(
            actor=as_actor(owner), scope=Scope.DEPARTMENT, target=departments["A"],
            limit=Decimal("10.5"),
        )  # fmt: skip
    with pytest.raises(quotas.ValidationError):
        quotas.create_quota(
            actor=as_actor(owner), scope=Scope.ORGANIZATION, limit=Decimal(10), thresholds=[0]
        )
    assert not Quota.objects.exists()


def test_changes_are_audited(owner, departments):
    quota = create(owner, Scope.DEPARTMENT, departments["A"])
    quotas.update_quota(actor=as_actor(owner), quota=quota, limit=Decimal(500))
    from accounts.models import AuditEvent

    updated = AuditEvent.objects.get(action="quota.updated")
    assert updated.changes == {"before": {"limit": "100.00"}, "after": {"limit": "500"}}


# --- Increase requests ------------------------------------------------------------------


@pytest.fixture
def project_quota(owner, project_a1):
    return create(owner, Scope.PROJECT, project_a1, limit=1000)


def ask(membership, quota, new_limit=5000):
    return quotas.request_increase(
        actor=as_actor(membership), quota=quota, new_limit=Decimal(new_limit), reason="Launch"
    )


def test_a_developer_asks_and_an_admin_approves(developer_in_a1, admin, owner, project_quota):
    request = ask(developer_in_a1, project_quota)
    assert set(request.quota.organization.notifications.values_list("user", flat=True)) == {
        owner.user_id, admin.user_id,
    }  # fmt: skip
    quotas.decide_increase(actor=as_actor(admin), increase=request, approve=True, comment="OK")
    project_quota.refresh_from_db()
    assert project_quota.limit == 5000
    request.refresh_from_db()
    assert (request.status, request.decided_by) == ("approved", admin.user)
    assert developer_in_a1.user.notifications.get().event_type == "quota_request.approved"


def test_a_rejection_keeps_the_limit_and_is_final(developer_in_a1, owner, project_quota):
    request = ask(developer_in_a1, project_quota)
    quotas.decide_increase(actor=as_actor(owner), increase=request, approve=False, comment="No")
    project_quota.refresh_from_db()
    assert project_quota.limit == 1000
    with pytest.raises(quotas.ValidationError):
        quotas.decide_increase(actor=as_actor(owner), increase=request, approve=True)


def test_a_manager_asks_but_may_not_decide(manager_of_a, project_quota, developer_in_a1):
    request = ask(manager_of_a, project_quota)
    with pytest.raises(PermissionDenied):
        quotas.decide_increase(actor=as_actor(manager_of_a), increase=request, approve=True)
    with pytest.raises(PermissionDenied):
        quotas.decide_increase(actor=as_actor(developer_in_a1), increase=request, approve=True)


def test_viewers_and_developers_of_other_departments_may_not_ask(viewer, org, owner, project_b):
    from tests.factories import MembershipFactory

    quota = create(owner, Scope.PROJECT, project_b)
    with pytest.raises(PermissionDenied):
        ask(viewer, quota)
    other = MembershipFactory(
        organization=org, role="developer", department=project_b.department.parent
    )
    ask(other, quota)  # ROOT's developer: B is in their subtree
    assert QuotaIncreaseRequest.objects.count() == 1


def test_asking_for_less_is_refused(developer_in_a1, project_quota):
    with pytest.raises(quotas.ValidationError):
        ask(developer_in_a1, project_quota, new_limit=10)


def test_quotas_follow_their_project_to_its_new_department(
    owner, manager_of_a, departments, project_a1, key_a1
):
    project_quota = create(manager_of_a, Scope.PROJECT, project_a1)
    key_quota = create(manager_of_a, Scope.API_KEY, key_a1[0])
    services.update_project(
        actor=as_actor(owner), project=project_a1, name=project_a1.name, description="",
        department=departments["B"],
    )  # fmt: skip
    for quota in (project_quota, key_quota):
        quota.refresh_from_db()
        assert quota.owner_department == departments["B"]
        with pytest.raises(PermissionDenied):  # A's manager no longer manages them
            quotas.update_quota(actor=as_actor(manager_of_a), quota=quota, limit=Decimal(5))
