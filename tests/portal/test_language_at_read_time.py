# ruff: noqa: RUF001 - Chinese text has full-width colons
"""What the portal sends is read in the reader's language of the moment: a notification written
while its reader read English shows Chinese once they switch; rows from before keep their text."""

import operator
from datetime import date

import pytest
from django.db import transaction
from django.utils import translation
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from notifications import services as notifications
from notifications.models import Notification
from portal import lazy_text

pytestmark = pytest.mark.django_db


def test_a_lazy_text_is_stored_as_json_and_rendered_in_the_active_language():
    interpolate = lazy(operator.mod, str)
    stored = lazy_text.dump(
        format_lazy(
            "{} / {}",
            format_lazy(_("Quota exceeded: {target}"), target="R&D"),
            interpolate(_("Invoice %(number)s issued"), {"number": "TP-1"}),
        )
    )
    assert lazy_text.dump(lazy_text.lazy_date(date(2026, 12, 4))) == {
        "call": "date", "args": [{"iso_date": "2026-12-04"}], "kwargs": {},
    }  # fmt: skip
    with translation.override("en"):
        assert lazy_text.render(stored) == "Quota exceeded: R&D / Invoice TP-1 issued"
    with translation.override("zh-hans"):
        assert lazy_text.render(stored) == "配额已用尽：R&D / 账单 TP-1 已开具"


def test_a_notification_sent_in_english_reads_in_chinese_after_the_switch(client, org, owner):
    owner.user.language = "en"
    owner.user.save()
    with transaction.atomic():
        notifications.notify(
            organization=org, event_type="export.ready",
            subject=_("Your data export is ready"),
            message=format_lazy(_("Quota exceeded: {target}"), target="R&D"),
            data={}, recipients=[owner.user],
        )  # fmt: skip
    notification = Notification.objects.get(user=owner.user)
    assert notification.sent_subject == "Your data export is ready"

    client.force_login(owner.user)
    assert "Your data export is ready" in client.get("/notifications/").content.decode()
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/notifications/"})
    page = client.get("/notifications/").content.decode()
    assert "您的数据导出已就绪" in page and "配额已用尽：R&amp;D" in page
    assert "Your data export is ready" not in page
    owner.user.refresh_from_db()
    assert owner.user.language == "zh-hans"
    api = client.get("/api/v1/notifications").json()
    assert api["results"][0]["subject"] == "您的数据导出已就绪"


def test_a_row_from_before_shows_its_text_as_sent(org, owner):
    old = Notification.objects.create(
        organization=org, user=owner.user, event_type="quota.exceeded",
        sent_subject="Quota exceeded: A", sent_message="A used all of it.",
    )  # fmt: skip
    with translation.override("zh-hans"):
        assert (old.subject, old.message) == ("Quota exceeded: A", "A used all of it.")
