"""发票: the organization's details, requests for issued invoices, the staff queue."""

import pytest

from accounts.audit_trail import Actor
from accounts.permissions import Role
from billing.invoicing import services as invoicing
from billing.invoicing.models import FapiaoProfile, FapiaoRequest
from tests.billing.invoicing_data import NOV, customer, rollup
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def billed():
    c = customer()
    rollup(c, cost="100")
    [draft] = invoicing.close_month(month=NOV)
    return c, invoicing.issue_invoice(actor=Actor.system(), invoice=draft)


def test_details_default_to_the_legal_name_and_uscc_and_a_special_fapiao_needs_bank_details(
    client, billed
):
    c, _ = billed
    profile = invoicing.fapiao_profile_for(c.organization)
    assert (profile.title, profile.taxpayer_id) == (c.organization.legal_name, c.organization.uscc)
    client.force_login(c.owner.user)
    response = client.post(
        "/billing/fapiao/",
        {"title": "上海示例科技有限公司", "taxpayer_id": c.organization.uscc,
         "fapiao_type": "special"},
    )  # fmt: skip
    assert response.status_code == 400
    errors = response.context["profile_form"].errors
    assert set(errors) == {"bank_name", "bank_account", "registered_address", "registered_phone"}
    assert "Required for a special VAT fapiao." in response.content.decode()
    assert not FapiaoProfile.objects.exists()
    client.post(
        "/billing/fapiao/",
        {"title": "上海示例科技有限公司", "taxpayer_id": c.organization.uscc,
         "fapiao_type": "special", "bank_name": "中国工商银行上海分行",
         "bank_account": "1001 2345 6789", "registered_address": "上海市浦东新区",
         "registered_phone": "021-5555 0000"},
    )  # fmt: skip
    assert FapiaoProfile.objects.get().fapiao_type == "special"


def test_a_billing_member_requests_a_fapiao_once_and_sees_staff_issue_it(client, billed):
    c, invoice = billed
    billing = MembershipFactory(organization=c.organization, role=Role.BILLING)
    client.force_login(billing.user)
    response = client.post("/api/v1/fapiao-requests", {"invoice": invoice.public_id})
    assert response.status_code == 201, response.json()
    assert response.json()["title"] == "上海示例科技有限公司"
    again = client.post("/api/v1/fapiao-requests", {"invoice": invoice.public_id})
    assert again.status_code == 400 and "invoice" in again.json()["error"]["fields"]

    request = FapiaoRequest.objects.get()
    request.status = FapiaoRequest.Status.ISSUED
    with pytest.raises(invoicing.InvoiceError):
        invoicing.decide_fapiao_request(actor=Actor.system(), fapiao_request=request)
    request.fapiao_number, request.fapiao_date = "26310000000012345678", NOV.replace(day=30)
    invoicing.decide_fapiao_request(actor=Actor.system(), fapiao_request=request)
    listed = client.get("/api/v1/fapiao-requests").json()["results"]
    assert listed[0]["status"] == "issued"
    assert listed[0]["fapiao_number"] == "26310000000012345678"
    assert "26310000000012345678" in client.get("/billing/").content.decode()


def test_viewers_cannot_request_and_outsiders_cannot_reach_the_invoice(client, billed):
    c, invoice = billed
    client.force_login(MembershipFactory(organization=c.organization, role=Role.VIEWER).user)
    assert client.post("/api/v1/fapiao-requests", {"invoice": invoice.public_id}).status_code == 403
    client.force_login(MembershipFactory(role=Role.OWNER).user)
    response = client.post("/api/v1/fapiao-requests", {"invoice": invoice.public_id})
    assert response.status_code == 400
    assert client.post(f"/billing/invoices/{invoice.public_id}/fapiao/").status_code == 404
    assert not FapiaoRequest.objects.exists()
