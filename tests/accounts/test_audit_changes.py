"""The one shape of audit `changes` (accounts/audit.py): writers may record only it, and every
reader (audit page, API, CSV download, data export, staff console) shows rows written in the
older shapes the same way."""

import csv
import io
import json
import zipfile

import pytest
from django.test import RequestFactory

from accounts import audit
from accounts.audit_trail import Actor, record_audit_event
from accounts.models import AuditEvent
from exports import services as exports
from tests.accounts.test_exports import export_dir  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

# Rows as the writers stored them before there was one shape, and what readers make of them.
OLD_ROWS = {
    # accounts: before/after, a side left out when empty
    "department.updated": (
        {"before": {"name": "Lab"}, "after": {"name": "NLP lab"}},
        {"before": {"name": "Lab"}, "after": {"name": "NLP lab"}},
    ),
    "department.deleted": (
        {"before": {"code": "AI"}},
        {"before": {"code": "AI"}, "after": {}},
    ),
    # projects and quotas: {field: [old, new]}
    "quota.updated": (
        {"limit": ["100.00", "500"], "thresholds": [[50], [50, 80]]},
        {
            "before": {"limit": "100.00", "thresholds": [50]},
            "after": {"limit": "500", "thresholds": [50, 80]},
        },
    ),
    "api_key.created": (
        {"name": [None, "production"]},
        {"before": {"name": None}, "after": {"name": "production"}},
    ),
    # billing: flat values of the event
    "billing.top_up": (
        {"amount": "1000.00", "reference": "BANK-1"},
        {"before": {}, "after": {"amount": "1000.00", "reference": "BANK-1"}},
    ),
    # the staff console's change message, even of two parts, is one value
    "admin.department_changed": (
        {"admin": [{"changed": {"fields": ["Name"]}}, {"added": {}}]},
        {"before": {}, "after": {"admin": [{"changed": {"fields": ["Name"]}}, {"added": {}}]}},
    ),
    "invitation.resent": ({}, {"before": {}, "after": {}}),
}


@pytest.mark.parametrize("action", OLD_ROWS)
def test_every_old_shape_reads_as_before_and_after(action):
    stored, expected = OLD_ROWS[action]
    assert audit.normalize_changes(stored) == expected


def test_the_new_shape_reads_as_it_is_written():
    written = audit.diff({"name": "A", "code": "X"}, {"name": "B", "code": "X", "parent": "dep_1"})
    assert written == {"before": {"name": "A"}, "after": {"name": "B", "parent": "dep_1"}}
    assert audit.normalize_changes(written) == written
    assert audit.normalize_changes(audit.diff({"a": 1}, {"a": 1})) == {"before": {}, "after": {}}


def test_pages_get_one_line_per_field():
    rows = audit.change_rows({"limit": ["100.00", "500"], "watchers": [None, ["a@example.com"]]})
    assert rows == [
        audit.FieldChange("limit", "100.00", "500"),
        audit.FieldChange("watchers", "", '["a@example.com"]'),
    ]


@pytest.mark.parametrize(
    "changes",
    [{"name": [None, "x"]}, {"amount": "1.00"}, {"after": "x"}, {"before": {}, "during": {}}],
)
def test_writers_may_record_only_the_one_shape(org, changes):
    with pytest.raises(ValueError, match="before"):
        record_audit_event(organization=org, action="quota.updated", changes=changes)
    assert not AuditEvent.objects.exists()


@pytest.fixture
def old_rows(owner):
    """One event of each old shape (as rows written before the rule, straight into the table)
    and one written now, in the owner's organization."""
    for action, (stored, _expected) in OLD_ROWS.items():
        AuditEvent.objects.create(
            organization=owner.organization,
            actor=owner.user,
            actor_label=owner.user.email,
            action=action,
            changes=stored,
        )
    return record_audit_event(
        organization=owner.organization,
        actor=owner.user,
        action="project.updated",
        changes={"before": {"name": "Search"}, "after": {"name": "Search v2"}},
        request=RequestFactory().post("/"),
    )


def test_the_audit_page_shows_old_and_new_rows_field_by_field(old_rows, owner, client_of):
    page = client_of(owner).get("/organization/audit/").content.decode()
    assert page.count('<ul class="changes">') == len(OLD_ROWS)  # all but the empty one
    assert "Search" in page and "Search v2" in page
    assert "<code>limit</code>: 100.00" in page and "500" in page
    assert "<code>reference</code>: BANK-1" in page
    assert '<span class="muted">was</span> AI' in page
    assert "[&quot;limit&quot;" not in page and "{&#x27;" not in page  # no raw dicts


def test_the_api_answers_every_row_in_the_one_shape(old_rows, owner, client_of):
    body = client_of(owner).get("/api/v1/audit-events/").json()
    by_action = {event["action"]: event["changes"] for event in body["results"]}
    for action, (_stored, expected) in OLD_ROWS.items():
        assert by_action[action] == expected, action
    assert by_action["project.updated"] == {
        "before": {"name": "Search"},
        "after": {"name": "Search v2"},
    }


def test_the_csv_download_has_labels_and_the_one_shape(old_rows, owner, client_of):
    response = client_of(owner).get("/organization/audit/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_action = {row["action"]: row for row in rows}
    assert by_action["quota.updated"]["action_label"] == "Quota changed"
    assert json.loads(by_action["quota.updated"]["changes"]) == OLD_ROWS["quota.updated"][1]
    assert json.loads(by_action["billing.top_up"]["changes"]) == OLD_ROWS["billing.top_up"][1]
    assert by_action["invitation.resent"]["changes"] == ""


def test_the_data_export_has_labels_in_the_requesters_language_and_the_one_shape(
    old_rows,
    owner,
    export_dir,  # noqa: F811
):
    owner.user.language = "zh-hans"
    owner.user.save(update_fields=["language"])
    actor = Actor(user=owner.user, membership=owner)
    export = exports.build_export(export_id=exports.request_export(actor=actor).pk)
    with export.file.open("rb") as file, zipfile.ZipFile(file) as archive:
        text = archive.read("audit_events.csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[:4] == ["created_at", "actor_label", "action", "action_label"]
    by_action = {row["action"]: row for row in rows}
    assert by_action["quota.updated"]["action_label"] == "配额已更改"
    assert by_action["admin.department_changed"]["action_label"] == "员工控制台：已更改部门"  # noqa: RUF001
    for action, (_stored, expected) in OLD_ROWS.items():
        if any(expected.values()):
            assert json.loads(by_action[action]["changes"]) == expected, action


def test_the_staff_console_shows_labels_codes_and_changes(old_rows, client, staff_user):
    changelist = client.get("/admin/accounts/auditevent/").content.decode()
    assert "Quota changed" in changelist and "quota.updated" in changelist
    filtered = client.get("/admin/accounts/auditevent/", {"action": "billing.top_up"})
    assert [e.action for e in filtered.context["cl"].result_list] == ["billing.top_up"]
    assert "Balance topped up" in changelist  # the filter offers labels
    event = AuditEvent.objects.get(action="quota.updated")
    page = client.get(f"/admin/accounts/auditevent/{event.pk}/change/").content.decode()
    assert "<code>limit</code>: 100.00" in page and "<code>thresholds</code>: [50]" in page
