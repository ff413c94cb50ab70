"""Issue 9, in Chromium: the customer journey end to end, against a live server with a real
Celery worker, in English and in Simplified Chinese.

sign up -> verify the email address (the code read from the mail the worker delivered) ->
create an enterprise organization -> staff approve it (admin behind TOTP), record a bank
top-up and issue a gateway credential -> a department, a project, a key (shown once) ->
the gateway authorizes the key and reports usage (httpx) -> the usage dashboard shows the
tokens and cost -> a department quota, and its alert in the bell -> the month is closed by the
worker's billing day -> the invoice PDF is downloaded from the billing page.
Screenshots: $VAR_DIR/e2e-screenshots/<test name>/NN-step.png."""

import io
import re
import uuid
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone, translation
from playwright.sync_api import expect
from pypdf import PdfReader

from accounts.models import Organization
from billing.invoicing import tasks as invoicing_tasks
from billing.invoicing.models import Invoice
from billing.metering import tasks as metering_tasks
from billing.metering.models import UsageRollup
from notifications.models import Notification
from portal.periods import month_of, month_start
from tests.accounts.signin import totp_code, totp_set_up_earlier, verified_user
from tests.conftest import wait_for
from tests.factories import make_uscc

pytestmark = [pytest.mark.browser, pytest.mark.worker]

PASSWORD = "a long and unusual passphrase 42"
MODEL = "deepseek/deepseek-chat"


