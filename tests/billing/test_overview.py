"""The overview (the page after sign-in): figures in the member's scope, the balance only for
billing roles, the monthly cap with its forecast, quotas closest to their limit, alerts and
unread notifications, the tops, the chart data, the getting-started checklist, and a
bounded number of queries."""

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Organization
from accounts.permissions import Role
from billing.invoicing import services as invoicing
from billing.metering import services as metering
from billing.overview.selectors import getting_started, overview
from billing.quotas import services as quotas
from billing.quotas.models import Quota
from notifications.models import Notification
from notifications.services import notify
from portal import periods
from tests.billing.metering_world import build_world
from tests.factories import (
    LedgerEntryFactory,
    MembershipFactory,
    OrganizationFactory,
    UsageRollupFactory,
    VerifiedUserFactory,
    as_actor,
)

pytestmark = pytest.mark.django_db


def this_month_start():
    return periods.month_start(periods.month_of(timezone.now()))


@pytest.fixture
def world(metering_world, django_capture_on_commit_callbacks):
    """This month: 1 M tokens of chat-1 in A (2 CNY), 1 M of chat-2 in B (1 CNY) and 1 M of
    chat-1 without a department (2 CNY); last month 3 CNY in A on its first day. A money cap
    of 10 CNY on the organization, a token quota of 4 M on A, a balance of 100 CNY."""
    w = metering_world
    owner = w.members["owner"]
    quotas.create_quota(
        actor=as_actor(owner), scope="organization", metric="money", period="month",
        limit=Decimal(10), thresholds=[20, 80],
    )  # fmt: skip
    quotas.create_quota(
        actor=as_actor(owner), scope="department", target=w.deps["A"], metric="tokens",
        period="month", limit=Decimal(4_000_000), thresholds=[25],
    )  # fmt: skip
    now = timezone.now()
    at = max(this_month_start(), now - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):  # the alerts
        metering.ingest_usage(
            events=[
                w.event(key="a", at=at, input_tokens=1_000_000, output_tokens=0),
                w.event(key="b", model="chat-2", at=at, input_tokens=1_000_000, output_tokens=0),
            ]
        )
        metering.roll_up()
        metering.ingest_usage(
            events=[w.event(key="n", at=at, input_tokens=1_000_000, output_tokens=0)]
        )
    last = periods.month_start(periods.add_months(periods.month_of(now), -1))
    UsageRollupFactory(
        hour=last.astimezone(UTC), api_key=w.keys["a"], model=w.models["chat-1"],
        input_tokens=1_500_000, output_tokens=0, cost_amount=Decimal(3),
    )  # fmt: skip
    LedgerEntryFactory(organization=w.org, amount=Decimal(100))
    w.members["billing"] = MembershipFactory(organization=w.org, role=Role.BILLING)
    return w


def tell(world, subject):
    notify(
        organization=world.org, event_type="test", subject=subject, message="…", data={},
        recipients=[world.members["owner"].user],
    )  # fmt: skip


def test_the_billing_page_forecasts_the_month_with_the_same_line(world):
    """5.00 spent: ten days in, the month's days x 0.50; half an hour in, the line of the
    first hour (sooner, it would mean nothing)."""
    start, end = periods.month_bounds(periods.month_of(timezone.now()))
    days = Decimal((end - start) / timedelta(days=1))
    ten_days_in = invoicing.billing_summary(world.org, now=start + timedelta(days=10))
    assert ten_days_in.forecast_amount == (Decimal("0.5") * days).quantize(Decimal("0.01"))
    early = invoicing.billing_summary(world.org, now=start + timedelta(minutes=30))
    assert early.forecast_amount == (5 * days * 24).quantize(Decimal("0.01"))


def page(client, member):
    client.force_login(member.user)
    return client.get("/")


def test_the_owner_sees_balance_spend_forecast_cap_quotas_alerts_and_tops(client, world):
    tell(world, "Read me")
    response = page(client, world.members["owner"])
    assert response.status_code == 200
    o = response.context["overview"]
    assert o.billing.balance_amount == Decimal(95)  # prepaid: usage is charged as it comes
    assert o.spend == {"CNY": Decimal(5)}
    assert o.tokens == 3_000_000
    assert o.forecast["CNY"] >= Decimal(5)
    assert o.cap.scope == Quota.Scope.ORGANIZATION
    assert o.cap.current.consumed_amount == Decimal(5) and o.cap.percent == 50
    assert o.cap_forecast >= Decimal(5)
    assert [(q.scope, q.percent) for q in o.quotas] == [("organization", 50), ("department", 25)]
    assert {a.threshold for a in o.alerts} == {20, 25}
    assert o.notifications[0].subject == "Read me"  # the newest unread first
    assert [row["id"] for row in o.top_models] == ["chat-1", "chat-2"]
    assert [row["name"] for row in o.top_projects] == ["Project A", "No department", "Project B"]
    assert o.key_project == world.projects["a"]
    html = response.content.decode()
    for text in ("¥95.00", "¥5.00", "Monthly cap", "Read me", "Create API key", "Project A"):
        assert text in html
    assert 'id="overview-data"' in html and "billing/overview-chart.js" in html
    assert "<script>" not in html  # the CSP allows no inline script: data goes in json_script


