"""A pack's holders hear once when it is 80 % and 100 % used and once when it expires soon,
in their own language, by bell, email and webhook event type."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import translation

from billing.metering import services as metering
from billing.packages import alerts
from billing.packages import services as packages
from notifications.models import Notification
from notifications.webhooks import EVENT_TYPES
from tests.billing.metering_world import build_world
from tests.billing.test_packages_authorize import domestic_pack
from tests.factories import LedgerEntryFactory

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC)


@pytest.fixture
def world(db):
    w = build_world()
    w.org.payment_mode = "prepaid"
    w.org.save()
    LedgerEntryFactory(organization=w.org, kind="top_up", amount=1000)
    return w


def told(event_type):
    return [m for m in mail.outbox if m.extra_headers.get("X-Token-Portal-Event") == event_type]


def test_80_and_100_percent_used_are_announced_once_each(world, django_capture_on_commit_callbacks):
    entitlement = packages.grant_pack(
        organization=world.org, terms=domestic_pack(3000), reference="p", at=NOW - timedelta(1)
    )
    for _call in range(3):  # 1,200 (40 %), 2,400 (80 %), 3,000 (100 %, the rest paid)
        with django_capture_on_commit_callbacks(execute=True):
            metering.ingest_usage(events=[world.event(at=NOW)])
    with django_capture_on_commit_callbacks(execute=True):
        metering.ingest_usage(events=[world.event(at=NOW)])  # nothing left: no news
    assert alerts.announce_usage([entitlement.pk]) == 0
    percents = [m.extra_headers["X-Token-Portal-Event"] for m in told("pack.usage")]
    # Each alert reaches the owner and the billing mailbox.
    assert len(percents) == 4
    with translation.override("en"):
        subjects = sorted(n.subject for n in Notification.objects.all())
    assert subjects == [
        "Your token pack Domestic is 80 % used",
        "Your token pack Domestic is used up",
    ]
    assert {"pack.usage", "pack.expiring"} <= set(EVENT_TYPES)


def test_a_pack_expiring_within_a_week_is_announced_once_in_the_readers_language(world):
    entitlement = packages.grant_pack(
        organization=world.org, terms=domestic_pack(5000), reference="p", at=NOW - timedelta(360)
    )
    assert entitlement.expires_at - NOW < timedelta(days=7)
    assert alerts.announce_expiring(NOW) == 1
    assert alerts.announce_expiring(NOW + timedelta(hours=1)) == 0
    notification = Notification.objects.get(event_type="pack.expiring")
    with translation.override("en"):
        assert "Domestic: 5,000 of 5,000 tokens left" in notification.message
    with translation.override("zh-hans"):
        assert "国产模型包" in notification.subject
