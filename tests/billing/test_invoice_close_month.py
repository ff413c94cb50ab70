"""Staff close and issue one organization's month: `manage.py close_month ORG YYYY-MM` and
"Close month…" on the billing account in the staff console, audited."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEvent
from billing.invoicing.models import Invoice
from billing.metering import services as metering
from tests.billing.metering_world import build_world
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def w():
    """A postpaid organization with a call on 2026-11-19 (today is 2026-12-04 or later)."""
    w = build_world(OrganizationFactory(payment_mode="postpaid"))
    event = w.event(model="chat-2", at=datetime(2026, 11, 19, tzinfo=UTC), input_tokens=10**6)
    metering.ingest_usage(events=[event], now=datetime(2026, 11, 20, tzinfo=UTC))
    return w


def close_month(*args) -> str:
    out = StringIO()
    call_command("close_month", *args, stdout=out)
    return out.getvalue()


def test_the_command_closes_and_issues_the_month_once(w):
    output = close_month(w.org.public_id, "2026-11")
    invoice = Invoice.objects.get(organization=w.org)
    assert (invoice.status, invoice.period_start.isoformat()) == ("issued", "2026-11-01")
    assert invoice.subtotal_amount == Decimal("1.00")
    assert f"Invoice {invoice.number} issued: 1.06 CNY." in output
    event = AuditEvent.objects.get(action="billing.month_closed", organization=w.org)
    assert event.actor is None and event.changes["after"]["invoice"] == invoice.number
    with pytest.raises(CommandError, match=rf"already closed .*{invoice.number} \(Issued\)"):
        close_month(w.org.public_id, "2026-11")
    assert Invoice.objects.count() == 1
    call_command("verify_billing", "--organization", w.org.public_id, stdout=StringIO())


@pytest.mark.parametrize(
    ("organization", "month", "error"),
    [
        ("org_nope", "2026-11", "No organization org_nope."),
        (None, "2026-13", "2026-13 is not a month: YYYY-MM"),
        (None, "November", "November is not a month"),
        (None, "2099-01", "2099-01 has not ended yet."),
    ],
)
def test_the_command_refuses_clearly_and_changes_nothing(w, organization, month, error):
    with pytest.raises(CommandError, match=error):
        close_month(organization or w.org.public_id, month)
    assert not Invoice.objects.exists()
    assert not AuditEvent.objects.filter(action="billing.month_closed").exists()


def test_a_month_without_usage_has_nothing_to_bill(w):
    assert "Nothing to bill for 2026-10." in close_month(w.org.public_id, "2026-10")
    assert not Invoice.objects.exists()


def test_staff_close_a_month_from_the_console_audited(client, staff_user, w):
    page = client.get(f"/admin/billing/billingaccount/{w.org.pk}/change/").content.decode()
    url = f"/admin/billing/billingaccount/{w.org.pk}/close-month/"
    assert url in page and "Close month…" in page
    refused = client.post(url, {"month": "2026/11"})
    assert refused.status_code == 200 and "YYYY-MM" in refused.content.decode()
    not_ended = client.post(url, {"month": "2099-01"})
    assert "2099-01 has not ended yet." in not_ended.content.decode()
    assert not Invoice.objects.exists()

    response = client.post(url, {"month": "2026-11"})

    invoice = Invoice.objects.get(organization=w.org)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/billing/invoice/{invoice.pk}/change/"
    assert invoice.status == "issued"
    shown = client.get(response["Location"]).content.decode()
    assert "Usage billed through event" in shown and "Usage read from month" in shown
    closed = AuditEvent.objects.get(action="billing.month_closed", organization=w.org)
    assert closed.actor == staff_user and closed.changes["after"]["month"] == "2026-11"
    issued = AuditEvent.objects.get(action="billing.invoice_issued", organization=w.org)
    assert issued.actor == staff_user
    again = client.post(url, {"month": "2026-11"})
    assert "already closed" in again.content.decode()
    assert Invoice.objects.count() == 1


def test_staff_without_invoice_rights_cannot_close_a_month(client, w):
    from tests.accounts.signin import sign_in, totp_code, totp_set_up_earlier, verified_user

    clerk = verified_user("clerk@example.com", is_staff=True)
    sign_in(client, clerk.email, code=totp_code(totp_set_up_earlier(clerk)))
    response = client.post(f"/admin/billing/billingaccount/{w.org.pk}/close-month/", {})
    assert response.status_code == 403
    assert not Invoice.objects.exists()
