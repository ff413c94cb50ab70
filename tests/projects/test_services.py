"""The services: permissions asserted again, validation, audit trail."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.models import AuditEvent
from projects import services
from projects.models import ApiKey, Project
from tests.factories import DepartmentFactory, as_actor

pytestmark = pytest.mark.django_db


def test_creating_a_project_is_audited(owner, departments):
    project = services.create_project(
        actor=services.Actor(user=owner.user, membership=owner, ip_address="198.51.100.1"),
        name="Search",
        description="d",
        department=departments["A"],
    )
    assert project.public_id.startswith("prj_")
    event = AuditEvent.objects.get(action="project.created")
    assert (event.organization, event.actor, event.target_id) == (
        owner.organization,
        owner.user,
        project.public_id,
    )
    assert event.ip_address == "198.51.100.1"


def test_a_developer_cannot_create_projects(developer_in_a, departments):
    with pytest.raises(PermissionDenied):
        services.create_project(
            actor=as_actor(developer_in_a), name="x", department=departments["A"]
        )


def test_a_manager_creates_projects_in_the_managed_subtree_only(manager_of_b, departments):
    services.create_project(actor=as_actor(manager_of_b), name="ok", department=departments["B"])
    with pytest.raises(PermissionDenied):
        services.create_project(
            actor=as_actor(manager_of_b), name="no", department=departments["A"]
        )
    with pytest.raises(PermissionDenied):  # no department: organization-wide roles only
        services.create_project(actor=as_actor(manager_of_b), name="no")


def test_a_department_of_another_organization_is_refused(owner):
    with pytest.raises(ValidationError) as error:
        services.create_project(actor=as_actor(owner), name="x", department=DepartmentFactory())
    assert "department" in error.value.message_dict


def test_an_outsider_cannot_touch_the_project(outsider, project_a):
    with pytest.raises(PermissionDenied):
        services.archive_project(actor=as_actor(outsider), project=project_a)
    with pytest.raises(PermissionDenied):
        services.create_api_key(actor=as_actor(outsider), project=project_a, name="x")


def test_a_developer_creates_keys_in_their_subtree_only(
    developer_in_a, departments, owner, catalog
):
    a1 = services.create_project(actor=as_actor(owner), name="A1", department=departments["A1"])
    b = services.create_project(actor=as_actor(owner), name="B", department=departments["B"])
    key, plaintext = services.create_api_key(
        actor=as_actor(developer_in_a), project=a1, name="mine"
    )
    assert key.created_by == developer_in_a.user and plaintext.startswith("tpk_")
    with pytest.raises(PermissionDenied):
        services.create_api_key(actor=as_actor(developer_in_a), project=b, name="theirs")


def test_a_viewer_cannot_create_keys(viewer, project_a):
    with pytest.raises(PermissionDenied):
        services.create_api_key(actor=as_actor(viewer), project=project_a, name="x")


def test_updating_a_project_is_audited_with_the_changes(owner, project_a, departments):
    services.update_project(
        actor=as_actor(owner),
        project=project_a,
        name="Renamed",
        description="",
        department=departments["A"],
    )
    event = AuditEvent.objects.get(action="project.updated")
    assert event.changes == {"before": {"name": "Search A"}, "after": {"name": "Renamed"}}


def test_archiving_keeps_the_keys_and_refuses_new_ones(owner, project_a, key_a):
    services.archive_project(actor=as_actor(owner), project=project_a)
    project_a.refresh_from_db()
    assert project_a.status == Project.Status.ARCHIVED and project_a.archived_at
    assert project_a.api_keys.count() == 1
    with pytest.raises(ValidationError) as error:
        services.create_api_key(actor=as_actor(owner), project=project_a, name="late")
    assert error.value.code == "project_archived"
    assert AuditEvent.objects.filter(
        action="project.archived", target_id=project_a.public_id
    ).exists()


def test_key_settings_are_validated_field_by_field(owner, project_a, catalog):
    with pytest.raises(ValidationError) as error:
        services.create_api_key(
            actor=as_actor(owner),
            project=project_a,
            name="bad",
            allowed_models=["chat-1", "no-such-model"],
            ip_allowlist=["10.0.0.1", "300.1.1.1"],
            expires_at=timezone.now() - timedelta(minutes=1),
        )
    assert set(error.value.message_dict) == {"allowed_models", "ip_allowlist", "expires_at"}
    assert not ApiKey.objects.exists()


def test_a_retired_model_cannot_be_allowed(owner, project_a, catalog):
    with pytest.raises(ValidationError):
        services.create_api_key(
            actor=as_actor(owner), project=project_a, name="x", allowed_models=["old-1"]
        )


def test_the_allowlist_holds_at_most_20_entries(owner, project_a, catalog):
    with pytest.raises(ValidationError):
        services.create_api_key(
            actor=as_actor(owner), project=project_a, name="x",
            ip_allowlist=[f"10.0.0.{n}" for n in range(21)],
        )  # fmt: skip
    key, _ = services.create_api_key(
        actor=as_actor(owner),
        project=project_a,
        name="x",
        ip_allowlist=[f"10.0.0.{n}" for n in range(20)],
    )
    assert len(key.ip_allowlist) == 20


def test_settings_are_normalised(owner, project_a, catalog):
    key, _ = services.create_api_key(
        actor=as_actor(owner),
        project=project_a,
        name="n",
        allowed_models=["chat-latest", "chat-1"],
        ip_allowlist=["203.0.113.7", "2001:DB8::/32", "10.1.2.3/8"],
    )
    assert key.allowed_models == ["chat-1"]
    assert key.ip_allowlist == ["203.0.113.7/32", "2001:db8::/32", "10.0.0.0/8"]


def test_updating_a_key_is_audited(owner, key_a):
    key, _ = key_a
    services.update_api_key(
        actor=as_actor(owner), key=key, name="Renamed", expires_at=None, allowed_models=["chat-2"],
        ip_allowlist=[], rpm_limit=10, tpm_limit=None,
    )  # fmt: skip
    event = AuditEvent.objects.get(action="api_key.updated")
    assert event.changes == {
        "before": {"name": "A key", "allowed_models": [], "rpm_limit": None},
        "after": {"name": "Renamed", "allowed_models": ["chat-2"], "rpm_limit": 10},
    }


def test_revoking_is_audited_and_cannot_be_repeated(owner, key_a):
    key, _ = key_a
    services.revoke_api_key(actor=as_actor(owner), key=key)
    key.refresh_from_db()
    assert key.state == ApiKey.State.REVOKED
    assert AuditEvent.objects.filter(action="api_key.revoked", target_id=key.public_id).exists()
    with pytest.raises(ValidationError):
        services.revoke_api_key(actor=as_actor(owner), key=key)
    with pytest.raises(ValidationError):
        services.rotate_api_key(actor=as_actor(owner), key=key)


def test_a_rotating_key_can_be_revoked_at_once(owner, key_a):
    key, _ = key_a
    services.rotate_api_key(actor=as_actor(owner), key=key)
    key.refresh_from_db()
    assert key.state == ApiKey.State.ROTATING
    services.revoke_api_key(actor=as_actor(owner), key=key)
    key.refresh_from_db()
    assert key.state == ApiKey.State.REVOKED


def test_rotation_is_audited_on_both_keys(owner, key_a):
    key, _ = key_a
    new, _ = services.rotate_api_key(actor=as_actor(owner), key=key, grace=timedelta(hours=1))
    rotated = AuditEvent.objects.get(action="api_key.rotated")
    assert rotated.target_id == key.public_id
    assert rotated.changes["after"]["rotated_to"] == new.public_id
    assert AuditEvent.objects.filter(action="api_key.created", target_id=new.public_id).exists()


def test_a_grace_period_beyond_30_days_is_refused(owner, key_a):
    with pytest.raises(ValidationError):
        services.rotate_api_key(actor=as_actor(owner), key=key_a[0], grace=timedelta(days=31))


def test_gateway_credentials_are_audited_without_an_organization(owner):
    staff = services.Actor(user=owner.user)
    credential, plaintext = services.create_gateway_credential(actor=staff, name="gw")
    services.revoke_gateway_credential(actor=staff, credential=credential)
    actions = list(AuditEvent.objects.filter(organization=None).values_list("action", flat=True))
    assert sorted(actions) == ["gateway_credential.created", "gateway_credential.revoked"]
    assert plaintext.startswith("tpg_") and credential.prefix == plaintext[:12]
