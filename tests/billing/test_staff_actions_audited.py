"""Every staff console action, driven through the admin as staff do, leaves an AuditEvent
with the staff member as actor (approve and suspend: tests/accounts/test_admin.py)."""

from pathlib import Path

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission

from accounts.audit_trail import Actor
from accounts.models import AuditEvent, Organization
from billing.catalog.models import PRICE_FIELDS, CatalogModel, Provider
from billing.invoicing import services as invoicing
from billing.invoicing.models import FapiaoRequest, Invoice
from tests.billing.invoicing_data import NOV, customer, rollup
from tests.factories import PriceVersionFactory, VerifiedUserFactory

pytestmark = pytest.mark.django_db
DATA = Path(__file__).parent / "data"


def audited(action, staff, **fields):
    return AuditEvent.objects.filter(action=action, actor=staff, **fields).get()


@pytest.fixture
def issued():
    c = customer()
    rollup(c, cost="100")
    [draft] = invoicing.close_month(month=NOV)
    return invoicing.issue_invoice(actor=Actor.system(), invoice=draft)


def test_issue_void_credit_and_payment_are_audited(client, staff_user):
    c = customer()
    rollup(c, cost="50")
    [draft] = invoicing.close_month(month=NOV)
    client.post(
        "/admin/billing/invoice/", {"action": "issue_drafts", ACTION_CHECKBOX_NAME: [draft.pk]}
    )
    audited("billing.invoice_issued", staff_user, organization=c.organization)
    client.post(f"/admin/billing/invoice/{draft.pk}/credit/", {"net_amount": "5", "reason": "SLA"})
    note = Invoice.objects.get(kind="credit_note")
    assert audited("billing.invoice_issued", staff_user, target_id=note.public_id)
    client.post(f"/admin/billing/invoice/{draft.pk}/payment/", {"reference": "ICBC-0001"})
    audited("billing.payment", staff_user, organization=c.organization)
    draft.refresh_from_db()
    assert draft.status == "paid"


def test_void_is_audited_with_the_reason(client, staff_user, issued):
    response = client.post(f"/admin/billing/invoice/{issued.pk}/void/", {"reason": "重复开具"})
    assert response.status_code == 302
    assert audited("billing.invoice_voided", staff_user, organization=issued.organization)


def test_top_up_and_credit_limit_are_audited(client, staff_user):
    org = customer(payment_mode="prepaid").organization
    client.post(
        "/admin/billing/ledgerentry/top-up/",
        {"organization": org.pk, "amount": "1000.00", "reference": "ICBC-7", "note": ""},
    )
    audited("billing.top_up", staff_user, organization=org)
    response = client.post(
        f"/admin/billing/billingaccount/{org.pk}/change/",
        {"payment_mode": "postpaid", "credit_limit_amount": "80000.00"},
    )
    assert response.status_code == 302
    event = audited("billing.credit_terms_changed", staff_user, organization=org)
    assert event.changes == {"after": {"payment_mode": "postpaid", "credit_limit": "80000.00"}}


def test_resolving_a_fapiao_request_is_audited(client, staff_user, issued):
    request = invoicing.request_fapiao(actor=Actor.system(), invoice=issued)
    url = f"/admin/billing/fapiaorequest/{request.pk}/change/"
    refused = client.post(url, {"status": "rejected", "staff_note": ""})
    assert refused.status_code == 200  # a rejection needs a note: the form says so
    response = client.post(
        url, {"status": "issued", "fapiao_number": "26310000000012345678",
              "fapiao_date": "2026-11-30", "staff_note": ""},
    )  # fmt: skip
    assert response.status_code == 302
    assert FapiaoRequest.objects.get().status == "issued"
    audited("billing.fapiao_issued", staff_user, organization=issued.organization)


def test_gateway_credentials_are_audited(client, staff_user):
    client.post("/admin/projects/gatewaycredential/add/", {"name": "relay-sh"})
    created = audited("gateway_credential.created", staff_user)
    client.post(
        "/admin/projects/gatewaycredential/",
        {"action": "revoke", ACTION_CHECKBOX_NAME: [created.target_id]},
    )
    audited("gateway_credential.revoked", staff_user)


def test_catalog_import_new_price_and_filing_are_audited(client, staff_user):
    with open(DATA / "openrouter_models.json", "rb") as upload:
        client.post("/admin/billing/catalogmodel/import/", {"format": "openrouter", "file": upload})
    event = audited("catalog.imported", staff_user, organization=None)
    after = event.changes["after"]
    assert after["source"] == "openrouter" and after["versions_created"] == 4

    model = CatalogModel.objects.get(model_id="openai/gpt-4o")
    price = model.prices.get()
    data = {"effective_from_0": "2027-01-01", "effective_from_1": "00:00:00"}
    # An empty field is a price the source does not give (charged at the input price).
    data.update(
        {name: "" if (value := getattr(price, name)) is None else value for name in PRICE_FIELDS}
    )
    data["input_price"] = "20"
    response = client.post(f"/admin/billing/catalogmodel/{model.pk}/new-price/", data)
    assert response.status_code == 302, response.context["form"].errors
    assert audited("catalog.price_added", staff_user).changes["after"]["input_price"] == "20"

    client.post(
        "/admin/billing/catalogmodel/",
        {"action": "mark_filed", ACTION_CHECKBOX_NAME: [model.pk]},
    )
    assert audited("catalog.model_filed", staff_user, target_id=str(model.pk))
    model.refresh_from_db()
    assert model.is_filed


def test_plain_admin_edits_are_audited(client, staff_user):
    provider = PriceVersionFactory().model.provider
    url = f"/admin/billing/provider/{provider.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data["name"] = "DeepSeek 深度求索"
    assert client.post(url, data).status_code == 302
    assert Provider.objects.get(pk=provider.pk).name == "DeepSeek 深度求索"
    event = audited("admin.provider_changed", staff_user, organization=None)
    assert event.changes == {"after": {"admin": [{"changed": {"fields": ["Name"]}}]}}


def test_granting_the_view_as_permission_is_audited(client, staff_user):
    support = VerifiedUserFactory(is_staff=True)
    url = f"/admin/accounts/user/{support.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form.initial.get(name) for name in form.fields if form.initial.get(name)}
    data.pop("password", None)
    data.update(
        email=support.email, is_active="on", is_staff="on",
        user_permissions=[Permission.objects.get(codename="hijack_user").pk],
    )  # fmt: skip
    data.pop("groups", None)
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert support.has_perm("accounts.hijack_user")
    assert audited("admin.user_changed", staff_user, target_id=support.public_id)


def test_history_is_read_only(client, staff_user, issued):
    assert client.get(f"/admin/billing/invoice/{issued.pk}/delete/").status_code == 403
    for model in ("usageevent", "usagerollup", "ledgerentry", "auditevent", "invoiceline"):
        app = "accounts" if model == "auditevent" else "billing"
        page = client.get(f"/admin/{app}/{model}/")
        assert page.status_code in (200, 404)  # invoice lines live inline on the invoice
        if page.status_code == 200:
            assert not page.context["has_add_permission"]
    assert Organization.objects.exists()
