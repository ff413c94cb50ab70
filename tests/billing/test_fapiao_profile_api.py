"""GET/PUT/PATCH /api/v1/billing/fapiao-profile: the billing page's fapiao details, by API."""

import pytest

from accounts.models import AuditEvent
from accounts.permissions import Role
from billing.invoicing.models import FapiaoProfile
from tests.factories import MembershipFactory, OrganizationFactory, make_uscc

pytestmark = pytest.mark.django_db

URL = "/api/v1/billing/fapiao-profile"
SPECIAL = {
    "title": "上海示例科技有限公司",
    "fapiao_type": "special",
    "bank_name": "中国工商银行上海分行",
    "bank_account": "1001 2345 6789",
    "registered_address": "上海市浦东新区",
    "registered_phone": "021-5555 0000",
}


@pytest.fixture
def organization():
    return OrganizationFactory(legal_name="上海示例科技有限公司", address="", contact_phone="")


@pytest.fixture
def billing_client(organization, client_of):
    return client_of(MembershipFactory(organization=organization, role=Role.BILLING))


def test_it_reads_the_details_filled_from_the_organization_until_saved(
    organization, billing_client
):
    body = billing_client.get(URL).json()
    assert body["title"] == "上海示例科技有限公司"
    assert body["taxpayer_id"] == organization.uscc
    assert (body["fapiao_type"], body["updated_at"]) == ("ordinary", None)


def test_a_put_saves_the_details_and_audits_them(organization, billing_client):
    uscc = make_uscc(4711)
    response = billing_client.put(
        URL, {**SPECIAL, "taxpayer_id": uscc.lower()}, content_type="application/json"
    )
    assert response.status_code == 200, response.json()
    profile = FapiaoProfile.objects.get(organization=organization)
    assert (profile.taxpayer_id, profile.fapiao_type) == (uscc, "special")
    assert response.json()["taxpayer_id"] == uscc
    event = AuditEvent.objects.get(action="billing.fapiao_profile_saved")
    assert event.organization == organization
    assert event.changes["after"]["bank_account"] == "1001 2345 6789"

    response = billing_client.patch(URL, {"title": "示例"}, content_type="application/json")
    assert response.status_code == 200
    assert FapiaoProfile.objects.get().title == "示例"
    latest = AuditEvent.objects.filter(action="billing.fapiao_profile_saved").latest("pk")
    assert latest.changes == {"before": {"title": SPECIAL["title"]}, "after": {"title": "示例"}}


def test_a_bad_uscc_is_a_field_error_as_on_the_page(organization, billing_client, client_of):
    sent = {**SPECIAL, "taxpayer_id": make_uscc(4711)[:-1] + "0"}
    response = billing_client.put(URL, sent, content_type="application/json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    page = billing_client.post("/billing/fapiao/", sent)
    assert fields == {"taxpayer_id": page.context["profile_form"].errors["taxpayer_id"]}
    assert not FapiaoProfile.objects.exists()
    assert not AuditEvent.objects.filter(action="billing.fapiao_profile_saved").exists()


def test_a_special_fapiao_without_bank_details_names_each_missing_field_as_the_page_does(
    organization, billing_client
):
    response = billing_client.patch(
        URL, {"fapiao_type": "special"}, content_type="application/json"
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    page = billing_client.post(
        "/billing/fapiao/",
        {"title": organization.legal_name, "taxpayer_id": organization.uscc,
         "fapiao_type": "special"},
    )  # fmt: skip
    assert fields == page.context["profile_form"].errors
    assert set(fields) == {"bank_name", "bank_account", "registered_address", "registered_phone"}
    assert fields["bank_name"] == ["Required for a special VAT fapiao."]
    assert not FapiaoProfile.objects.exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER])
def test_it_requires_the_billing_permissions(organization, client_of, role):
    client = client_of(MembershipFactory(organization=organization, role=role))
    assert client.get(URL).status_code == 403
    response = client.patch(URL, {"title": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert not FapiaoProfile.objects.exists()


def test_another_organization_is_not_reached(organization, billing_client, client_of):
    FapiaoProfile.objects.create(
        organization=organization, title="甲公司", taxpayer_id=organization.uscc
    )
    outsider = client_of(MembershipFactory(role=Role.OWNER))
    headers = {"x-organization": organization.public_id}
    assert outsider.get(URL, headers=headers).status_code == 404
    response = outsider.patch(URL, {"title": "x"}, content_type="application/json", headers=headers)
    assert response.status_code == 404
    assert "甲公司" not in outsider.get(URL).content.decode()
    assert FapiaoProfile.objects.get(organization=organization).title == "甲公司"