def test_the_chart_holds_this_month_and_last_month_by_day(client, world):
    chart = page(client, world.members["owner"]).context["overview"].chart
    today = (timezone.now().astimezone(periods.business_zone()) - this_month_start()).days
    assert len(chart["this_month"]) == today + 1
    assert sum(chart["this_month"]) == 5.0
    assert chart["last_month"][0] == 3.0 and sum(chart["last_month"]) == 3.0
    assert chart["days"][0] == 1 and len(chart["days"]) >= 28
    html = page(client, world.members["owner"]).content.decode()
    data = json.loads(re.search(r'id="overview-data"[^>]*>(.*?)</script>', html).group(1))
    assert data["currency"] == "CNY" and data["labels"]["this_month"] == "This month"


def test_the_billing_role_sees_the_balance_and_the_whole_organization(client, world):
    o = page(client, world.members["billing"]).context["overview"]
    assert o.billing is not None and o.spend == {"CNY": Decimal(5)}
    assert o.key_project is None  # billing may not create keys
    assert "Create API key" not in page(client, world.members["billing"]).content.decode()


def test_a_developer_sees_their_department_and_no_balance(client, world):
    response = page(client, world.members["developer_a"])
    o = response.context["overview"]
    assert o.billing is None
    assert o.spend == {"CNY": Decimal(2)} and o.tokens == 1_000_000
    assert o.spend_last_month_to_date == {"CNY": Decimal(3)}
    assert o.cap is None  # the organization's cap is not theirs to see
    assert [q.scope for q in o.quotas] == ["department"]
    assert {a.threshold for a in o.alerts} == {25}
    assert [row["name"] for row in o.top_projects] == ["Project A"]
    assert o.key_project == world.projects["a"]
    html = response.content.decode()
    assert "Prepaid balance" not in html and "¥95.00" not in html
    assert "figures of your department" in html


def test_a_postpaid_organization_shows_credit_used_of_its_limit(client, db):
    org = OrganizationFactory(
        payment_mode=Organization.PaymentMode.POSTPAID, credit_limit_amount=Decimal(1000)
    )
    w = build_world(org)
    metering.ingest_usage(events=[w.event(key="a", input_tokens=2_000_000, output_tokens=0)])
    response = page(client, w.members["owner"])
    o = response.context["overview"]
    assert o.credit_used == Decimal(4)  # this month's usage, nothing paid ahead
    html = response.content.decode()
    assert "Credit used" in html and "¥4.00" in html and "¥1,000.00" in html


def test_the_checklist_follows_real_data_and_disappears_once_done(client, db):
    org = OrganizationFactory(status=Organization.Status.PENDING)
    owner = MembershipFactory(organization=org, role=Role.OWNER, user=VerifiedUserFactory())
    steps = getting_started(owner)
    assert [step.done for step in steps] == [True, False, False, False, False, False]
    assert steps[2].url == "/projects/new/"
    response = page(client, owner)
    html = response.content.decode()
    assert "Getting started" in html and "Pending review" in html

    world = build_world(org)
    assert [step.done for step in getting_started(owner)] == [True, False, True, True, False, False]
    Organization.objects.filter(pk=org.pk).update(status=Organization.Status.ACTIVE)
    owner.organization.refresh_from_db()
    metering.ingest_usage(events=[world.event(key="a")])
    quotas.create_quota(
        actor=as_actor(owner), scope="organization", metric="tokens", period="month",
        limit=Decimal(10),
    )  # fmt: skip
    assert getting_started(owner) == []
    assert "Getting started" not in page(client, owner).content.decode()


def test_a_developer_sees_the_checklist_without_links_they_may_not_follow(db):
    org = OrganizationFactory()
    developer = MembershipFactory(organization=org, role=Role.DEVELOPER, user=VerifiedUserFactory())
    steps = getting_started(developer)
    assert steps[2].url == "" and steps[5].url == ""  # projects and quotas: not theirs
    assert steps[3].url  # keys: theirs


def test_a_suspended_organization_keeps_its_banner(client, world):
    Organization.objects.filter(pk=world.org.pk).update(
        status=Organization.Status.SUSPENDED, status_note="Overdue invoice"
    )
    html = page(client, world.members["owner"]).content.decode()
    assert "Suspended:" in html and "Overdue invoice" in html


def test_signed_out_and_organization_less_users_keep_the_landing_and_onboarding(client, db):
    assert "Create an account" in client.get("/").content.decode()
    client.force_login(VerifiedUserFactory())
    response = client.get("/")
    assert response.status_code == 200 and "overview" not in response.context


def test_the_number_of_queries_does_not_grow_with_the_data(
    client, world, django_assert_max_num_queries
):
    client.force_login(world.members["owner"].user)
    with django_assert_max_num_queries(40) as small:
        client.get("/")
    for i in range(10):  # more quotas, alerts, notifications, projects and usage
        quotas.create_quota(
            actor=as_actor(world.members["owner"]), scope="project",
            target=world.projects["b"], metric="tokens", period="day", limit=Decimal(10 + i),
        )  # fmt: skip
        tell(world, f"n{i}")
        UsageRollupFactory(
            hour=(timezone.now() - timedelta(hours=i)).replace(minute=0, second=0, microsecond=0),
            api_key=world.keys["b"], model=world.models["chat-1"],
        )  # fmt: skip
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get("/")
    assert len(response.context["overview"].notifications) == 5
    unread = Notification.objects.filter(user=world.members["owner"].user, read_at=None).count()
    assert unread > 10 and f"{unread} unread notifications" in response.content.decode()


def test_an_outsider_sees_nothing_of_the_organization(client, world):
    outsider = MembershipFactory(role=Role.OWNER)
    o = page(client, outsider).context["overview"]
    assert o.spend == {} and o.quotas == [] and o.alerts == [] and o.top_projects == []


def test_now_is_a_datetime(world):
    o = overview(world.members["owner"], now=datetime.now(UTC))
    assert o.month_start == this_month_start()
