import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.utils import timezone

from accounts.audit_trail import record_audit_event
from accounts.models import AuditEvent
from accounts.permissions import Role
from tests.factories import DepartmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(owner, member):
    """Three events of the organization (by two actors, on two dates) and one elsewhere."""
    org = owner.organization
    admin = member(Role.ADMIN)
    department = DepartmentFactory(organization=org)
    made = [
        record_audit_event(
            organization=org, actor=owner.user, action="department.created", target=department
        ),
        record_audit_event(
            organization=org, actor=admin.user, action="member.changed", target=admin
        ),
        record_audit_event(
            organization=org, actor=admin.user, action="member.removed", target=owner
        ),
        record_audit_event(organization=None, actor_label="gateway", action="key.used"),
    ]
    return made


def test_an_event_records_who_what_and_from_where(owner):
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="curl/8")
    event = record_audit_event(
        organization=owner.organization,
        actor=owner.user,
        action="organization.updated",
        target=owner.organization,
        changes={
            "before": {"credit_limit_amount": Decimal("1.50")},
            "after": {"when": datetime(2026, 1, 1, tzinfo=UTC)},
        },
        request=request,
    )
    event.refresh_from_db()
    assert (event.actor_label, event.ip_address, event.user_agent) == (
        owner.user.email,
        "203.0.113.7",
        "curl/8",
    )
    assert (event.target_type, event.target_id) == (
        "accounts.organization",
        owner.organization.public_id,
    )
    assert event.changes == {
        "before": {"credit_limit_amount": "1.50"},
        "after": {"when": "2026-01-01T00:00:00Z"},
    }


def test_an_actor_that_is_not_a_user_is_named(org):
    event = record_audit_event(
        organization=org, actor_label="gateway credential gw_1", action="key.used"
    )
    assert event.actor is None and event.actor_label == "gateway credential gw_1"


def test_events_are_append_only(events):
    event = events[0]
    event.action = "forged"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()


def test_on_postgresql_the_database_refuses_changes_too(events):
    """Raw SQL bypasses the model; on PostgreSQL a trigger still refuses it."""
    table = AuditEvent._meta.db_table
    for sql in (f"UPDATE {table} SET action = 'forged'", f"DELETE FROM {table}"):  # noqa: S608
        with transaction.atomic():
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(sql)
                refused = False
            except DatabaseError as error:
                refused = "append-only" in str(error)
            transaction.set_rollback(True)  # undo what SQLite lets through
        assert refused is (connection.vendor == "postgresql")
    assert AuditEvent.objects.count() == len(events)
    assert not AuditEvent.objects.filter(action="forged").exists()


def test_the_audit_page_filters_in_a_fixed_number_of_queries(
    events, owner, client_of, django_assert_num_queries
):
    client = client_of(owner)
    client.get("/organization/audit/")
    # session, user, membership, count, page, unread notifications (the bell)
    with django_assert_num_queries(6):
        response = client.get("/organization/audit/")
    assert [e.action for e in response.context["object_list"]] == [
        "member.removed",
        "member.changed",
        "department.created",
    ]
    by_action = client.get("/organization/audit/", {"action": "member"})
    assert {e.action for e in by_action.context["object_list"]} == {
        "member.removed",
        "member.changed",
    }
    # Part of the address, up to the "@": "user1" alone would also match user10, user11 ...
    by_actor = client.get("/organization/audit/", {"actor": owner.user.email.split("@")[0] + "@"})
    assert [e.action for e in by_actor.context["object_list"]] == ["department.created"]
    by_type = client.get("/organization/audit/", {"target_type": "accounts.department"})
    assert [e.action for e in by_type.context["object_list"]] == ["department.created"]
    today = timezone.localtime(events[0].created_at).date().isoformat()  # as the page shows it
    in_range = client.get("/organization/audit/", {"created_after": today, "created_before": today})
    assert len(in_range.context["object_list"]) == 3
    before = client.get("/organization/audit/", {"created_before": "2000-01-01"})
    assert len(before.context["object_list"]) == 0


def test_the_export_streams_the_filtered_events_as_csv(events, owner, client_of):
    response = client_of(owner).get("/organization/audit/export.csv", {"action": "member"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:3] == ["created_at", "actor_label", "action"]
    assert [row[2] for row in rows[1:]] == ["member.removed", "member.changed"]


def test_the_export_refuses_bad_filters(owner, client_of):
    response = client_of(owner).get(
        "/organization/audit/export.csv", {"created_after": "yesterday"}
    )
    assert response.status_code == 400


def test_the_api_lists_events_with_the_same_filters(
    events, owner, client_of, django_assert_num_queries
):
    client = client_of(owner)
    with django_assert_num_queries(5):
        response = client.get("/api/v1/audit-events/", {"action": "member"})
    body = response.json()
    assert body["count"] == 2
    assert {e["action"] for e in body["results"]} == {"member.removed", "member.changed"}
    assert (
        client.get(f"/api/v1/audit-events/{events[0].public_id}/").json()["action"]
        == "department.created"
    )
    assert client.get(f"/api/v1/audit-events/{events[3].public_id}/").status_code == 404
    assert client.delete(f"/api/v1/audit-events/{events[0].public_id}/").status_code == 405
    assert client.get("/api/v1/audit-events/", {"created_after": "nope"}).status_code == 400


@pytest.mark.parametrize("role", [Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_read_only_roles_cannot_see_the_audit_log(events, member, client_of, role):
    client = client_of(member(role))
    assert client.get("/organization/audit/").status_code == 403
    assert client.get("/organization/audit/export.csv").status_code == 403
    assert client.get("/api/v1/audit-events/").status_code == 403


def test_an_outsider_sees_none_of_the_events(events, outsider, client_of):
    client = client_of(outsider)
    assert client.get("/api/v1/audit-events/").json()["count"] == 0
    assert list(client.get("/organization/audit/").context["object_list"]) == []
    assert client.get(f"/api/v1/audit-events/{events[0].public_id}/").status_code == 404
