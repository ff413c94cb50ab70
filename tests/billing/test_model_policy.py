import pickle

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.permissions import Role
from billing.catalog import services
from billing.catalog.models import ModelPolicy
from billing.catalog.selectors import model_policy_snapshot, policy_cache_version
from tests.factories import (
    CatalogModelFactory,
    DepartmentFactory,
    MembershipFactory,
    ProviderFactory,
    as_actor,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(org):
    """ROOT > TEAM > SQUAD, and OTHER beside ROOT."""
    root = DepartmentFactory(organization=org, code="ROOT")
    team = DepartmentFactory(organization=org, code="TEAM", parent=root)
    squad = DepartmentFactory(organization=org, code="SQUAD", parent=team)
    other = DepartmentFactory(organization=org, code="OTHER")
    return {"root": root, "team": team, "squad": squad, "other": other}


@pytest.fixture
def policy(django_capture_on_commit_callbacks):
    """Save a policy as the pages do, running what waits for the commit."""

    def save(owner, department=None, mode=ModelPolicy.Mode.DENY, models=(), providers=(), **kw):
        with django_capture_on_commit_callbacks(execute=True):
            return services.save_model_policy(
                actor=as_actor(owner),
                policy=ModelPolicy(
                    organization=owner.organization, department=department, mode=mode, **kw
                ),
                catalog_models=list(models),
                providers=list(providers),
            )

    return save


def allows(organization, department, model):
    snapshot = model_policy_snapshot(organization.id, department.id if department else None)
    return snapshot.allows(model.model_id, model.provider.slug, model.is_filed)


@pytest.fixture
def models(db):
    deepseek = ProviderFactory(slug="deepseek")
    openai = ProviderFactory(slug="openai", region="intl")
    return {
        "chat": CatalogModelFactory(
            model_id="deepseek/deepseek-chat", provider=deepseek, is_filed=True
        ),
        "r1": CatalogModelFactory(model_id="deepseek/deepseek-r1", provider=deepseek),
        "gpt": CatalogModelFactory(model_id="openai/gpt-4o", provider=openai),
    }  # fmt: skip


def test_without_policy_every_model_is_allowed(org, models):
    assert all(allows(org, None, m) for m in models.values())


def test_a_department_is_bound_by_its_own_and_every_ancestors_policy(owner, tree, models, policy):
    org = owner.organization
    policy(owner, mode=ModelPolicy.Mode.DENY, providers=[models["gpt"].provider])
    policy(
        owner,
        department=tree["team"],
        mode=ModelPolicy.Mode.ALLOW,
        models=[models["chat"], models["gpt"]],
    )
    policy(owner, department=tree["squad"], filed_only=True)
    assert allows(org, None, models["r1"])  # organization: all but OpenAI
    assert not allows(org, None, models["gpt"])
    assert not allows(org, tree["team"], models["r1"])  # not on TEAM's allow list
    assert not allows(org, tree["team"], models["gpt"])  # allowed by TEAM, denied above
    assert allows(org, tree["team"], models["chat"])
    assert allows(org, tree["squad"], models["chat"])  # filed
    assert allows(org, tree["other"], models["r1"])  # TEAM's list does not reach OTHER


def test_filed_only_refuses_unfiled_models(owner, models, policy):
    policy(owner, filed_only=True)
    assert allows(owner.organization, None, models["chat"])
    assert not allows(owner.organization, None, models["r1"])


def test_the_snapshot_is_small_picklable_and_cached_until_a_change(
    owner, tree, models, django_assert_num_queries, policy
):
    org = owner.organization
    policy(owner, providers=[models["gpt"].provider])
    version = policy_cache_version(org.id)
    snapshot = model_policy_snapshot(org.id, tree["squad"].id)
    assert pickle.loads(pickle.dumps(snapshot)) == snapshot  # noqa: S301 - our own bytes
    with django_assert_num_queries(0):
        assert model_policy_snapshot(org.id, tree["squad"].id) == snapshot
    policy(owner, department=tree["squad"], filed_only=True)
    assert policy_cache_version(org.id) != version
    assert not allows(org, tree["squad"], models["r1"])  # fresh at once


def test_another_organizations_policy_never_applies(owner, outsider, models, policy):
    policy(outsider, filed_only=True)
    assert allows(owner.organization, None, models["r1"])


def test_an_allow_list_needs_something_listed(owner, policy):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        policy(owner, mode=ModelPolicy.Mode.ALLOW)


# --- Pages -------------------------------------------------------------------------------


def test_an_owner_creates_a_policy_from_the_page_and_it_is_audited(client, owner, tree, models):
    client.force_login(owner.user)
    response = client.post(
        reverse("billing:policy-new"),
        {
            "department": tree["team"].public_id,
            "mode": "allow",
            "catalog_models": ["deepseek/deepseek-chat"],
            "providers": ["openai"],
            "filed_only": "on",
        },
    )
    assert response.status_code == 302
    saved = ModelPolicy.objects.get()
    assert saved.department == tree["team"] and saved.filed_only
    assert [m.model_id for m in saved.catalog_models.all()] == ["deepseek/deepseek-chat"]
    event = AuditEvent.objects.get(action="model_policy.created")
    assert event.organization == owner.organization and event.actor == owner.user
    assert event.target_id == saved.public_id
    page = client.get(reverse("billing:policies"))
    assert b"deepseek/deepseek-chat" in page.content


def test_an_empty_allow_list_is_a_form_error_and_saves_nothing(client, owner):
    client.force_login(owner.user)
    response = client.post(reverse("billing:policy-new"), {"mode": "allow"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not ModelPolicy.objects.exists()


def test_a_second_policy_for_the_same_level_is_refused(client, owner, policy):
    policy(owner, filed_only=True)
    client.force_login(owner.user)
    response = client.post(reverse("billing:policy-new"), {"mode": "deny"})
    assert response.status_code == 200
    assert "department" in response.context["form"].errors
    assert ModelPolicy.objects.count() == 1


def test_edit_and_delete_are_audited(client, owner, policy):
    saved = policy(owner)
    client.force_login(owner.user)
    edit = reverse("billing:policy-edit", args=[saved.public_id])
    assert client.post(edit, {"mode": "deny", "filed_only": "on"}).status_code == 302
    saved.refresh_from_db()
    assert saved.filed_only
    delete = reverse("billing:policy-delete", args=[saved.public_id])
    assert client.post(delete).status_code == 302
    assert not ModelPolicy.objects.exists()
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {
        "model_policy.created",
        "model_policy.changed",
        "model_policy.deleted",
    }


@pytest.mark.parametrize("role", [Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_other_roles_get_403(client, org, role):
    member = MembershipFactory(organization=org, role=role)
    client.force_login(member.user)
    assert client.get(reverse("billing:policies")).status_code == 403
    assert client.post(reverse("billing:policy-new"), {"mode": "deny"}).status_code == 403


def test_an_outsider_sees_404_for_another_organizations_policy(client, owner, outsider, policy):
    saved = policy(owner)
    client.force_login(outsider.user)
    assert client.get(reverse("billing:policy-edit", args=[saved.public_id])).status_code == 404
    assert client.post(reverse("billing:policy-delete", args=[saved.public_id])).status_code == 404
    assert ModelPolicy.objects.filter(pk=saved.pk).exists()


def test_the_policy_pages_need_a_sign_in(client):
    assert client.get(reverse("billing:policies")).status_code == 302


# --- API ---------------------------------------------------------------------------------


def test_the_api_creates_lists_and_changes_policies(
    client, owner, tree, models, django_capture_on_commit_callbacks
):
    client.force_login(owner.user)
    response = client.post(
        "/api/v1/model-policies",
        {"department": tree["root"].public_id, "mode": "deny", "models": ["openai/gpt-4o"]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    policy_id = response.json()["id"]
    assert policy_id.startswith("mpol_")
    listed = client.get("/api/v1/model-policies").json()["results"]
    assert listed[0]["models"] == ["openai/gpt-4o"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch(
            f"/api/v1/model-policies/{policy_id}",
            {"filed_only": True},
            content_type="application/json",
        )
    assert response.json()["filed_only"] is True
    assert response.json()["models"] == ["openai/gpt-4o"]  # kept
    assert AuditEvent.objects.filter(action="model_policy.changed").exists()
    assert not allows(owner.organization, tree["team"], models["r1"])


def test_the_api_refuses_an_empty_allow_list_with_field_errors(client, owner):
    client.force_login(owner.user)
    response = client.post(
        "/api/v1/model-policies", {"mode": "allow"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "models" in response.json()["error"]["fields"]
    assert not ModelPolicy.objects.exists()


def test_the_api_refuses_another_organizations_department(client, owner, outsider):
    foreign = DepartmentFactory(organization=outsider.organization)
    client.force_login(owner.user)
    response = client.post(
        "/api/v1/model-policies",
        {"department": foreign.public_id, "mode": "deny"},
        content_type="application/json",
    )
    assert response.status_code == 400


def test_the_api_gives_read_only_roles_403_and_outsiders_404(
    client, owner, viewer, outsider, policy
):
    saved = policy(owner)
    client.force_login(viewer.user)
    assert client.get("/api/v1/model-policies").status_code == 403
    assert client.delete(f"/api/v1/model-policies/{saved.public_id}").status_code == 403
    client.force_login(outsider.user)
    assert client.get(f"/api/v1/model-policies/{saved.public_id}").status_code == 404
    assert client.delete(f"/api/v1/model-policies/{saved.public_id}").status_code == 404
    assert ModelPolicy.objects.filter(pk=saved.pk).exists()
