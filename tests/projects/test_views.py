"""The portal's project and key pages."""

import pytest
from django.contrib.sessions.models import Session

from accounts.models import AuditEvent
from projects.models import ApiKey, Project
from relay import channels
from tests.factories import as_actor

pytestmark = pytest.mark.django_db


def pages(project, key):
    """(url, needs write access) of every project page."""
    p, k = project.public_id, key.public_id
    return [
        ("/projects/", False),
        (f"/projects/{p}/", False),
        ("/projects/new/", True),
        (f"/projects/{p}/edit/", True),
        (f"/projects/{p}/archive/", True),
        (f"/projects/{p}/keys/new/", True),
        (f"/projects/{p}/keys/{k}/edit/", True),
        (f"/projects/{p}/keys/{k}/revoke/", True),
        (f"/projects/{p}/keys/{k}/rotate/", True),
    ]


def test_the_owner_opens_every_page(client, owner, project_a, key_a):
    client.force_login(owner.user)
    for url, _ in pages(project_a, key_a[0]):
        assert client.get(url).status_code == 200, url


def test_an_outsider_sees_404_on_every_page_of_the_project(client, outsider, project_a, key_a):
    client.force_login(outsider.user)
    for url, writes in pages(project_a, key_a[0]):
        if "/prj_" in url:
            assert client.get(url).status_code == 404, url
            if writes:
                assert client.post(url).status_code == 404, url
    assert project_a.name not in client.get("/projects/").content.decode()


def test_a_viewer_reads_and_gets_403_on_every_write_page(client, viewer, project_a, key_a):
    client.force_login(viewer.user)
    for url, writes in pages(project_a, key_a[0]):
        expected = 403 if writes else 200
        assert client.get(url).status_code == expected, url
        if writes:
            assert client.post(url, {"name": "x"}).status_code == 403, url
    assert ApiKey.objects.count() == 1 and Project.objects.get().status == "active"


def test_a_developer_sees_only_their_subtree(client, developer_in_a, project_a, project_b):
    client.force_login(developer_in_a.user)
    listing = client.get("/projects/").content.decode()
    assert project_a.name in listing and project_b.name not in listing
    assert client.get(f"/projects/{project_b.public_id}/").status_code == 404
    assert client.get(f"/projects/{project_a.public_id}/keys/new/").status_code == 200
    assert client.get(f"/projects/{project_a.public_id}/edit/").status_code == 403


def test_a_manager_manages_the_managed_subtree_and_reads_the_rest(
    client, manager_of_b, project_a, project_b
):
    client.force_login(manager_of_b.user)
    assert client.get(f"/projects/{project_b.public_id}/edit/").status_code == 200
    assert client.get(f"/projects/{project_b.public_id}/keys/new/").status_code == 200
    assert client.get(f"/projects/{project_a.public_id}/").status_code == 200
    assert client.get(f"/projects/{project_a.public_id}/edit/").status_code == 403
    assert client.get(f"/projects/{project_a.public_id}/keys/new/").status_code == 403


def test_creating_a_project(client, owner, departments):
    client.force_login(owner.user)
    response = client.post("/projects/new/", {"name": "New one", "department": departments["B"].pk})
    project = Project.objects.get(name="New one")
    assert response.status_code == 302 and response.url == f"/projects/{project.public_id}/"
    assert project.department == departments["B"] and project.created_by == owner.user


def test_a_manager_must_choose_a_managed_department(client, manager_of_b, departments):
    client.force_login(manager_of_b.user)
    response = client.post("/projects/new/", {"name": "x", "department": departments["A"].pk})
    assert response.status_code == 200 and "department" in response.context["form"].errors
    response = client.post("/projects/new/", {"name": "x"})
    assert response.status_code == 200 and "department" in response.context["form"].errors
    assert not Project.objects.exists()


def test_the_key_is_shown_once_in_the_response_and_nowhere_else(
    client, developer_in_a, project_a, catalog
):
    client.force_login(developer_in_a.user)
    url = f"/projects/{project_a.public_id}/keys/new/"
    response = client.post(url, {"name": "CI", "allowed_models": "chat-1\n", "ip_allowlist": ""})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    page = response.content.decode()
    assert secret in page and "You will not see it again." in page
    assert "projects/copy.js" in page
    key = ApiKey.objects.get()
    assert secret.startswith(key.prefix) and key.allowed_models == ["chat-1"]
    assert all(secret not in str(s.get_decoded()) for s in Session.objects.all())
    detail = client.get(f"/projects/{project_a.public_id}/").content.decode()
    assert key.prefix in detail and secret not in detail


