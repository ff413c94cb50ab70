"""Each organization's billing members set the balance under which they are warned."""

from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent
from accounts.permissions import Role
from billing.invoicing import ledger
from billing.invoicing.models import BalanceAlert
from tests.billing.invoicing_data import customer, event, top_up
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def member(c, role):
    return MembershipFactory(organization=c.organization, role=role).user


def low_balance_mails(c):
    return [
        m
        for m in mail.outbox
        if m.to == [c.organization.billing_email]
        and m.extra_headers["X-Token-Portal-Event"] == "balance.low"
    ]


def test_the_organizations_own_threshold_replaces_the_platform_default(
    client, settings, django_capture_on_commit_callbacks
):
    settings.LOW_BALANCE_ALERT_AMOUNT = Decimal("100")
    mine, other = (
        customer(payment_mode="prepaid"),
        customer(payment_mode="prepaid", name="别家", legal_name="别家有限公司"),
    )
    client.force_login(member(mine, Role.BILLING))
    response = client.post("/billing/balance-alert/", {"threshold_amount": "1000"})
    assert response.status_code == 302
    assert BalanceAlert.objects.get(organization=mine.organization).threshold_amount == 1000
    event_row = AuditEvent.objects.get(action="billing.low_balance_threshold_changed")
    assert event_row.changes == {
        "before": {"threshold_amount": "100"},
        "after": {"threshold_amount": "1000"},
    }

    for c in (mine, other):
        top_up(c, "1500")
    with django_capture_on_commit_callbacks(execute=True):
        for c in (mine, other):
            ledger.charge_usage([event(c, cost="600")])  # 900: under 1000, over 100
    assert len(low_balance_mails(mine)) == 1
    assert low_balance_mails(other) == []


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("-1", "Enter an amount of zero or more."),
        ("abc", "Enter a number."),
        ("", "This field is required."),
    ],
)
def test_a_bad_amount_is_refused_and_changes_nothing(client, amount, error):
    c = customer(payment_mode="prepaid")
    client.force_login(member(c, Role.OWNER))
    page = client.post("/billing/balance-alert/", {"threshold_amount": amount}, follow=True)
    assert [str(m) for m in page.context["messages"]] == [error]
    assert not BalanceAlert.objects.exists()
    assert not AuditEvent.objects.filter(action="billing.low_balance_threshold_changed").exists()


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.VIEWER])
def test_only_billing_managers_set_it(client, role):
    c = customer(payment_mode="prepaid")
    client.force_login(member(c, role))
    assert client.post("/billing/balance-alert/", {"threshold_amount": "5"}).status_code == 403
    assert not BalanceAlert.objects.exists()


def test_the_page_and_the_api_show_the_threshold_in_force(client, settings):
    settings.LOW_BALANCE_ALERT_AMOUNT = Decimal("100")
    c = customer(payment_mode="prepaid")
    client.force_login(member(c, Role.BILLING))
    assert client.get("/api/v1/billing/balance").json()["low_balance_threshold_amount"] == (
        "100.00"
    )
    client.post("/billing/balance-alert/", {"threshold_amount": "2500.50"})
    assert client.get("/api/v1/billing/balance").json()["low_balance_threshold_amount"] == (
        "2500.50"
    )
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/billing/")
    assert 'value="2500.50"' in page.content.decode()
    # The summary and the form share one read of the amount.
    assert sum(BalanceAlert._meta.db_table in q["sql"] for q in queries.captured_queries) == 1
