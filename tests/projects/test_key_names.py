"""A key's name is unique among the keys in service of its project: a database constraint,
an error at the name field in the portal and the API (never the constraint's name)."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from projects import services
from projects.models import ApiKey
from tests.factories import ApiKeyFactory, as_actor

pytestmark = pytest.mark.django_db
TAKEN = "This project already has a key with this name."


def test_the_service_refuses_a_name_in_service_at_its_field(owner, project_a, key_a):
    with pytest.raises(ValidationError) as error:
        services.create_api_key(actor=as_actor(owner), project=project_a, name="A key")
    assert error.value.message_dict == {"name": [TAKEN]}
    other, _ = services.create_api_key(actor=as_actor(owner), project=project_a, name="Other")
    with pytest.raises(ValidationError) as error:
        services.update_api_key(
            actor=as_actor(owner), key=other, name="A key", expires_at=None, allowed_models=[],
            ip_allowlist=[], rpm_limit=None, tpm_limit=None,
        )  # fmt: skip
    assert error.value.message_dict == {"name": [TAKEN]}
    assert ApiKey.objects.get(pk=other.pk).name == "Other"


def test_another_project_and_a_revoked_key_leave_the_name_free(owner, project_a, project_b, key_a):
    services.create_api_key(actor=as_actor(owner), project=project_b, name="A key")
    services.revoke_api_key(actor=as_actor(owner), key=key_a[0])
    services.create_api_key(actor=as_actor(owner), project=project_a, name="A key")
    assert ApiKey.objects.filter(name="A key").count() == 3


def test_rotation_hands_the_name_to_the_new_key(owner, key_a):
    new, _ = services.rotate_api_key(actor=as_actor(owner), key=key_a[0])
    assert new.name == key_a[0].name and new.rotated_from_id == key_a[0].pk


def test_the_database_refuses_a_duplicate_name_in_service(project_a, key_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKeyFactory(project=project_a, name="A key")


def test_the_form_shows_the_error_at_the_name_and_creates_nothing(client, owner, project_a, key_a):
    client.force_login(owner.user)
    response = client.post(f"/projects/{project_a.public_id}/keys/new/", {"name": "A key"})
    assert response.status_code == 200
    assert response.context["form"].errors == {"name": [TAKEN]}
    assert "api_key_name_unique_in_project" not in response.content.decode()
    assert ApiKey.objects.count() == 1


def test_the_api_answers_400_at_the_name_field(client, owner, project_a, key_a):
    client.force_login(owner.user)
    response = client.post(
        "/api/v1/keys/", {"project": project_a.public_id, "name": "A key"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"name": [TAKEN]}
    other = client.post(
        "/api/v1/keys/", {"project": project_a.public_id, "name": "Other"},
        content_type="application/json",
    ).json()  # fmt: skip
    response = client.patch(
        f"/api/v1/keys/{other['id']}/", {"name": "A key"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"name": [TAKEN]}
    assert ApiKey.objects.count() == 2


@pytest.fixture
def back_at_the_latest_migrations():
    """Migrating projects back also unapplies every migration that depends on it (billing's):
    the database goes forward to every app's latest again afterwards, for the tests after."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_suffixes_names_in_service_that_repeat(org, back_at_the_latest_migrations):
    executor = MigrationExecutor(connection)
    executor.migrate([("projects", "0001_initial")])
    old = executor.loader.project_state([("projects", "0001_initial")]).apps
    Project, ApiKey_ = old.get_model("projects", "Project"), old.get_model("projects", "ApiKey")
    project = Project.objects.create(organization_id=org.pk, name="P", public_id="prj_mig1")
    names = ["Bot", "Bot", "Bot (2)", "Bot", "x" * 120, "x" * 120]
    revoked = ApiKey_.objects.create(
        project=project,
        name="Bot",
        prefix="tpk_rev",
        public_id="key_rev",
        revoked_at="2026-01-01T00:00Z",
    )
    for index, name in enumerate(names):
        ApiKey_.objects.create(
            project=project, name=name, prefix=f"tpk_{index}", public_id=f"key_{index}"
        )
    executor = MigrationExecutor(connection)
    executor.migrate([("projects", "0002_key_name_unique_in_project")])
    live = ApiKey.objects.filter(revoked_at__isnull=True).order_by("id")
    assert list(live.values_list("name", flat=True)) == [
        "Bot", "Bot (2)", "Bot (2) (2)", "Bot (3)", "x" * 120, "x" * 116 + " (2)",
    ]  # fmt: skip
    assert ApiKey.objects.get(pk=revoked.pk).name == "Bot"