def read_mail(folder, to: str):
    """The newest message to `to` that the worker's file email backend wrote."""

    def delivered():
        """the worker delivered a message"""
        files = sorted(folder.glob("*.log")) if folder.exists() else []
        texts = [f.read_text() for f in files]
        return [text for text in texts if f"To: {to}" in text]

    return wait_for(delivered)[-1]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_customer_journey(language, journey, celery_worker, priced_model, live_server, empty_cache):
    email = f"founder-{language}@acme.example"
    customer = journey(language, audit=True)  # axe-core at every customer step
    page, t = customer.page, customer.t

    # --- Sign up, in the journey's language ------------------------------------------------
    customer.goto("/")
    if language != "en":
        customer.choose_language()
    customer.heading("Token Portal")
    customer.step("home")
    page.get_by_role("link", name=t("Create an account")).click()
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password1]").fill(PASSWORD)
    page.locator("input[name=password2]").fill(PASSWORD)
    customer.step("sign up")
    customer.press("Sign Up")

    # --- Verify the address with the code the worker mailed ------------------------------
    code_field = page.locator("input[name=code]")
    expect(code_field).to_be_visible()
    customer.step("enter the emailed code")
    message = read_mail(celery_worker, email)
    code = re.search(r"^([A-Z0-9]+(?:-[A-Z0-9]+)+)$", message, re.MULTILINE).group(1)
    code_field.fill(code)
    customer.press("Confirm")

    # --- Create an enterprise organization ------------------------------------------------
    page.get_by_role("link", name=t("Create an organization")).first.click()
    customer.heading("Create an organization")
    org_name = f"Acme {language}"
    page.locator("select[name=kind]").select_option("enterprise")
    page.locator("input[name=name]").fill(org_name)
    page.locator("input[name=legal_name]").fill("阿克米科技有限公司")
    page.locator("input[name=uscc]").fill(make_uscc(71 if language == "en" else 72))
    page.locator("input[name=contact_name]").fill("张伟")
    page.locator("input[name=contact_phone]").fill("+86 10 8888 0000")
    page.locator("[name=address]").fill("北京市海淀区中关村大街1号")
    page.locator("input[name=billing_email]").fill("finance@acme.example")
    customer.step("create organization")
    page.get_by_role("button", name=t("Create organization")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(org_name)
    expect(page.locator(".banner.warning")).to_be_visible()
    customer.step("pending review")
    organization = Organization.objects.get(name=org_name)

    # --- Staff: approve, record the bank transfer, issue a gateway credential --------------
    staff_user = verified_user(f"staff-{language}@example.com", is_staff=True, is_superuser=True)
    secret = totp_set_up_earlier(staff_user)
    staff = journey("en")
    staff.goto("/accounts/login/?next=/admin/")
    staff.page.locator("input[name=login]").fill(staff_user.email)
    staff.page.locator("input[name=password]").fill("correct horse battery")
    staff.press("Sign In")
    staff.page.locator("input[name=code]").fill(totp_code(secret))
    staff.step("staff second factor")
    staff.press("Sign In")
    expect(staff.page.locator("#site-name")).to_be_visible()
    staff.goto("/admin/accounts/organization/?status__exact=pending")
    staff.page.locator(f"input[name=_selected_action][value='{organization.pk}']").check()
    staff.page.locator("select[name=action]").select_option("approve")
    staff.step("staff select the organization")
    staff.page.locator("button[name=index]").click()
    staff.page.locator("[name=note]").fill("USCC checked against the national registry.")
    staff.step("staff approve")
    staff.page.locator("input[name=apply]").click()
    expect(staff.page.locator(".messagelist")).to_contain_text("1 organizations approved.")

    staff.goto(f"/admin/billing/ledgerentry/top-up/?organization={organization.pk}")
    staff.page.locator("input[name=amount]").fill("1000")
    staff.page.locator("input[name=reference]").fill(f"BANK-{language}-0001")
    staff.step("staff record a top-up")
    staff.page.locator("input[type=submit], button[type=submit]").last.click()
    expect(staff.page.locator(".messagelist")).to_contain_text("Top-up recorded.")

    staff.goto("/admin/projects/gatewaycredential/add/")
    staff.page.locator("input[name=name]").fill(f"gateway {language}")
    staff.page.locator("input[name=_save]").click()
    gateway_token = staff.page.locator("#secret").input_value()
    assert gateway_token.startswith("tpg_")
    staff.step("staff gateway credential shown once")

    # --- A department, a project and a key ------------------------------------------------
    customer.goto("/")
    expect(page.locator(".banner.warning")).to_have_count(0)
    customer.goto("/organization/departments/new/")
    page.locator("input[name=name]").fill("平台部" if language != "en" else "Platform")
    page.locator("input[name=code]").fill("PLT")
    customer.step("new department")
    page.locator("main form button[type=submit]").last.click()
    customer.heading("Departments")  # saved: the tree, before the next page is asked for
    department = organization.departments.get(code="PLT")

    customer.goto("/projects/new/")
    page.locator("input[name=name]").fill("Chatbot")
    page.locator("select[name=department]").select_option(label=str(department))
    customer.step("new project")
    page.locator("main form button[type=submit]").last.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Chatbot")
    page.get_by_role("link", name=t("New API key")).click()
    page.locator("input[name=name]").fill("production")
    customer.step("new key")
    page.locator("main form button[type=submit]").last.click()
    customer.heading("Your new API key")
    api_key = page.locator("#secret").input_value()
    customer.step("key shown once")

    # --- The gateway authorizes the key and reports usage ----------------------------------
    now = timezone.now()
    # Within the acceptance window whatever the day: the last hours of last month.
    last_month_end = month_start(month_of(now)) - timedelta(hours=6)
    with httpx.Client(
        base_url=live_server.url, headers={"authorization": f"Bearer {gateway_token}"}
    ) as gateway:

        def report(*events):
            body = {"events": [
                {"request_id": f"req-{uuid.uuid4()}", "key_id": key_id, "model": MODEL,
                 "input_tokens": i, "output_tokens": o, "cached_input_tokens": 0,
                 "occurred_at": at.isoformat()}
                for i, o, at in events
            ]}  # fmt: skip
            response = gateway.post("/api/v1/gateway/usage", json=body)
            assert response.status_code == 202, response.text
            return response.json()

        answer = gateway.post(
            "/api/v1/gateway/authorize",
            json={"api_key": api_key, "model": MODEL, "client_ip": "203.0.113.7"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["allowed"] is True
        key_id = answer.json()["key_id"]
        accepted = report(
            (400_000, 100_000, now - timedelta(minutes=5)), (1_000_000, 250_000, last_month_end)
        )
        assert accepted == {"accepted": 2, "duplicates": 0}

        # The worker rolls the events up (Beat would, every minute).
        metering_tasks.roll_up_usage.delay()
        wait_for(lambda: UsageRollup.objects.filter(organization=organization).count() >= 2)

        # --- The dashboard shows the tokens and the cost ---------------------------------
        customer.goto("/usage/")
        customer.heading("Usage")
        figures = page.locator(".usage-figures .figure")  # tokens, cost, forecast
        # 500,000 tokens; 0.4 * 2 + 0.1 * 8 = 1.60 CNY.
        expect(figures.nth(0)).to_have_text(re.compile(r"^500[,\s]?000$"))
        expect(figures.nth(1)).to_have_text("¥1.60")
        customer.step("usage dashboard")

        # --- A department quota, and its alert in the bell ------------------------------
        customer.goto("/organization/quotas/new/")
        page.locator("select[name=scope]").select_option("department")
        page.locator("select[name=department]").select_option(department.public_id)
        page.locator("select[name=metric]").select_option("tokens")
        page.locator("select[name=period]").select_option("month")
        page.locator("input[name=limit]").fill("1000000")
        page.locator("input[name=thresholds]").fill("50, 80, 100")
        customer.step("department quota")
        page.locator("main form button[type=submit]").last.click()
        expect(page.locator(".messages")).to_be_visible()

        # The quota counts this month's 500,000 tokens at once (50 %, alerted as it is saved);
        # 300,000 more make 80 %, alerted by the worker from what the ingestion enqueued.
        report((200_000, 100_000, timezone.now()))
        at_80 = Notification.objects.filter(user__email=email, sent_subject__contains="80 %")
        wait_for(at_80.exists)
        customer.goto("/usage/")
        bell = page.locator("a.bell")
        expect(bell.locator(".badge")).to_be_visible()
        customer.step("alert in the bell")
        bell.click()
        with translation.override(language):  # notifications are rendered as they are read
            subject = at_80.get().subject
        assert Notification.objects.filter(
            user__email=email, sent_subject__contains="50 %"
        ).exists()
        customer.assert_in_language(subject)
        expect(page.locator("main")).to_contain_text(subject)
        customer.step("notifications")

    # --- The worker's billing day closes last month and issues the invoice ------------------
    invoicing_tasks.run_billing_day.delay()
    invoice = wait_for(lambda: Invoice.objects.for_org(organization).visible_to_customers().first())
    customer.goto("/billing/")
    customer.heading("Billing")
    expect(page.locator("main")).to_contain_text(invoice.number)
    customer.step("billing with the invoice")
    pdf_link = page.locator("tr", has_text=invoice.number).locator("a[href*='.pdf']").first
    # A download ends its navigation: Chromium reports the request as aborted.
    customer.expect_failure(r"/billing/invoices/\w+\.pdf(\?|$)", "net::ERR_ABORTED")
    with page.expect_download() as download:
        pdf_link.click()
    pdf = PdfReader(io.BytesIO(download.value.path().read_bytes()))
    text = "".join(p.extract_text() for p in pdf.pages)
    assert invoice.number in text
    assert f"{invoice.total_amount}" in text
    customer.step("invoice downloaded")
