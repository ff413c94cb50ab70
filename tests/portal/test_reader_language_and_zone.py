"""Emails speak their recipient's language, whoever's browser asked for them; the audit log
shows every time of a page in one zone, the reader's."""

import re
from datetime import UTC, datetime

import pytest
from django.core import mail
from django.utils import timezone, translation

from accounts import services
from accounts.audit_trail import Actor, record_actor_event
from accounts.permissions import Role
from tests.factories import VerifiedUserFactory

pytestmark = pytest.mark.django_db


def test_a_password_reset_asked_from_an_english_browser_reaches_a_chinese_reader_in_chinese(
    client, django_capture_on_commit_callbacks
):
    VerifiedUserFactory(email="li@example.com", language="zh-hans")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/accounts/password/reset/", {"email": "li@example.com"}, HTTP_ACCEPT_LANGUAGE="en"
        )
    [message] = mail.outbox
    assert message.subject.startswith("[Token 门户]")
    assert re.search("[\u4e00-\u9fff]", message.subject.removeprefix("[Token 门户]"))
    assert "Password" not in message.subject


def test_the_audit_log_shows_its_times_and_the_recorded_ones_in_the_readers_zone(
    client, owner, settings
):
    settings.TIME_ZONE = "Asia/Shanghai"
    timezone.deactivate()
    moment = datetime(2026, 12, 4, 1, 30, tzinfo=UTC)  # 09:30 in Beijing
    record_actor_event(
        actor=Actor(user=owner.user, membership=owner),
        action="api_key.updated",
        changes={"before": {"expires_at": moment.isoformat()},
                 "after": {"expires_at": moment.isoformat().replace("+00:00", "Z")}},
    )  # fmt: skip
    client.force_login(owner.user)
    page = client.get("/organization/audit/").content.decode()
    assert page.count("2026-12-04 09:30:00") == 2  # before and after, both in Beijing time
    assert "01:30" not in page and "T01:30" not in page
    now_in_beijing = timezone.localtime(timezone.now(), timezone.get_default_timezone())
    assert now_in_beijing.strftime("%Y-%m-%d %H:") in page  # the Time column, same zone


def test_an_invitation_to_someone_with_an_account_is_in_their_language(
    owner, django_capture_on_commit_callbacks
):
    VerifiedUserFactory(email="wang@example.com", language="zh-hans")
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        services.invite_member(
            actor=Actor(user=owner.user, membership=owner), email="wang@example.com",
            role=Role.VIEWER,
        )  # fmt: skip
        services.invite_member(
            actor=Actor(user=owner.user, membership=owner), email="new@example.com",
            role=Role.VIEWER,
        )  # fmt: skip
    subjects = {message.to[0]: message.subject for message in mail.outbox}
    assert re.search("[\u4e00-\u9fff]", subjects["wang@example.com"])
    assert subjects["new@example.com"].startswith("[Token Portal] You are invited")
