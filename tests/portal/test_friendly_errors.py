"""A violated constraint is an error in our words at its field, in the form and in the API's
400: never a constraint's name, never Django's "… with this … already exists."."""

import re

import pytest
from django.apps import apps
from django.db import models
from django.urls import reverse

from billing.quotas.models import Quota
from portal.constraints import constraint_field
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db
OUR_APPS = {"accounts", "billing", "projects", "gateway", "portal"}


def test_every_constraint_of_ours_has_our_message():
    unworded = [
        f"{model.__name__}.{constraint.name}"
        for model in apps.get_models()
        if model._meta.app_label in OUR_APPS
        for constraint in model._meta.constraints
        if constraint.violation_error_message == constraint.default_violation_error_message
    ]
    assert unworded == []


# Unique values the portal assigns itself (numbers, ids, one row per organization): no person
# types them, so Django's message cannot reach anyone.
ASSIGNED = {
    "Heartbeat.name", "BankStatementLine.ledger_entry", "Invoice.number",
    "InvoiceNumberCounter.year", "FapiaoProfile.organization", "OverdueInvoice.number",
    "RemittanceReference.organization", "RemittanceReference.code", "BalanceAlert.organization",
    "UsageEvent.request_id", "RollupWatermark.name", "Payment.out_trade_no",
    "PaymentRefund.out_refund_no", "Settlement.month", "Settlement.idempotency_key",
    "Entitlement.reference", "Purchase.invoice", "Purchase.entitlement", "PlanFee.invoice",
    "Purchase.operator_charge", "PlanFee.operator_charge", "ConsolidatedBilling.organization",
}  # fmt: skip


def test_every_unique_field_a_person_types_has_our_message():
    unworded = [
        f"{model.__name__}.{field.name}"
        for model in apps.get_models()
        if model._meta.app_label in OUR_APPS
        for field in model._meta.get_fields()
        if isinstance(field, models.Field) and field.unique and not field.primary_key
        and field.editable and not field.auto_created and field.name != "public_id"
        and "already exists" in str(field.error_messages["unique"])
    ]  # fmt: skip
    unworded = [name for name in unworded if name not in ASSIGNED]
    assert unworded == [], "add error_messages={'unique': ...} (or editable=False)"


def test_a_constraint_is_reported_at_the_field_it_judges():
    constraints = {c.name: c for c in Quota._meta.constraints}
    assert constraint_field(Quota, constraints["quota_limit_positive"]) == "limit"
    assert constraint_field(Quota, constraints["quota_range_ordered"]) == "end_date"


def test_a_zero_limit_is_refused_at_its_field_in_the_form(client, admin):
    client.force_login(admin.user)
    response = client.post(
        "/organization/quotas/new/",
        {"scope": "organization", "metric": "tokens", "period": "month", "limit": "0",
         "thresholds": "50, 80", "on_exceed": "block"},
    )  # fmt: skip
    assert response.status_code == 200 and not Quota.objects.exists()
    form = response.context["form"]
    assert form.errors["limit"] == ["Enter a limit above zero."]
    assert "quota_limit_positive" not in response.content.decode()


def test_a_zero_limit_is_a_400_at_its_field_in_the_api(client, admin):
    client.force_login(admin.user)
    response = client.post(
        "/api/v1/quotas", {"scope": "organization", "limit": "0", "thresholds": [50]},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400 and not Quota.objects.exists()
    assert response.json()["error"]["fields"]["limit"] == ["Enter a limit above zero."]
    assert "quota_limit_positive" not in response.content.decode()


def test_a_department_code_taken_is_refused_at_the_code(client, owner, department):
    client.force_login(owner.user)
    response = client.post(
        "/organization/departments/new/", {"name": "Twin", "code": department.code}
    )
    assert response.status_code == 200
    assert "Another department already uses this code." in response.content.decode()


def test_a_registered_uscc_is_refused_in_our_words_and_the_kind_is_preset(client, owner):
    taken = OrganizationFactory()
    client.force_login(owner.user)
    blank = client.get(reverse("accounts:create")).context["form"]
    assert blank["kind"].value() == "enterprise"
    response = client.post(
        reverse("accounts:create"),
        {"kind": "enterprise", "name": "Twin", "legal_name": "Twin Ltd", "uscc": taken.uscc,
         "contact_name": "A", "contact_phone": "1", "address": "B",
         "billing_email": "billing@example.invalid"},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.context["form"].errors["uscc"] == [
        "An organization with this code is already registered."
    ]


def test_required_fields_are_marked_for_eyes_and_screen_readers(client, admin):
    client.force_login(admin.user)
    page = client.get("/organization/quotas/new/").content.decode()
    limit = re.search(r'<label for="id_limit">(.*?)</label>', page, re.S).group(1)
    assert '<span class="required-mark" aria-hidden="true"> *</span>' in limit
    assert '<span class="visually-hidden"> (required)</span>' in limit
    optional = re.search(r'<label for="id_start_date">(.*?)</label>', page, re.S).group(1)
    assert "required" not in optional


def required_marks(page: str) -> dict[str, tuple[bool, bool]]:
    """Each labelled input's id -> (the input is required, its label carries the mark)."""
    main = re.search(r"<main.*</main>", page, re.S).group(0)
    marks = {}
    for field_id, label in re.findall(r'<label for="([^"]+)">(.*?)</label>', main, re.S):
        control = re.search(rf'<(?:input|textarea|select)\b[^>]*\bid="{field_id}"[^>]*>', main)
        marked = '<span class="visually-hidden"> (required)</span>' in label
        marks[field_id] = (bool(re.search(r"\srequired\b", control.group(0))), marked)
    return marks


@pytest.mark.parametrize(
    ("path", "signed_in", "required"),
    [("/accounts/login/", False, {"id_login", "id_password"}),
     ("/accounts/signup/", False, {"id_email", "id_password1", "id_password2"}),
     ("/accounts/password/reset/", False, {"id_email"}),
     ("/accounts/password/change/", True, {"id_oldpassword", "id_password1", "id_password2"}),
     ("/accounts/email/", True, {"id_email"})],
)  # fmt: skip
def test_allauths_pages_mark_required_fields_as_our_forms_do(
    client, admin, path, signed_in, required
):
    if signed_in:
        client.force_login(admin.user)
    marks = required_marks(client.get(path).content.decode())
    assert {field for field, (_, marked) in marks.items() if marked} == required
    assert all(is_required == marked for is_required, marked in marks.values()), marks
