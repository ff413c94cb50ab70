"""The billing page, the payment page and the API of online payments."""

from decimal import Decimal

from django.urls import reverse

from billing.invoicing.models import Invoice
from billing.payments.models import Payment
from tests.factories import InvoiceFactory
from tests.portal.test_csp import assert_clean, crawl
from tests.portal.test_layout import crumbs


def test_without_configured_providers_nothing_is_offered(client_of, billing_member, settings):
    client = client_of(billing_member)
    page = client.get(reverse("billing:billing"))
    assert page.status_code == 200
    assert reverse("billing:payment-start") not in page.content.decode()
    assert client.get(reverse("billing:payment-start")).status_code == 404
    assert (
        client.post(
            "/billing/payments/notify/wechat/", "{}", content_type="application/json"
        ).status_code
        == 404
    )


def test_a_billing_member_tops_up_and_sees_the_qr_code(client_of, billing_member, wechat, org):
    client = client_of(billing_member)
    page = client.get(reverse("billing:billing")).content.decode()
    assert reverse("billing:payment-start") in page
    answer = client.post(
        reverse("billing:payment-start"), {"provider": "wechat", "amount": "20.00"}
    )
    payment = Payment.objects.get()
    assert answer.url == reverse("billing:payment", kwargs={"payment": payment.public_id})
    shown = client.get(answer.url).content.decode()
    assert "<svg" in shown and "¥20.00" in shown
    status = client.get(reverse("billing:payment-status", kwargs={"payment": payment.public_id}))
    assert status.json() == {
        "status": "pending",
        "open": True,
        "status_display": "Waiting for payment",
    }


def test_a_bad_amount_is_an_error_at_its_field_and_creates_nothing(
    client_of, billing_member, wechat
):
    answer = client_of(billing_member).post(
        reverse("billing:payment-start"), {"provider": "wechat", "amount": "0.001"}
    )
    assert answer.status_code == 200
    assert answer.context["form"].errors["amount"]
    assert not Payment.objects.exists()


def test_a_viewer_may_not_start_a_payment_and_an_outsider_sees_none(
    client_of, viewer, outsider, billing_member, wechat, org
):
    assert client_of(viewer).get(reverse("billing:payment-start")).status_code == 403
    client_of(billing_member).post(
        reverse("billing:payment-start"), {"provider": "wechat", "amount": "20.00"}
    )
    url = reverse("billing:payment", kwargs={"payment": Payment.objects.get().public_id})
    assert client_of(outsider).get(url).status_code == 404
    assert client_of(viewer).get(url).status_code == 403


def test_the_invoice_row_offers_to_pay_it(client_of, billing_member, wechat, org):
    invoice = InvoiceFactory(
        organization=org, status=Invoice.Status.ISSUED, subtotal_amount=Decimal(50)
    )
    client = client_of(billing_member)
    link = f"{reverse('billing:payment-start')}?invoice={invoice.public_id}"
    assert link in client.get(reverse("billing:billing")).content.decode()
    assert "¥53.00" in client.get(link).content.decode()
    client.post(link, {"provider": "wechat", "invoice": invoice.public_id})
    assert Payment.objects.get().amount == Decimal("53.00")


def test_the_payment_pages_are_breadcrumbs_under_billing(client_of, billing_member, wechat, org):
    invoice = InvoiceFactory(organization=org, status=Invoice.Status.ISSUED)
    client = client_of(billing_member)
    start = reverse("billing:payment-start")
    under_billing = [("/", "Overview"), ("/billing/", "Billing")]
    assert crumbs(client.get(start).content.decode()) == [*under_billing, ("", "Top up online")]
    paying = client.get(f"{start}?invoice={invoice.public_id}").content.decode()
    assert crumbs(paying) == [*under_billing, ("", f"Pay invoice {invoice.number}")]
    client.post(start, {"provider": "wechat", "amount": "20.00"})
    url = reverse("billing:payment", kwargs={"payment": Payment.objects.get().public_id})
    assert crumbs(client.get(url).content.decode()) == [*under_billing, ("", "Online payment")]


def test_api_creates_and_reads_payments(client_of, billing_member, outsider, wechat, org):
    client = client_of(billing_member)
    created = client.post(
        "/api/v1/billing/payments",
        {"provider": "wechat", "amount": "30.00"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["purpose"], body["amount"], body["status"]) == ("top_up", "30.00", "pending")
    assert body["code_url"].startswith("weixin://")
    assert client.get(f"/api/v1/billing/payments/{body['id']}").json()["id"] == body["id"]
    assert client_of(outsider).get(f"/api/v1/billing/payments/{body['id']}").status_code == 404
    invoice = InvoiceFactory(
        organization=org, status=Invoice.Status.ISSUED, subtotal_amount=Decimal(10)
    )
    paid = client.post(
        "/api/v1/billing/payments",
        {"provider": "wechat", "invoice": invoice.public_id},
        content_type="application/json",
    )
    assert (paid.status_code, paid.json()["amount"]) == (201, "10.60")


def test_api_refuses_bad_input_at_its_field(client_of, billing_member, outsider, wechat):
    client = client_of(billing_member)
    other = InvoiceFactory(organization=outsider.organization, status=Invoice.Status.ISSUED)
    for data, field in [
        ({"provider": "wechat"}, "amount"),
        ({"provider": "paypal", "amount": "5.00"}, "provider"),
        ({"provider": "wechat", "amount": "999999999.00"}, "amount"),
        ({"provider": "wechat", "invoice": other.public_id}, "invoice"),
    ]:
        answer = client.post("/api/v1/billing/payments", data, content_type="application/json")
        assert answer.status_code == 400, (data, answer.content)
        assert field in str(answer.json()), (data, answer.json())
    assert not Payment.objects.exists()


def test_the_payment_pages_keep_the_content_security_policy(client_of, billing_member, wechat, org):
    """The CSP crawler of tests/portal sees no configured provider: the same walk, with one."""
    client = client_of(billing_member)
    invoice = InvoiceFactory(
        organization=org, status=Invoice.Status.ISSUED, subtotal_amount=Decimal(5)
    )
    client.post(reverse("billing:payment-start"), {"provider": "wechat", "amount": "20.00"})
    found = crawl(client, [reverse("billing:billing")])
    assert {
        reverse("billing:payment-start"),
        f"{reverse('billing:payment-start')}?invoice={invoice.public_id}",
        reverse("billing:payment", kwargs={"payment": Payment.objects.get().public_id}),
    } <= set(found)
    assert_clean(found, at_least=4)
