"""The bell, the notifications page and API, mark read; email rendering per language."""

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from notifications import services as notifications
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def send(organization, users, subject="Quota at 80 %: Department A"):
    with transaction.atomic():
        notifications.notify(
            organization=organization, event_type="quota.threshold_reached", subject=subject,
            message="Department A used 80 %.", data={"limit": "1000", "consumed": "800",
                                                    "threshold": 80},
            recipients=users, link="/organization/quotas/",
        )  # fmt: skip


def test_notify_writes_one_row_and_one_email_per_recipient(
    org, owner, admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send(org, [owner.user, admin.user, owner.user])
    assert Notification.objects.count() == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted([owner.user.email, admin.user.email])
    message = mail.outbox[0]
    assert message.subject == "[Token Portal] Quota at 80 %: Department A"
    assert "Threshold reached: 80 %" in message.body
    assert "http://127.0.0.1:8000/organization/quotas/" in message.body
    assert message.alternatives[0][1] == "text/html"


def test_emails_fall_back_to_the_notification_language(
    org, owner, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFICATION_LANGUAGE = "zh-hans"  # the owner never chose a language
    with django_capture_on_commit_callbacks(execute=True):
        send(org, [owner.user])
    assert "已达到的阈值" in mail.outbox[0].body


def test_the_bell_counts_unread_in_one_query(client, org, owner):
    send(org, [owner.user])
    send(org, [owner.user])
    client.force_login(owner.user)
    page = client.get("/notifications/")
    assert '<span class="badge count">2' in page.content.decode()
    notifications.mark_read(user=owner.user, organization=org)
    assert 'class="badge count"' not in client.get("/notifications/").content.decode()
    with CaptureQueriesContext(connection) as queries:
        client.get("/organization/quotas/")
    assert sum("billing_notification" in q["sql"] for q in queries) == 1


def test_mark_one_and_all_read_in_the_page(client, org, owner, viewer):
    send(org, [owner.user, viewer.user])
    send(org, [owner.user])
    client.force_login(owner.user)
    first = Notification.objects.filter(user=owner.user).first()
    assert client.post(f"/notifications/{first.public_id}/read/").status_code == 302
    assert Notification.objects.filter(user=owner.user, read_at=None).count() == 1
    client.post("/notifications/read/")
    assert not Notification.objects.filter(user=owner.user, read_at=None).exists()
    assert Notification.objects.filter(user=viewer.user, read_at=None).count() == 1


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.invalid/", "//evil.invalid/", "/\\evil.invalid", "javascript:alert(1)"],
)
def test_marking_read_follows_next_only_within_the_portal(client, org, owner, next_url):
    client.force_login(owner.user)
    answer = client.post("/notifications/read/", {"next": next_url})
    assert answer.status_code == 302 and answer["Location"] == "/notifications/"
    assert client.post("/notifications/read/", {"next": "/usage/"})["Location"] == "/usage/"


def test_the_api_lists_only_my_notifications_and_marks_read(client, org, owner, viewer):
    send(org, [owner.user, viewer.user])
    client.force_login(viewer.user)
    listed = client.get("/api/v1/notifications").json()["results"]
    assert len(listed) == 1
    response = client.post(f"/api/v1/notifications/{listed[0]['id']}/read")
    assert response.status_code == 200 and response.json()["read_at"]
    client.force_login(owner.user)
    assert client.post(f"/api/v1/notifications/{listed[0]['id']}/read").status_code == 404
    assert client.post("/api/v1/notifications/read-all").json() == {"marked": 1}


def test_an_outsider_sees_none(client, org, owner, outsider):
    send(org, [owner.user])
    client.force_login(outsider.user)
    assert client.get("/api/v1/notifications").json()["results"] == []
    note = Notification.objects.get()
    assert client.post(f"/api/v1/notifications/{note.public_id}/read").status_code == 404
    assert client.post(f"/notifications/{note.public_id}/read/").status_code == 404
    note.refresh_from_db()
    assert note.read_at is None


def test_plain_text_parts_are_not_html_escaped_and_the_html_part_is(
    org, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        notifications.notify(
            organization=org, event_type="quota.threshold_reached",
            subject="Quota at 80 %: R&D <lab>", message="R&D <lab> used 80 %.",
            data={"limit": "1000", "consumed": "800", "threshold": 80}, recipients=[owner.user],
        )  # fmt: skip
    [message] = mail.outbox
    assert message.subject == "[Token Portal] Quota at 80 %: R&D <lab>"
    assert "R&D <lab> used 80 %." in message.body
    html = message.alternatives[0][0]
    assert "R&amp;D &lt;lab&gt; used 80 %." in html and "<lab>" not in html
