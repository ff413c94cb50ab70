"""The same notification delivered by several provider servers at once posts once (the
payment's row lock; the ledger's reference constraint behind it). Run it on PostgreSQL too."""

from decimal import Decimal

import pytest
from django.test import Client

from billing.invoicing import ledger
from billing.invoicing.models import LedgerEntry
from billing.payments import services
from billing.payments.models import Payment
from tests.billing.invoicing_data import at_once
from tests.factories import as_actor

WORKERS = 6


def deliver_at_once(url, headers, body, content_type):
    answers = []

    def deliver():
        answers.append(
            Client().post(url, body, content_type=content_type, headers=headers).status_code
        )

    assert at_once([deliver] * WORKERS) == []
    return answers


@pytest.mark.django_db(transaction=True)
def test_simultaneous_copies_of_a_wechat_notification_post_once(wechat, org, billing_member):
    payment = services.start_payment(actor=as_actor(billing_member), organization=org,
                                     provider_code="wechat", amount=Decimal("66.00"))  # fmt: skip
    headers, body = wechat.paid(payment.out_trade_no)
    headers = {k: v for k, v in headers.items() if k != "Content-Type"}
    answers = deliver_at_once("/billing/payments/notify/wechat/", headers, body, "application/json")
    assert answers == [200] * WORKERS
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.TOP_UP).count() == 1
    assert ledger.balance(org) == Decimal("66.00")
    assert Payment.objects.get().status == Payment.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_simultaneous_copies_of_a_refund_confirmation_post_once(
    wechat, org, billing_member, staff_user
):
    payment = services.start_payment(actor=as_actor(billing_member), organization=org,
                                     provider_code="wechat", amount=Decimal("66.00"))  # fmt: skip
    headers, body = wechat.paid(payment.out_trade_no)
    Client().post("/billing/payments/notify/wechat/", body, content_type="application/json",
                  headers={k: v for k, v in headers.items() if k != "Content-Type"})  # fmt: skip
    refund = services.refund_payment(
        actor=as_actor(staff_user), payment=payment, amount=Decimal("16.00"), reason="test"
    )
    headers, body = wechat.refunded(payment.out_trade_no, refund.out_refund_no, 1600)
    headers = {k: v for k, v in headers.items() if k != "Content-Type"}
    answers = deliver_at_once("/billing/payments/notify/wechat/", headers, body, "application/json")
    assert answers == [200] * WORKERS
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND).count() == 1
    assert ledger.balance(org) == Decimal("50.00")
    assert Payment.objects.get().refunded_amount == Decimal("16.00")
