"""WeChat Pay through the wechatpayv3 SDK against a fake WeChat Pay on 127.0.0.1."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.audit_trail import Actor
from billing.invoicing import ledger
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice, LedgerEntry
from billing.payments import services, tasks
from billing.payments.models import Payment, PaymentRefund
from portal.celery import app as celery_app
from tests.billing.payments.fake_providers import KeyPair
from tests.factories import InvoiceFactory, as_actor

NOTIFY = "/billing/payments/notify/wechat/"


def notify(client, headers_body):
    headers, body = headers_body
    return client.post(
        NOTIFY, body, content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )  # fmt: skip


def top_up(org, who, amount="88.00"):
    return services.start_payment(
        actor=as_actor(who), organization=org, provider_code="wechat", amount=Decimal(amount)
    )


def entries(org, kind=LedgerEntry.Kind.TOP_UP):
    return list(LedgerEntry.objects.for_org(org).filter(kind=kind))


@pytest.fixture
def payment(wechat, org, billing_member):
    return top_up(org, billing_member)


def test_start_asks_for_a_native_code_signed_by_the_merchant(wechat, payment):
    assert payment.status == Payment.Status.PENDING
    assert payment.code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    trade = wechat.trades[payment.out_trade_no]
    assert trade["amount"] == {"total": 8800, "currency": "CNY"}
    assert trade["notify_url"] == "https://portal.invalid/billing/payments/notify/wechat/"
    assert trade["mchid"] == wechat.MCHID


def test_a_verified_notification_posts_once_and_answers_success(client, wechat, org, payment):
    notification = wechat.paid(payment.out_trade_no)
    answers = [notify(client, notification) for _ in range(3)]  # WeChat retries
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert json.loads(answers[0].content) == {"code": "SUCCESS"}
    [entry] = entries(org)
    assert entry.amount == Decimal("88.00")
    assert entry.reference == f"wechat:{payment.out_trade_no}"
    assert ledger.balance(org) == Decimal("88.00")
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.provider_status == "SUCCESS"
    assert payment.provider_trade_no


def test_a_closed_after_success_keeps_the_payment_paid(client, wechat, org, payment):
    notify(client, wechat.paid(payment.out_trade_no))
    closed = wechat.notification("TRANSACTION.SUCCESS",
                                 wechat.transaction(payment.out_trade_no, "CLOSED"))  # fmt: skip
    assert notify(client, closed).status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.provider_status == "CLOSED"
    assert len(entries(org)) == 1


def test_a_success_after_close_still_posts_the_money(client, wechat, org, payment):
    closed = wechat.notification("TRANSACTION.SUCCESS",
                                 wechat.transaction(payment.out_trade_no, "CLOSED"))  # fmt: skip
    notify(client, closed)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CLOSED
    notify(client, wechat.paid(payment.out_trade_no))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert len(entries(org)) == 1


@pytest.mark.parametrize("tamper", ["wrong key", "edited body", "old timestamp", "no headers"])
def test_an_unverified_notification_is_refused_and_posts_nothing(
    client, wechat, org, payment, tamper
):
    headers, body = wechat.paid(payment.out_trade_no)
    if tamper == "wrong key":
        headers, body = wechat.notification(
            "TRANSACTION.SUCCESS", wechat.transaction(payment.out_trade_no), key=KeyPair()
        )
    elif tamper == "edited body":
        body = body.replace('"TRANSACTION.SUCCESS"', '"TRANSACTION.SUCCESS "')
    elif tamper == "old timestamp":
        headers, body = wechat.notification(
            "TRANSACTION.SUCCESS", wechat.transaction(payment.out_trade_no), timestamp=1_700_000_000
        )
    else:
        headers = {}
    answer = notify(client, (headers, body))
    assert answer.status_code == 400
    assert json.loads(answer.content)["code"] == "FAIL"
    assert entries(org) == []
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING


def test_a_paid_amount_that_differs_holds_the_payment_for_review(client, wechat, org, payment):
    assert notify(client, wechat.paid(payment.out_trade_no, total=1)).status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REVIEW
    assert "0.01" in payment.review_reason
    assert entries(org) == []
    notify(client, wechat.paid(payment.out_trade_no))  # even the right amount later
    assert entries(org) == []


def test_a_notification_for_an_unknown_trade_is_acknowledged_and_posts_nothing(
    client, wechat, org, payment
):
    wechat.trades["TPUNKNOWN"] = {
        **wechat.trades[payment.out_trade_no],
        "out_trade_no": "TPUNKNOWN",
    }
    assert notify(client, wechat.paid("TPUNKNOWN")).status_code == 200
    assert LedgerEntry.objects.count() == 0


def test_query_status_asks_the_provider_and_posts_a_missed_payment(wechat, org, payment):
    wechat.trades[payment.out_trade_no]["trade_state"] = "SUCCESS"
    services.refresh_payment(payment=payment)
    services.refresh_payment(payment=payment)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert len(entries(org)) == 1


def test_a_refund_posts_a_negative_entry_once_when_wechat_confirms_it(
    client, wechat, org, payment, staff_user
):
    notify(client, wechat.paid(payment.out_trade_no))
    refund = services.refund_payment(
        actor=as_actor(staff_user), payment=payment, amount=Decimal("30.00"), reason="test"
    )
    assert refund.status == PaymentRefund.Status.PENDING  # WeChat answered PROCESSING
    assert entries(org, LedgerEntry.Kind.REFUND) == []
    confirmation = wechat.refunded(payment.out_trade_no, refund.out_refund_no, 3000)
    for _ in range(2):
        assert notify(client, confirmation).status_code == 200
    [entry] = entries(org, LedgerEntry.Kind.REFUND)
    assert entry.amount == Decimal("-30.00")
    assert ledger.balance(org) == Decimal("58.00")
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (Payment.Status.SUCCEEDED, Decimal("30"))
    # a late "paid" after the refund changes nothing
    notify(client, wechat.paid(payment.out_trade_no))
    assert len(entries(org)) == 1
    assert ledger.balance(org) == Decimal("58.00")


def test_a_full_refund_marks_the_payment_refunded_and_no_more_can_be_refunded(
    client, wechat, org, payment, staff_user
):
    notify(client, wechat.paid(payment.out_trade_no))
    refund = services.refund_payment(
        actor=as_actor(staff_user), payment=payment, amount=Decimal("88.00"), reason="test"
    )
    with pytest.raises(services.PaymentError):  # the pending refund counts
        services.refund_payment(
            actor=as_actor(staff_user), payment=payment, amount=Decimal("1.00"), reason="again"
        )
    notify(client, wechat.refunded(payment.out_trade_no, refund.out_refund_no, 8800))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert ledger.balance(org) == Decimal("0")


def test_paying_an_invoice_posts_a_payment_and_marks_it_paid(client, wechat, org, billing_member):
    invoice = InvoiceFactory(organization=org, status=Invoice.Status.ISSUED,
                             subtotal_amount=Decimal("100.00"))  # fmt: skip
    invoicing.record_payment(  # a partial bank transfer first: the rest is paid online
        actor=Actor.system(), organization=org, amount=Decimal("6.00"), provider="bank",
        reference="B1", invoice=invoice,
    )  # fmt: skip
    payment = services.start_payment(
        actor=as_actor(billing_member), organization=org, provider_code="wechat", invoice=invoice
    )
    assert payment.amount == Decimal("100.00")
    notify(client, wechat.paid(payment.out_trade_no))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    online = LedgerEntry.objects.get(reference=f"wechat:{payment.out_trade_no}")
    assert (online.kind, online.amount, online.invoice) == ("payment", Decimal("100.00"), invoice)
    with pytest.raises(services.PaymentError):
        services.start_payment(actor=as_actor(billing_member), organization=org,
                               provider_code="wechat", invoice=invoice)  # fmt: skip


def test_a_refund_that_fails_at_wechat_posts_nothing_and_frees_the_amount(
    client, wechat, org, payment, staff_user
):
    notify(client, wechat.paid(payment.out_trade_no))
    refund = services.refund_payment(
        actor=as_actor(staff_user), payment=payment, amount=Decimal("88.00"), reason="test"
    )
    notify(client, wechat.refunded(payment.out_trade_no, refund.out_refund_no, 8800, "ABNORMAL"))
    refund.refresh_from_db()
    assert refund.status == PaymentRefund.Status.FAILED
    assert entries(org, LedgerEntry.Kind.REFUND) == []
    again = services.refund_payment(
        actor=as_actor(staff_user), payment=payment, amount=Decimal("88.00"), reason="again"
    )
    assert again.status == PaymentRefund.Status.PENDING


def test_an_answer_not_signed_by_wechat_pay_fails_the_payment(wechat, org, billing_member):
    wechat.platform = KeyPair()  # the fake now signs with a key the portal does not trust
    with pytest.raises(services.PaymentError):
        top_up(org, billing_member)
    assert Payment.objects.get().status == Payment.Status.FAILED


def test_beat_asks_about_late_payments_and_closes_expired_ones(wechat, org, billing_member):
    now = timezone.now()
    late, expired, fresh = (top_up(org, billing_member) for _ in range(3))
    Payment.objects.filter(pk=late.pk).update(created_at=now - timedelta(minutes=10))
    Payment.objects.filter(pk=expired.pk).update(created_at=now - timedelta(hours=3))
    wechat.trades[late.out_trade_no]["trade_state"] = "SUCCESS"
    assert wechat.trades[fresh.out_trade_no]["time_expire"].endswith("+08:00")

    assert services.refresh_open_payments(now=now) == 2
    statuses = {p.pk: p.status for p in Payment.objects.all()}
    assert statuses == {late.pk: "succeeded", expired.pk: "closed", fresh.pk: "pending"}
    assert len(entries(org)) == 1
    assert services.refresh_open_payments(now=now) == 0  # nothing open and due any more


def test_beat_finds_the_payment_check_task(settings):
    celery_app.loader.import_default_modules()
    task = settings.CELERY_BEAT_SCHEDULE["payment-check"]["task"]
    assert celery_app.tasks[task].name == tasks.refresh_open_payments.name == task
