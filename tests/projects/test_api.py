"""REST API: /api/v1/projects/ and /api/v1/keys/."""

import pytest

from accounts.models import AuditEvent
from projects.models import ApiKey, Project
from tests.factories import as_actor

pytestmark = pytest.mark.django_db


def api(client, membership):
    client.force_login(membership.user)
    return client


def endpoints(project, key):
    """(method, url, body) of every project and key endpoint; GETs read, the rest write."""
    p, k = project.public_id, key.public_id
    return [
        ("get", "/api/v1/projects/", None),
        ("get", f"/api/v1/projects/{p}/", None),
        ("get", "/api/v1/keys/", None),
        ("get", f"/api/v1/keys/{k}/", None),
        ("post", "/api/v1/projects/", {"name": "x"}),
        ("patch", f"/api/v1/projects/{p}/", {"name": "x"}),
        ("post", f"/api/v1/projects/{p}/archive/", {}),
        ("post", "/api/v1/keys/", {"project": p, "name": "x"}),
        ("patch", f"/api/v1/keys/{k}/", {"name": "x"}),
        ("post", f"/api/v1/keys/{k}/revoke/", {}),
        ("post", f"/api/v1/keys/{k}/rotate/", {}),
    ]


def call(client, method, url, body):
    return getattr(client, method)(url, body, content_type="application/json")


def test_an_outsider_sees_404_on_every_object_endpoint(client, outsider, project_a, key_a):
    api(client, outsider)
    for method, url, body in endpoints(project_a, key_a[0]):
        response = call(client, method, url, body)
        if url.endswith(("/projects/", "/keys/")) and method == "get":
            assert response.json()["results"] == [], url
        elif url == "/api/v1/keys/":
            assert response.status_code == 400, url  # the project is not theirs to name
        elif url != "/api/v1/projects/":
            assert response.status_code == 404, (method, url)


def test_a_viewer_reads_and_gets_403_on_every_write(client, viewer, project_a, key_a):
    api(client, viewer)
    for method, url, body in endpoints(project_a, key_a[0]):
        expected = 200 if method == "get" else 403
        assert call(client, method, url, body).status_code == expected, (method, url)
    assert ApiKey.objects.count() == 1 and Project.objects.get().name == "Search A"


def test_without_sign_in_the_api_answers_403(client, project_a):
    assert client.get("/api/v1/projects/").status_code == 403


def test_listing_projects(client, owner, project_a, project_b):
    response = api(client, owner).get("/api/v1/projects/")
    names = [p["name"] for p in response.json()["results"]]
    assert names == ["Billing B", "Search A"]
    assert response.json()["results"][1]["id"] == project_a.public_id


def test_creating_a_project(client, owner, departments):
    response = call(
        api(client, owner),
        "post",
        "/api/v1/projects/",
        {"name": "API", "department": departments["A"].public_id},
    )
    assert response.status_code == 201
    project = Project.objects.get(name="API")
    assert response.json()["id"] == project.public_id and project.department == departments["A"]


def test_a_department_of_another_organization_is_a_field_error(client, owner, outsider):
    from tests.factories import DepartmentFactory

    foreign = DepartmentFactory(organization=outsider.organization)
    response = call(
        api(client, owner),
        "post",
        "/api/v1/projects/",
        {"name": "x", "department": foreign.public_id},
    )
    assert response.status_code == 400
    assert "department" in response.json()["error"]["fields"]


def test_creating_a_key_returns_the_secret_once(client, developer_in_a, project_a, catalog):
    client = api(client, developer_in_a)
    body = {
        "project": project_a.public_id,
        "name": "CI",
        "allowed_models": ["chat-1"],
        "rpm_limit": 60,
    }
    response = call(client, "post", "/api/v1/keys/", body)
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    key = ApiKey.objects.get()
    assert body["id"] == key.public_id and body["secret"].startswith(key.prefix)
    assert body["allowed_models"] == ["chat-1"] and body["state"] == "active"
    assert "secret" not in client.get(f"/api/v1/keys/{key.public_id}/").json()
    assert all("secret" not in k for k in client.get("/api/v1/keys/").json()["results"])


