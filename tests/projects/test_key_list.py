"""The organization-wide key list (/keys/ and GET /api/v1/keys/): columns, filters, scope."""

from datetime import timedelta

import pytest
from django.utils import timezone

from projects import services
from projects.models import ApiKey
from tests.factories import as_actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(owner, admin, project_a, project_b, catalog):
    """Active "Search bot" (A, by the owner, limits), revoked "Old" (A), "Batch" (B, by the
    admin) expired."""
    search, _ = services.create_api_key(
        actor=as_actor(owner), project=project_a, name="Search bot", rpm_limit=60,
        tpm_limit=100_000,
    )  # fmt: skip
    old, _ = services.create_api_key(actor=as_actor(owner), project=project_a, name="Old")
    services.revoke_api_key(actor=as_actor(owner), key=old)
    batch, _ = services.create_api_key(actor=as_actor(admin), project=project_b, name="Batch")
    ApiKey.objects.filter(pk=batch.pk).update(expires_at=timezone.now() - timedelta(days=1))
    return {"search": search, "old": old, "batch": batch}


def names(response):
    return [key.name for key in response.context["object_list"]]


def test_the_list_shows_every_column(client_of, owner, keys):
    response = client_of(owner).get("/keys/")
    assert response.status_code == 200
    page = response.content.decode()
    shown = ["Search bot", "Search A", "Billing B", owner.user.email, "60 requests/min",
             "100,000 tokens/min", "Revoked", "Expired", keys["search"].prefix]  # fmt: skip
    for text in shown:
        assert text in page, text
    assert names(response) == ["Batch", "Old", "Search bot"]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("status=active", ["Search bot"]),
        ("status=revoked", ["Old"]),
        ("status=expired", ["Batch"]),
        ("q=search", ["Search bot"]),
    ],
)
def test_filters(client_of, owner, keys, query, expected):
    assert names(client_of(owner).get(f"/keys/?{query}")) == expected


def test_filters_by_project_department_and_creator(client_of, owner, admin, keys, departments):
    client = client_of(owner)
    project_b = keys["batch"].project
    assert names(client.get(f"/keys/?project={project_b.public_id}")) == ["Batch"]
    assert names(client.get(f"/keys/?department={departments['A'].public_id}")) == [
        "Old", "Search bot",
    ]  # fmt: skip
    assert names(client.get(f"/keys/?created_by={admin.user.public_id}")) == ["Batch"]
    assert names(client.get(f"/keys/?q={keys['search'].prefix}")) == ["Search bot"]


def test_a_developer_sees_their_department_only(client_of, developer_in_a, keys, project_b):
    response = client_of(developer_in_a).get("/keys/")
    assert names(response) == ["Old", "Search bot"]
    choices = [str(c[1]) for c in response.context["filter"].form.fields["project"].choices]
    assert "Billing B" not in choices
    # Another department's project is no valid filter value: an empty list, nothing leaks.
    assert names(client_of(developer_in_a).get(f"/keys/?project={project_b.public_id}")) == []


def test_an_outsider_sees_none(client_of, outsider, keys):
    assert names(client_of(outsider).get("/keys/")) == []


def test_the_api_lists_and_filters_the_same_way(client_of, owner, keys, departments):
    client = client_of(owner)
    body = client.get("/api/v1/keys/?status=active").json()
    assert [k["name"] for k in body["results"]] == ["Search bot"]
    row = body["results"][0]
    assert row["project"] == keys["search"].project.public_id
    assert row["department"] == departments["A"].public_id
    assert row["created_by"] == keys["search"].created_by.public_id
    response = client.get("/api/v1/keys/?status=lost")
    assert response.status_code == 400 and "status" in response.json()["error"]["fields"]


def test_the_query_count_does_not_grow_with_the_keys(client_of, owner, keys, project_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_of(owner)
    client.get("/keys/")
    with CaptureQueriesContext(connection) as few:
        client.get("/keys/")
    for n in range(5):
        services.create_api_key(actor=as_actor(owner), project=project_a, name=f"k{n}")
    with CaptureQueriesContext(connection) as more:
        client.get("/keys/")
    assert len(more) == len(few)


def test_the_side_navigation_links_to_the_list(client_of, owner):
    assert 'href="/keys/"' in client_of(owner).get("/projects/").content.decode()


def test_a_rotated_key_is_rotating_until_its_grace_ends(client_of, owner, keys):
    new, _ = services.rotate_api_key(actor=as_actor(owner), key=keys["search"])
    client = client_of(owner)
    assert names(client.get("/keys/?status=rotating")) == ["Search bot"]
    rotating = client.get("/keys/?status=rotating").context["object_list"][0]
    assert rotating.pk == keys["search"].pk and rotating.state == ApiKey.State.ROTATING
    assert [k.pk for k in client.get("/keys/?status=active").context["object_list"]] == [new.pk]
