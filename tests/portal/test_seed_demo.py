"""`make run`'s demo data: a living portal from the first start, unchanged by the next ones."""

import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from django.core.management import call_command
from django.db.models import Max, Sum

from accounts.models import Department, Membership, Organization
from billing.invoicing.models import Invoice
from billing.metering import selectors as usage
from billing.metering.models import UsageEvent, UsageRollup
from billing.quotas.models import Quota
from notifications.models import Notification
from portal.management.commands.seed_demo import (
    DEMO_OWNER,
    DEMO_PASSWORD,
    customer_service_limit,
)
from projects.models import ApiKey
from projects.tokens import API_KEY


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_shows_a_living_portal_and_runs_again_without_adding(db, client):
    first = seed()
    organization = Organization.objects.get(name="Demo Tech")
    events = UsageEvent.objects.for_org(organization)
    last_hour = events.aggregate(last=Max("occurred_at"))["last"].replace(minute=0, second=0)
    seeded = events.filter(occurred_at__lt=last_hour + timedelta(hours=1)).count()
    assert seeded > 2000
    assert events.values("model").distinct().count() >= 4
    assert Department.objects.for_org(organization).filter(parent__isnull=False).count() >= 3
    assert UsageRollup.objects.for_org(organization).exists()

    # The printed key is a real one, shown once.
    token = re.search(r"\(shown once, not stored\): (\S+)", first).group(1)
    assert API_KEY.prefix_of(token) in set(ApiKey.objects.values_list("prefix", flat=True))

    second = seed()
    assert "shown once" not in second
    assert events.filter(occurred_at__lt=last_hour + timedelta(hours=1)).count() == seeded
    invoice = Invoice.objects.for_org(organization).get()  # still one
    assert invoice.number and invoice.status in (Invoice.Status.ISSUED, Invoice.Status.PAID)
    assert invoice.total_amount > 0

    # The customer service quota: about 85 % used, so the bell has the 50 % and 80 % alerts;
    # seeded in a month's first hours, before customer service used anything that month,
    # it is last month's usage (customer_service_limit, tested below at the boundary).
    quota = Quota.objects.get(department__code="OPS")
    period = quota.periods.get()
    thresholds = set(period.alerts.values_list("threshold", flat=True))
    owner_bell = Notification.objects.filter(user__email=DEMO_OWNER)
    if period.consumed_tokens:
        assert Decimal("0.8") <= period.consumed_tokens / quota.limit < 1
        assert thresholds == {50, 80}
        assert owner_bell.filter(event_type="quota.threshold_reached").exists()
    else:
        last_month = events.filter(department__code="OPS", occurred_at__lt=period.period_start)
        assert quota.limit >= tokens(last_month) > 0
        assert thresholds == set()

    # The printed login works; the usage dashboard shows this month's seeded usage, and the
    # month of the last seeded hour (this month, or last month in this month's first hour)
    # has numbers.
    assert f"{DEMO_OWNER} / {DEMO_PASSWORD}" in second
    assert client.login(username=DEMO_OWNER, password=DEMO_PASSWORD)
    page = client.get("/usage/")
    assert page.status_code == 200
    report = page.context["report"]
    assert report.tokens == tokens(events.filter(occurred_at__gte=report.start))
    membership = Membership.objects.get(user__email=DEMO_OWNER, organization=organization)
    seeded_month = usage.month_report(membership, now=last_hour)
    assert seeded_month.tokens > 1_000_000
    assert seeded_month.costs and all(amount > 0 for amount in seeded_month.costs.values())


def tokens(events) -> int:
    totals = events.aggregate(
        i=Sum("input_tokens"), o=Sum("output_tokens"), c=Sum("cached_input_tokens")
    )
    return sum(value or 0 for value in totals.values())


def event(at: datetime, department_code="OPS", tokens=1000) -> dict:
    stream = SimpleNamespace(department_code=department_code)
    return {"stream": stream, "at": at, "input_tokens": tokens, "output_tokens": 0,
            "cached_input_tokens": 0}  # fmt: skip


def test_the_customer_service_quota_is_85_percent_used_by_the_month_so_far():
    month = datetime(2026, 5, 31, 16, tzinfo=UTC)  # June 2026 in Asia/Shanghai
    events = [event(month - timedelta(days=3), tokens=9_000_000), event(month, tokens=850_000),
              event(month, department_code="NLP", tokens=5_000_000)]  # fmt: skip
    assert customer_service_limit(events, month) == 1_000_000


def test_before_any_usage_of_the_month_the_quota_is_a_month_like_the_last():
    """Seeded in the month's first hours: not a made-up limit that the first day spends."""
    month = datetime(2026, 5, 31, 16, tzinfo=UTC)
    events = [event(month - timedelta(days=3), tokens=9_000_000),
              event(month - timedelta(hours=1), tokens=123_456),
              event(month, department_code="NLP", tokens=5_000_000)]  # fmt: skip
    assert customer_service_limit(events, month) == 9_130_000
    assert customer_service_limit([], month) == 10_000_000  # nothing seeded at all
