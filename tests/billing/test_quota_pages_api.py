"""Quota, request and webhook pages and REST API: roles, outsiders, query counts, schema."""

import json
from decimal import Decimal

import pytest

from billing.quotas import services as quotas
from billing.quotas.models import Quota, QuotaIncreaseRequest
from notifications import webhooks
from notifications.models import WebhookEndpoint
from tests.conftest import closed_port
from tests.factories import as_actor

CLOSED_PORT = closed_port()  # webhook URLs of these tests: on this machine, nothing listens

pytestmark = pytest.mark.django_db
Scope = Quota.Scope


@pytest.fixture
def dept_quota(owner, departments):
    return quotas.create_quota(
        actor=as_actor(owner), scope=Scope.DEPARTMENT, target=departments["A"], limit=Decimal(1000),
        on_exceed=Quota.OnExceed.BLOCK,
    )  # fmt: skip


def test_the_list_shows_progress_and_forecast(client, owner, dept_quota, key_a1, usage):
    quotas.record_usage([usage(key_a1[0], tokens=250)])
    client.force_login(owner.user)
    page = client.get("/organization/quotas/").content.decode()
    assert str(dept_quota.target_label) in page
    assert 'value="25"' in page and "25.0 %" in page


def test_the_list_query_count_does_not_grow_with_quotas(
    client, owner, departments, project_a1, key_a1, django_assert_max_num_queries
):
    client.force_login(owner.user)
    client.get("/organization/quotas/")
    for department in departments.values():
        quotas.create_quota(
            actor=as_actor(owner), scope=Scope.DEPARTMENT, target=department, limit=Decimal(9)
        )
    quotas.create_quota(actor=as_actor(owner), scope=Scope.PROJECT, target=project_a1, limit=5)
    with django_assert_max_num_queries(10):
        assert client.get("/organization/quotas/").status_code == 200


def test_an_admin_creates_a_quota_in_the_page(client, admin, departments):
    client.force_login(admin.user)
    response = client.post(
        "/organization/quotas/new/",
        {"scope": "department", "department": departments["A"].public_id, "metric": "tokens",
         "period": "month", "limit": "1000000", "thresholds": "50, 80, 100",
         "on_exceed": "block"},
    )  # fmt: skip
    quota = Quota.objects.get()
    assert response.status_code == 302 and quota.department == departments["A"]
    assert quota.thresholds == [50, 80, 100] and quota.blocks


def test_a_bad_form_changes_nothing(client, admin):
    client.force_login(admin.user)
    response = client.post(
        "/organization/quotas/new/",
        {"scope": "department", "metric": "tokens", "period": "month", "limit": "10",
         "thresholds": "50, x", "on_exceed": "block"},
    )  # fmt: skip
    assert response.status_code == 200 and not Quota.objects.exists()


def test_a_viewer_may_look_but_not_create(client, viewer, dept_quota):
    client.force_login(viewer.user)
    assert client.get(f"/organization/quotas/{dept_quota.public_id}/").status_code == 200
    assert client.get("/organization/quotas/new/").status_code == 403
    assert client.post(f"/organization/quotas/{dept_quota.public_id}/delete/").status_code == 403


def test_an_outsider_gets_404(client, outsider, dept_quota):
    client.force_login(outsider.user)
    assert client.get(f"/organization/quotas/{dept_quota.public_id}/").status_code == 404
    assert client.get(f"/api/v1/quotas/{dept_quota.public_id}").status_code == 404