def test_invalid_key_settings_show_form_errors_and_change_nothing(
    client, owner, project_a, catalog
):
    client.force_login(owner.user)
    response = client.post(
        f"/projects/{project_a.public_id}/keys/new/",
        {"name": "x", "allowed_models": "nope", "ip_allowlist": "10.0.0.0/33"},
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"allowed_models", "ip_allowlist"}
    assert not ApiKey.objects.exists()


def test_revoking_from_the_portal(client, owner, project_a, key_a):
    client.force_login(owner.user)
    key = key_a[0]
    response = client.post(f"/projects/{project_a.public_id}/keys/{key.public_id}/revoke/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.state == ApiKey.State.REVOKED


def test_rotating_from_the_portal_shows_the_new_key_once(client, owner, project_a, key_a):
    client.force_login(owner.user)
    old = key_a[0]
    response = client.post(
        f"/projects/{project_a.public_id}/keys/{old.public_id}/rotate/", {"grace_hours": "1"}
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    new = ApiKey.objects.get(rotated_from=old)
    assert response.context["secret"].startswith(new.prefix)
    old.refresh_from_db()
    assert old.state == ApiKey.State.ROTATING


def test_editing_a_key(client, owner, project_a, key_a):
    client.force_login(owner.user)
    key = key_a[0]
    url = f"/projects/{project_a.public_id}/keys/{key.public_id}/edit/"
    assert "A key" in client.get(url).content.decode()
    response = client.post(url, {"name": "Edited", "ip_allowlist": "10.0.0.0/8", "rpm_limit": "30"})
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.name, key.ip_allowlist, key.rpm_limit) == ("Edited", ["10.0.0.0/8"], 30)


def test_archiving_from_the_portal(client, owner, project_a):
    client.force_login(owner.user)
    response = client.post(f"/projects/{project_a.public_id}/archive/")
    assert response.status_code == 302
    project_a.refresh_from_db()
    assert project_a.is_archived
    detail = client.get(f"/projects/{project_a.public_id}/").content.decode()
    assert "/keys/new/" not in detail
    assert (
        client.post(f"/projects/{project_a.public_id}/keys/new/", {"name": "x"}).status_code == 200
    )
    assert not ApiKey.objects.exists()


def test_the_list_runs_a_fixed_number_of_queries(
    client, owner, departments, django_assert_num_queries
):
    from projects import services

    for n in range(5):
        services.create_project(actor=as_actor(owner), name=f"P{n}", department=departments["A"])
    client.force_login(owner.user)
    client.get("/projects/")
    with django_assert_num_queries(6):  # session, user, membership, count, page, unread bell
        client.get("/projects/")


def test_the_detail_page_runs_a_fixed_number_of_queries(
    client, owner, project_a, catalog, django_assert_num_queries
):
    from projects import services

    for n in range(5):
        services.create_api_key(actor=as_actor(owner), project=project_a, name=f"k{n}")
    client.force_login(owner.user)
    # This process's relay view may date from an earlier test, whose routes stamp changed
    # since: re-read now, so that the warm-up (not the measured request) reloads the table.
    channels.refresh()
    client.get(f"/projects/{project_a.public_id}/")  # fills the caches: policy, relay routes
    # session, user, membership, project, keys, unread bell, the quickstart's catalog read
    with django_assert_num_queries(7):
        client.get(f"/projects/{project_a.public_id}/")


def test_pages_speak_chinese(client, owner, project_a):
    client.force_login(owner.user)
    page = client.get(f"/projects/{project_a.public_id}/", headers={"accept-language": "zh-hans"})
    assert "API 密钥" in page.content.decode()


def test_the_navigation_links_to_projects(client, owner):
    client.force_login(owner.user)
    assert 'href="/projects/"' in client.get("/").content.decode()


def test_actions_from_pages_are_audited(client, owner, project_a):
    client.force_login(owner.user)
    client.post(f"/projects/{project_a.public_id}/archive/", REMOTE_ADDR="198.51.100.4")
    assert AuditEvent.objects.get(action="project.archived").ip_address == "198.51.100.4"
