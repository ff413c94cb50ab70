"""`make run`'s demo data: a living portal from the first start, unchanged by the next ones."""

import io
import re
from datetime import timedelta

from django.core.management import call_command
from django.db.models import Max

from accounts.models import Department, Organization
from billing.models import Invoice, Notification, QuotaAlert, UsageEvent, UsageRollup
from portal.management.commands.seed_demo import DEMO_OWNER, DEMO_PASSWORD
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
    alert = QuotaAlert.objects.get(quota_period__quota__department__code="OPS", threshold=80)
    assert not QuotaAlert.objects.filter(quota_period__quota__department__code="OPS", threshold=100)
    owner_bell = Notification.objects.filter(user__email=DEMO_OWNER)
    assert owner_bell.filter(event_type="quota.threshold_reached").exists(), alert

    # The printed login works and the usage dashboard has numbers.
    assert f"{DEMO_OWNER} / {DEMO_PASSWORD}" in second
    assert client.login(username=DEMO_OWNER, password=DEMO_PASSWORD)
    page = client.get("/usage/")
    assert page.status_code == 200
    report = page.context["report"]  # this month's (in its first hour: still empty)
    assert report.tokens > 1_000_000
    assert report.costs and all(amount > 0 for amount in report.costs.values())
