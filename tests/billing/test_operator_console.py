"""The operator's side in the staff console: "My customers", proposals decided by a second
staff member, the consolidated-billing setting, settlements built and downloaded."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from billing.catalog.models import ContractDiscount
from billing.invoicing.consolidated_models import ConsolidatedBilling
from billing.invoicing.models import Invoice
from billing.managed.models import AccountManager, Proposal, Settlement
from billing.packages.models import Offer
from tests.accounts.signin import sign_in, totp_code, totp_set_up_earlier, verified_user
from tests.billing.invoicing_data import customer, rollup
from tests.factories import (
    InvoiceFactory,
    QuotaAlertFactory,
    QuotaFactory,
    QuotaPeriodFactory,
)

pytestmark = pytest.mark.django_db

PACKAGE = {
    "offer": {"kind": "pack", "name_en": "City pack", "name_zh": "城市年包"},
    "terms": {"price_amount": "5000.00", "token_amount": 10_000_000, "scope": "all",
              "validity_days": 365},
}  # fmt: skip


@pytest.fixture
def second_staff(empty_cache):
    user = verified_user("checker@example.com", is_staff=True, is_superuser=True)
    other = Client()
    sign_in(other, user.email, code=totp_code(totp_set_up_earlier(user)))
    return other


def test_my_customers_shows_spend_overdue_and_quota_alerts(client, staff_user):
    c = customer(name="某区政务云")
    AccountManager.objects.create(user=staff_user, organization=c.organization)
    customer(name="别人的客户")  # not assigned: not shown
    InvoiceFactory(organization=c.organization, status=Invoice.Status.ISSUED,
                   subtotal_amount=Decimal("1000.00"),
                   due_at=timezone.now() - timedelta(days=3))  # fmt: skip
    quota = QuotaFactory(organization=c.organization)
    QuotaAlertFactory(quota_period=QuotaPeriodFactory(quota=quota), threshold=80)

    page = client.get("/admin/billing/accountmanager/my-customers/").content.decode()
    assert "某区政务云" in page and "别人的客户" not in page
    assert "¥1,060.00" in page  # the overdue invoice's outstanding total
    assert "80 %" in page
    download = client.get("/admin/billing/accountmanager/my-customers/csv/")
    text = b"".join(download.streaming_content).decode()
    assert text.startswith("\ufeffOrganization,") and "某区政务云,CNY,0.00,0,1,1060.00,1" in text


def test_a_proposal_made_in_the_console_waits_for_a_second_staff_member(
    client, staff_user, second_staff
):
    c = customer()
    AccountManager.objects.create(user=staff_user, organization=c.organization)
    url = "/admin/billing/proposal/propose/"
    bad = client.post(url, {"kind": "package", "organization": c.organization.pk,
                            "payload": json.dumps({"offer": {}})})  # fmt: skip
    assert bad.status_code == 200 and "offer" in bad.content.decode()
    assert not Proposal.objects.exists()

    made = client.post(url, {"kind": "package", "organization": c.organization.pk,
                             "payload": json.dumps(PACKAGE)})  # fmt: skip
    assert made.status_code == 302
    proposal = Proposal.objects.get()
    approve = f"/admin/billing/proposal/{proposal.pk}/approve/"
    own = client.post(approve)
    assert "A second staff member must decide" in own.content.decode()
    assert not Offer.objects.exists()

    # The checker's dashboard counts it; the proposer's does not (not theirs to decide).
    queue = '<div class="module" id="dash-operator">'
    checker = second_staff.get("/admin/").content.decode().split(queue)[1]
    assert '<div class="figure alert">1</div>' in checker.split("</div>")[0] + "</div>"
    own_queue = client.get("/admin/").content.decode().split(queue)[1]
    assert '<div class="figure">0</div>' in own_queue and "My customers" in own_queue

    assert second_staff.post(approve).status_code == 302
    assert Offer.objects.get().offered_to.get() == c.organization
    shown = client.get(f"/admin/billing/proposal/{proposal.pk}/change/").content.decode()
    assert "Approved" in shown and "checker@example.com" in shown

    discount = json.dumps({"percent": "30", "valid_from": "2026-01-01"})
    client.post(url, {"kind": "discount", "organization": c.organization.pk, "payload": discount})
    second = Proposal.objects.get(status=Proposal.Status.PENDING)
    reject = f"/admin/billing/proposal/{second.pk}/reject/"
    assert "This field is required" in second_staff.post(reject).content.decode()
    assert second_staff.post(reject, {"decision_reason": "Too deep"}).status_code == 302
    second.refresh_from_db()
    assert (second.status, second.decision_reason) == (Proposal.Status.REJECTED, "Too deep")
    assert not ContractDiscount.objects.exists()
    assert list(
        AuditEvent.objects.filter(action__startswith="billing.proposal_")
        .order_by("id")
        .values_list("action", "actor__email")
    ) == [("billing.proposal_made", staff_user.email),
          ("billing.proposal_approved", "checker@example.com"),
          ("billing.proposal_made", staff_user.email),
          ("billing.proposal_rejected", "checker@example.com")]  # fmt: skip


def test_consolidated_billing_is_set_in_the_console_and_settled(client, staff_user):
    c = customer()
    add = "/admin/billing/consolidatedbilling/add/"
    refused = client.post(add, {"organization": c.organization.pk, "enabled": "on",
                                "operator_account_number": ""})  # fmt: skip
    assert "account number at the operator" in refused.content.decode()
    assert not ConsolidatedBilling.objects.exists()
    saved = client.post(add, {"organization": c.organization.pk, "enabled": "on",
                              "operator_account_number": "ZJ-0001"})  # fmt: skip
    assert saved.status_code == 302
    assert ConsolidatedBilling.objects.get().operator_account_number == "ZJ-0001"
    assert AuditEvent.objects.get(action="billing.consolidated_billing_changed").actor == staff_user

    rollup(c, cost="8.00")
    not_ended = client.post("/admin/billing/settlement/build/", {"month": "2099-01"})
    assert "has not ended yet" in not_ended.content.decode()
    built = client.post("/admin/billing/settlement/build/", {"month": "2026-11"})
    settlement = Settlement.objects.get()
    assert built["Location"] == f"/admin/billing/settlement/{settlement.pk}/change/"
    csv_file = client.get(f"/admin/billing/settlement/{settlement.pk}/csv/").content.decode()
    assert (
        f"2026-11,{c.organization.public_id},示例科技,ZJ-0001,CNY,8.00,0.00,0.00,0.00," in csv_file
    )
    document = client.get(f"/admin/billing/settlement/{settlement.pk}/json/").json()
    assert document["rows"][0]["total"] == "8.48"
    setting = ConsolidatedBilling.objects.get()
    off = client.post(f"/admin/billing/consolidatedbilling/{setting.pk}/change/",
                      {"operator_account_number": "ZJ-0001"})  # fmt: skip
    assert "it stays on it" in off.content.decode()
    assert ConsolidatedBilling.objects.get().enabled
    # Not configured: sending now says so and changes nothing.
    answer = client.post("/admin/billing/settlement/", {"action": "push_now",
                         "_selected_action": [settlement.pk]}, follow=True)  # fmt: skip
    assert "not configured" in answer.content.decode()
    settlement.refresh_from_db()
    assert settlement.attempts == 0