def test_the_api_creates_lists_and_updates(client, admin, departments, dept_quota):
    client.force_login(admin.user)
    response = client.post(
        "/api/v1/quotas",
        {"scope": "department", "department": departments["B"].public_id, "metric": "money",
         "limit": "300.00", "thresholds": [80, 50]},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    assert response.json()["thresholds"] == [50, 80]
    listed = client.get("/api/v1/quotas").json()["results"]
    assert {q["id"] for q in listed} == {dept_quota.public_id, response.json()["id"]}
    patched = client.patch(
        f"/api/v1/quotas/{dept_quota.public_id}", {"limit": "2000"},
        content_type="application/json",
    )  # fmt: skip
    assert patched.status_code == 200 and patched.json()["limit"] == "2000.00"
    assert client.get(f"/api/v1/quotas/{dept_quota.public_id}/periods").status_code == 200
    assert client.get("/api/v1/quota-alerts").status_code == 200


def test_watchers_are_members_and_other_addresses_all_read_the_same(
    client, owner, viewer, outsider, dept_quota
):
    """No account oracle: another organization's member and an address without an account
    get the same error (issue 20, finding 6); a member is accepted."""
    client.force_login(owner.user)
    url = f"/api/v1/quotas/{dept_quota.public_id}"
    errors = []
    for address in (outsider.user.email, "nobody-here@example.com"):
        response = client.patch(url, {"watchers": [address]}, content_type="application/json")
        assert response.status_code == 400
        errors.append(json.dumps(response.json()).replace(address, "ADDRESS"))
    assert errors[0] == errors[1]
    assert "watchers" in json.loads(errors[0])["error"]["fields"]
    assert not dept_quota.watchers.exists()
    response = client.patch(url, {"watchers": [viewer.user.email]}, content_type="application/json")
    assert response.status_code == 200 and response.json()["watchers"] == [viewer.user.email]


def test_the_api_refuses_a_read_only_member_with_403(client, viewer, dept_quota):
    client.force_login(viewer.user)
    assert client.get("/api/v1/quotas").status_code == 200
    response = client.patch(
        f"/api/v1/quotas/{dept_quota.public_id}", {"limit": "1"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert client.get("/api/v1/webhook-endpoints").status_code == 403


def test_the_api_rejects_bad_input_with_field_errors(client, admin):
    client.force_login(admin.user)
    response = client.post(
        "/api/v1/quotas", {"scope": "organization", "limit": "10", "thresholds": [0]},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "thresholds" in response.json()["error"]["fields"]


def test_increase_requests_through_the_api(client, developer_in_a1, admin, owner, project_a1):
    quota = quotas.create_quota(
        actor=as_actor(owner), scope=Scope.PROJECT, target=project_a1, limit=Decimal(10)
    )
    client.force_login(developer_in_a1.user)
    response = client.post(
        "/api/v1/quota-requests",
        {"quota": quota.public_id, "new_limit": "20", "reason": "Pilot"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    request_id = response.json()["id"]
    assert client.post(f"/api/v1/quota-requests/{request_id}/approve").status_code == 403
    client.force_login(admin.user)
    response = client.post(
        f"/api/v1/quota-requests/{request_id}/reject", {"comment": "Not now"},
        content_type="application/json",
    )  # fmt: skip
    assert response.json()["status"] == "rejected"
    assert QuotaIncreaseRequest.objects.get().decision_comment == "Not now"


def test_increase_requests_in_the_pages(client, developer_in_a1, admin, owner, project_a1):
    quota = quotas.create_quota(
        actor=as_actor(owner), scope=Scope.PROJECT, target=project_a1, limit=Decimal(10)
    )
    client.force_login(developer_in_a1.user)
    response = client.post(
        f"/organization/quotas/{quota.public_id}/request/", {"new_limit": "50", "reason": "More"}
    )
    assert response.status_code == 302
    increase = QuotaIncreaseRequest.objects.get()
    assert (
        client.post(f"/organization/quotas/requests/{increase.public_id}/approve/").status_code
        == 403
    )
    client.force_login(admin.user)
    assert "More" in client.get("/organization/quotas/requests/").content.decode()
    client.post(f"/organization/quotas/requests/{increase.public_id}/approve/", {"comment": "ok"})
    quota.refresh_from_db()
    assert quota.limit == 50


def test_webhook_endpoints_api_shows_the_secret_once(client, admin, outsider):
    client.force_login(admin.user)
    response = client.post(
        "/api/v1/webhook-endpoints",
        {"url": f"http://127.0.0.1:{CLOSED_PORT}/hook", "event_types": ["quota.exceeded"]},
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["secret"].startswith("whsec_")
    shown = client.get(f"/api/v1/webhook-endpoints/{body['id']}").json()
    assert "secret" not in shown
    assert client.get("/api/v1/webhook-deliveries").json()["results"] == []
    client.force_login(outsider.user)
    assert client.get(f"/api/v1/webhook-endpoints/{body['id']}").status_code == 404


def test_webhook_pages(client, admin, viewer):
    client.force_login(admin.user)
    response = client.post(
        "/organization/webhooks/new/",
        {"url": f"http://127.0.0.1:{CLOSED_PORT}/hook", "event_types": ["quota.exceeded"]},
    )
    endpoint = WebhookEndpoint.objects.get()
    assert response.context["secret"] == webhooks.signing_secret(endpoint)
    assert client.get(f"/organization/webhooks/{endpoint.public_id}/").status_code == 200
    client.force_login(viewer.user)
    assert client.get("/organization/webhooks/").status_code == 403


def test_every_endpoint_is_in_the_schema(client):
    schema = client.get("/api/schema/").content.decode()
    paths = [
        "/api/v1/quotas", "/api/v1/quotas/{quota}/periods", "/api/v1/quota-alerts",
        "/api/v1/quota-requests/{increase}/approve", "/api/v1/notifications/read-all",
        "/api/v1/webhook-endpoints", "/api/v1/webhook-deliveries/{delivery}/resend",
    ]  # fmt: skip
    for path in paths:
        assert f"{path}:" in schema, path


def test_a_manager_is_offered_only_their_projects(client, manager_of_a, project_a1, project_b):
    client.force_login(manager_of_a.user)
    page = client.get("/organization/quotas/new/").content.decode()
    assert project_a1.public_id in page and project_b.public_id not in page


def test_outsiders_get_404_on_every_quota_endpoint(
    client, outsider, admin, developer_in_a1, dept_quota, project_a1
):
    increase = quotas.request_increase(
        actor=as_actor(developer_in_a1),
        quota=quotas.create_quota(
            actor=as_actor(admin), scope=Scope.PROJECT, target=project_a1, limit=Decimal(5)
        ),
        new_limit=Decimal(10),
        reason="More",
    )
    endpoint, _ = webhooks.create_endpoint(
        actor=as_actor(admin),
        url=f"http://127.0.0.1:{CLOSED_PORT}/h",
        event_types=["quota.exceeded"],
    )
    client.force_login(outsider.user)
    for url in (
        f"/api/v1/quotas/{dept_quota.public_id}/periods",
        f"/api/v1/quota-requests/{increase.public_id}",
        f"/api/v1/webhook-endpoints/{endpoint.public_id}",
        f"/organization/webhooks/{endpoint.public_id}/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/api/v1/quota-requests/{increase.public_id}/approve").status_code == 404
    assert client.delete(f"/api/v1/quotas/{dept_quota.public_id}").status_code == 404
    assert Quota.objects.filter(pk=dept_quota.pk).exists()


def test_read_only_members_get_403_on_writes(client, viewer, dept_quota):
    client.force_login(viewer.user)
    assert client.delete(f"/api/v1/quotas/{dept_quota.public_id}").status_code == 403
    response = client.post(
        "/api/v1/quota-requests",
        {"quota": dept_quota.public_id, "new_limit": "5000", "reason": "x"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert client.get("/api/v1/webhook-deliveries").status_code == 403


def test_the_list_filters_by_department(client, owner, departments, dept_quota):
    other = quotas.create_quota(
        actor=as_actor(owner), scope=Scope.DEPARTMENT, target=departments["B"], limit=Decimal(9)
    )
    client.force_login(owner.user)
    quotas_shown = client.get(
        f"/organization/quotas/?department={departments['B'].public_id}"
    ).context["object_list"]
    assert list(quotas_shown) == [other]


def test_staff_see_quotas_and_deliveries_read_only(client, staff_user, dept_quota):
    for name in ("quota", "quotaalert", "webhookdelivery"):
        assert client.get(f"/admin/billing/{name}/").status_code == 200
    assert client.get("/admin/billing/quota/add/").status_code == 403


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_token_figures_on_the_quota_page_are_grouped_in_both_languages(
    client, owner, make_quota, departments, key_a1, usage, language
):
    quota = make_quota(Scope.DEPARTMENT, departments["A"], limit=5_000_000)
    quotas.record_usage([usage(key_a1[0], tokens=500_000)])
    client.cookies["django_language"] = language
    client.force_login(owner.user)
    page = client.get(f"/organization/quotas/{quota.public_id}/").content.decode()
    assert "<strong>5,000,000</strong>" in page
    assert "<td>500,000</td>" in page  # this period's consumption
