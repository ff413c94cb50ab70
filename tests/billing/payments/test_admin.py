"""Staff console: online payments listed with their provider status, "query status", refunds."""

from decimal import Decimal

import pytest

from billing.invoicing.models import LedgerEntry
from billing.payments import services
from billing.payments.models import Payment, PaymentRefund
from tests.factories import as_actor

pytestmark = pytest.mark.django_db
LIST = "/admin/billing/payment/"


def test_staff_list_filter_query_and_refund(client, staff_user, alipay, org, billing_member):
    payment = services.start_payment(actor=as_actor(billing_member), organization=org,
                                     provider_code="alipay", amount=Decimal("40.00"))  # fmt: skip
    page = client.get(LIST, {"status__exact": "pending", "provider": "alipay"}).content.decode()
    assert payment.out_trade_no in page and "¥40.00" in page
    assert (
        payment.out_trade_no
        not in client.get(LIST, {"status__exact": "succeeded"}).content.decode()
    )

    alipay.trades[payment.out_trade_no]["trade_status"] = "TRADE_SUCCESS"
    answer = client.post(
        LIST, {"action": "query_status", "_selected_action": [payment.pk]}, follow=True
    )
    assert "TRADE_SUCCESS" in answer.content.decode()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED

    change = client.get(f"{LIST}{payment.pk}/change/").content.decode()
    refund_url = f"{LIST}{payment.pk}/refund/"
    assert refund_url in change
    too_much = client.post(refund_url, {"amount": "40.01", "reason": "too much"})
    assert too_much.status_code == 200 and "¥40.00" in too_much.content.decode()
    assert not PaymentRefund.objects.exists()
    done = client.post(refund_url, {"amount": "15.00", "reason": "customer asked"})
    assert done.status_code == 302
    refund = PaymentRefund.objects.get()
    assert (refund.status, refund.created_by) == (PaymentRefund.Status.SUCCEEDED, staff_user)
    assert LedgerEntry.objects.get(kind="refund").amount == Decimal("-15.00")
