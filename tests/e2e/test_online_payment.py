"""Issue 22, online payment in Chromium: a billing member tops up with WeChat Pay (a fake
WeChat Pay on 127.0.0.1), sees the QR code drawn by the portal, and the page turns to "Paid"
by itself once the signed notification arrives. Screenshots: $VAR_DIR/e2e-screenshots/<test>/."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from accounts.permissions import Role
from billing.invoicing import ledger
from billing.payments import gateway
from billing.payments.models import Payment
from tests.billing.payments.conftest import configure
from tests.billing.payments.fake_providers import FakeWeChatPay, KeyPair
from tests.e2e.journey import sign_in
from tests.factories import MembershipFactory, VerifiedUserFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def wechat(settings):
    fake = FakeWeChatPay(KeyPair(), KeyPair())
    configure(settings, wechat=fake)
    yield fake
    fake.stop()
    gateway.forget()


def test_a_wechat_pay_top_up_from_qr_code_to_paid(journey, wechat, transactional_db):
    member = MembershipFactory(
        role=Role.BILLING, user=VerifiedUserFactory(email="pay@acme.example")
    )
    visitor = journey("en", audit=True)
    sign_in(visitor, "pay@acme.example")
    visitor.goto("/billing/")
    visitor.page.get_by_role("link", name=visitor.t("Top up with WeChat Pay or Alipay")).click()
    visitor.heading("Top up online")
    visitor.page.get_by_label(visitor.t("WeChat Pay")).check()
    visitor.page.get_by_label(visitor.t("Amount")).fill("200.00")
    visitor.step("the top-up form")
    visitor.press("Show the payment code")
    visitor.heading("Online payment")
    expect(visitor.page.locator("figure.payment-code svg")).to_be_visible()
    expect(visitor.page.get_by_role("status")).to_have_text(visitor.t("Waiting for payment"))
    visitor.step("the QR code")

    payment = Payment.objects.get()
    headers, body = wechat.paid(payment.out_trade_no)
    answer = Client().post(
        "/billing/payments/notify/wechat/", body, content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )  # fmt: skip
    assert answer.status_code == 200
    expect(visitor.page.get_by_role("status")).to_have_text(visitor.t("Paid"))
    expect(visitor.page.locator("figure.payment-code")).to_have_count(0)
    visitor.step("paid")
    assert ledger.balance(member.organization) == 200