def test_a_developer_cannot_create_keys_outside_their_subtree(client, developer_in_a, project_b):
    response = call(
        api(client, developer_in_a),
        "post",
        "/api/v1/keys/",
        {"project": project_b.public_id, "name": "x"},
    )
    assert response.status_code == 400  # project_b is not visible to them
    assert not ApiKey.objects.exists()


def test_a_manager_gets_403_on_keys_of_a_project_they_only_see(
    client, manager_of_b, project_a, key_a
):
    client = api(client, manager_of_b)
    response = call(client, "post", "/api/v1/keys/", {"project": project_a.public_id, "name": "x"})
    assert response.status_code == 403
    assert call(client, "post", f"/api/v1/keys/{key_a[0].public_id}/revoke/", {}).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "ip_allowlist": ["10.0.0.0/33"]}, "ip_allowlist"),
        ({"name": "x", "allowed_models": ["nope"]}, "allowed_models"),
        ({"name": "x", "ip_allowlist": "10.0.0.1"}, "ip_allowlist"),
        ({"name": "x", "rpm_limit": -1}, "rpm_limit"),
        ({"name": "x", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({}, "name"),
    ],
)
def test_malformed_key_requests_get_400_with_field_errors(
    client, owner, project_a, catalog, body, field
):
    response = call(
        api(client, owner), "post", "/api/v1/keys/", {"project": project_a.public_id, **body}
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not ApiKey.objects.exists()


def test_updating_a_key(client, owner, key_a):
    key = key_a[0]
    response = call(
        api(client, owner),
        "patch",
        f"/api/v1/keys/{key.public_id}/",
        {"ip_allowlist": ["10.0.0.1"]},
    )
    assert response.status_code == 200
    assert response.json()["ip_allowlist"] == ["10.0.0.1/32"]
    assert response.json()["name"] == "A key"


def test_revoking_and_rotating(client, owner, key_a):
    client = api(client, owner)
    key = key_a[0]
    response = call(client, "post", f"/api/v1/keys/{key.public_id}/rotate/", {"grace_hours": 2})
    assert response.status_code == 201
    new = ApiKey.objects.get(public_id=response.json()["id"])
    assert response.json()["secret"].startswith(new.prefix)
    assert response.json()["rotated_from"] == key.public_id
    response = call(client, "post", f"/api/v1/keys/{key.public_id}/revoke/", {})
    assert response.status_code == 200 and response.json()["state"] == "revoked"
    response = call(client, "post", f"/api/v1/keys/{key.public_id}/revoke/", {})
    assert response.status_code == 400
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1


def test_a_grace_period_out_of_range_is_a_400(client, owner, key_a):
    response = call(
        api(client, owner),
        "post",
        f"/api/v1/keys/{key_a[0].public_id}/rotate/",
        {"grace_hours": 9999},
    )
    assert response.status_code == 400 and "grace_hours" in response.json()["error"]["fields"]


def test_keys_filter_by_project(client, owner, key_a, project_b, catalog):
    from projects import services

    services.create_api_key(actor=as_actor(owner), project=project_b, name="B key")
    response = api(client, owner).get(f"/api/v1/keys/?project={project_b.public_id}")
    assert [k["name"] for k in response.json()["results"]] == ["B key"]


def test_archiving(client, owner, project_a):
    response = call(
        api(client, owner), "post", f"/api/v1/projects/{project_a.public_id}/archive/", {}
    )
    assert response.status_code == 200 and response.json()["status"] == "archived"


def test_the_key_list_runs_a_fixed_number_of_queries(
    client, owner, project_a, catalog, django_assert_num_queries
):
    from projects import services

    for n in range(5):
        services.create_api_key(actor=as_actor(owner), project=project_a, name=f"k{n}")
    client = api(client, owner)
    with django_assert_num_queries(5):  # session, user, membership, count, page
        client.get("/api/v1/keys/")


def test_the_schema_describes_the_endpoints(client):
    schema = client.get("/api/schema/").content.decode()
    for path in [
        "/api/v1/gateway/authorize:",
        "/api/v1/gateway/ping:",
        "/api/v1/keys/{key}/rotate/:",
        "/api/v1/projects/{project}/archive/:",
    ]:
        assert path in schema
    assert "AuthorizeRefused" in schema and "organization_suspended" in schema
