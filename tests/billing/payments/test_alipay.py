"""Alipay through the python-alipay-sdk against a fake Alipay gateway on 127.0.0.1."""

from decimal import Decimal

import pytest

from billing.invoicing import ledger
from billing.invoicing.models import LedgerEntry
from billing.payments import services
from billing.payments.models import Payment, PaymentRefund
from tests.billing.payments.fake_providers import KeyPair
from tests.factories import as_actor

NOTIFY = "/billing/payments/notify/alipay/"


def notify(client, body):
    return client.post(NOTIFY, body, content_type="application/x-www-form-urlencoded")


def entries(org, kind=LedgerEntry.Kind.TOP_UP):
    return list(LedgerEntry.objects.for_org(org).filter(kind=kind))


@pytest.fixture
def payment(alipay, org, billing_member):
    return services.start_payment(
        actor=as_actor(billing_member), organization=org, provider_code="alipay",
        amount=Decimal("50.00"),
    )  # fmt: skip


def test_precreate_gives_a_qr_code_for_the_amount(alipay, payment):
    assert payment.status == Payment.Status.PENDING
    assert payment.code_url.startswith("https://qr.alipay.invalid/")
    assert alipay.trades[payment.out_trade_no]["total_amount"] == "50.00"


def test_a_verified_notification_posts_once_and_answers_success(client, alipay, org, payment):
    body = alipay.paid(payment.out_trade_no)
    answers = [notify(client, body) for _ in range(2)]
    assert [(a.status_code, a.content) for a in answers] == [(200, b"success")] * 2
    [entry] = entries(org)
    assert (entry.amount, entry.reference) == (Decimal("50.00"), f"alipay:{payment.out_trade_no}")
    payment.refresh_from_db()
    assert (payment.status, payment.provider_status) == (Payment.Status.SUCCEEDED, "TRADE_SUCCESS")
    # TRADE_FINISHED later (refund period over) is the same payment
    notify(client, alipay.paid(payment.out_trade_no, status="TRADE_FINISHED"))
    assert len(entries(org)) == 1


@pytest.mark.parametrize("tamper", ["wrong key", "edited amount", "other app"])
def test_an_unverified_notification_is_refused_and_posts_nothing(
    client, alipay, org, payment, tamper
):
    body = alipay.paid(payment.out_trade_no)
    if tamper == "wrong key":
        body = alipay.notification(
            {"out_trade_no": payment.out_trade_no, "trade_status": "TRADE_SUCCESS",
             "total_amount": "50.00"}, key=KeyPair(),
        )  # fmt: skip
    elif tamper == "edited amount":
        body = body.replace("total_amount=50.00", "total_amount=5.00")
    else:
        body = alipay.notification(
            {"app_id": "2021999999999999", "trade_status": "TRADE_SUCCESS",
             "out_trade_no": payment.out_trade_no, "total_amount": "50.00"}
        )  # fmt: skip
    answer = notify(client, body)
    assert (answer.status_code, answer.content) == (400, b"failure")
    assert entries(org) == []


def test_a_different_amount_is_held_for_review(client, alipay, org, payment):
    notify(client, alipay.paid(payment.out_trade_no, total_amount="0.01"))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REVIEW
    assert entries(org) == []


def test_query_status_posts_a_payment_whose_notification_was_lost(alipay, org, payment):
    services.refresh_payment(payment=payment)
    payment.refresh_from_db()
    assert (payment.status, payment.provider_status) == (Payment.Status.PENDING, "WAIT_BUYER_PAY")
    alipay.trades[payment.out_trade_no]["trade_status"] = "TRADE_SUCCESS"
    services.refresh_payment(payment=payment)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert len(entries(org)) == 1


def test_a_refund_posts_at_once_and_its_notification_adds_nothing(
    client, alipay, org, payment, staff_user
):
    notify(client, alipay.paid(payment.out_trade_no))
    refund = services.refund_payment(
        actor=as_actor(staff_user), payment=payment, amount=Decimal("50.00"), reason="test"
    )
    assert refund.status == PaymentRefund.Status.SUCCEEDED  # fund_change Y
    # Alipay then notifies the full refund: TRADE_CLOSED with the refund's out_biz_no
    closed = alipay.paid(payment.out_trade_no, status="TRADE_CLOSED",
                         out_biz_no=refund.out_refund_no, refund_fee="50.00")  # fmt: skip
    assert notify(client, closed).status_code == 200
    [entry] = entries(org, LedgerEntry.Kind.REFUND)
    assert entry.amount == Decimal("-50.00")
    assert ledger.balance(org) == 0
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    # a "paid" arriving after the refund posts nothing
    notify(client, alipay.paid(payment.out_trade_no))
    assert len(entries(org)) == 1


def test_a_provider_that_refuses_leaves_the_payment_failed(alipay, org, billing_member):
    alipay.stop()  # nothing listens any more
    with pytest.raises(services.PaymentError) as refused:
        services.start_payment(actor=as_actor(billing_member), organization=org,
                               provider_code="alipay", amount=Decimal("10.00"))  # fmt: skip
    assert "provider" in refused.value.error_dict
    assert Payment.objects.get().status == Payment.Status.FAILED
