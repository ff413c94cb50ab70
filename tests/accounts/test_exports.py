"""Organization data export: who may ask, what the ZIP holds (and never holds), who may
download it, and that expired files are purged."""

import csv
import io
import json
import threading
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage
from django.db import connection, connections, transaction
from django.utils import timezone

from accounts import services as account_services
from accounts.audit_trail import Actor
from accounts.models import AuditEvent, DataExport
from accounts.permissions import Role
from billing.invoicing import services as invoicing
from billing.invoicing.models import InvoiceLine
from billing.metering import services as metering
from billing.quotas import services as quotas
from billing.quotas.models import Quota
from exports import services as exports
from notifications.models import Notification
from portal import periods
from portal.celery import app as celery_app
from projects import services as projects_services
from tests.billing.metering_world import build_world
from tests.conftest import start_celery_worker, stop_celery_worker, wait_for
from tests.factories import InvoiceFactory, MembershipFactory, VerifiedUserFactory

NOW = datetime.now(UTC)


@pytest.fixture
def export_dir(tmp_path, monkeypatch):
    """Export files go to a folder of this test (the worker gets it as EXPORT_DIR)."""
    folder = tmp_path / "exports"
    field = DataExport._meta.get_field("file")
    monkeypatch.setattr(field, "storage", FileSystemStorage(location=folder))
    return folder


@pytest.fixture
def data(db, export_dir, django_capture_on_commit_callbacks):
    """An organization with departments, projects, keys (one token kept), rolled-up usage
    of two models and an issued invoice; its owner, a viewer and a developer."""
    world = build_world()
    world.org.legal_name = "示例科技有限公司"
    world.org.save(update_fields=["legal_name"])
    owner = world.members["owner"]
    actor = projects_services.Actor(user=owner.user, membership=owner)
    quotas.create_quota(actor=actor, scope=Quota.Scope.ORGANIZATION, limit=10**9)
    key, token = projects_services.create_api_key(
        actor=actor,
        project=world.projects["a"],
        name="secret-holder",
    )
    events = [
        world.event(key=name, model=model, at=NOW - timedelta(hours=hours))
        for hours in range(1, 6)
        for name in ("a", "b")
        for model in ("chat-1", "chat-2")
    ]
    with django_capture_on_commit_callbacks(execute=True):
        metering.ingest_usage(events=events)
    metering.roll_up()
    month = periods.month_of(NOW)
    invoice = invoicing.issue_invoice(
        actor=Actor.system(), invoice=invoicing.close_month_for(organization=world.org, month=month)
    )
    world.token, world.secret_key, world.invoice = token, key, invoice
    return world


def zip_of(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response
    assert response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def csv_rows(archive, name) -> list[dict]:
    raw = archive.read(name)
    assert raw.startswith(b"\xef\xbb\xbf"), f"{name} has no UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def request_and_build(client, django_capture_on_commit_callbacks) -> DataExport:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/organization/exports/")
    assert response.status_code == 302
    return DataExport.objects.get()


def test_owner_exports_everything_and_no_secret(
    data, client_of, django_capture_on_commit_callbacks
):
    owner = data.members["owner"]
    client = client_of(owner)
    draft = InvoiceFactory(organization=data.org, period_start=date(2026, 1, 1))
    InvoiceLine.objects.create(
        invoice=draft, position=1, service_month=draft.period_start, description="draft line",
        amount=1,
    )  # fmt: skip
    export = request_and_build(client, django_capture_on_commit_callbacks)
    assert export.status == DataExport.Status.READY
    assert export.expires_at > timezone.now() + timedelta(days=6)

    page = client.get("/organization/exports/").content.decode()
    download = f"/organization/exports/{export.public_id}/download/"
    assert download in page
    archive = zip_of(client.get(download))

    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format_version"] == 1
    assert manifest["organization"]["id"] == data.org.public_id
    rollups = csv_rows(archive, "usage_rollups.csv")
    assert len(rollups) == manifest["rows"]["usage_rollups.csv"] == 20  # 5 hours x 2 keys x 2
    assert {row["model"] for row in rollups} == {"chat-1", "chat-2"}
    assert {row["api_key_id"] for row in rollups} == {
        data.keys["a"].public_id,
        data.keys["b"].public_id,
    }
    assert len(csv_rows(archive, "members.csv")) == 4  # owner, viewer, manager, developer
    assert len(csv_rows(archive, "departments.csv")) == 3
    assert {row["path"] for row in csv_rows(archive, "departments.csv")} >= {
        f"{data.deps['ROOT'].name} / {data.deps['A'].name}"
    }
    keys = csv_rows(archive, "api_keys.csv")
    assert len(keys) == 4
    assert data.secret_key.prefix in {row["prefix"] for row in keys}
    (invoice,) = csv_rows(archive, "invoices.csv")  # drafts stay with staff, as on pages
    assert invoice["number"] == data.invoice.number
    assert invoice["total_amount"] == str(data.invoice.total_amount)
    assert len(csv_rows(archive, "invoice_lines.csv")) == data.invoice.lines.count() > 0
    (organization,) = csv_rows(archive, "organization.csv")
    assert organization["legal_name"] == "示例科技有限公司"
    assert organization["uscc"] == data.org.uscc
    assert "README.txt" in archive.namelist()
    assert manifest["rows"]["invoices/"] == 1
    assert archive.read(f"invoices/{data.invoice.number}.pdf").startswith(b"%PDF")

    (period,) = csv_rows(archive, "quota_periods.csv")
    assert int(period["consumed_tokens"]) == sum(
        int(row[name]) for row in rollups for name in ("input_tokens", "output_tokens")
    )
    everything = b"".join(archive.read(name) for name in archive.namelist())
    for secret in {data.token, data.secret_key.digest, *(k.digest for k in data.keys.values())}:
        assert secret.encode() not in everything

    actions = set(AuditEvent.objects.for_org(data.org).values_list("action", flat=True))
    assert {"organization.export_requested", "organization.export_downloaded"} <= actions
    notice = Notification.objects.get(user=owner.user, event_type="export.ready")
    assert notice.link == "/organization/exports/"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER, Role.BILLING])
def test_other_roles_may_not_export(data, client_of, role, django_capture_on_commit_callbacks):
    owner_client = client_of(data.members["owner"])
    export = request_and_build(owner_client, django_capture_on_commit_callbacks)
    client = client_of(MembershipFactory(organization=data.org, role=role))
    assert client.get("/organization/exports/").status_code == 403
    assert client.post("/organization/exports/").status_code == 403
    assert client.get(f"/organization/exports/{export.public_id}/download/").status_code == 403
    assert client.post(f"/organization/exports/{export.public_id}/delete/").status_code == 403
    assert client.post("/api/v1/exports/").status_code == 403
    assert client.get(f"/api/v1/exports/{export.public_id}/download/").status_code == 403
    assert DataExport.objects.count() == 1
    assert DataExport.objects.get().status == DataExport.Status.READY


def test_another_organization_cannot_download(
    data, outsider, client_of, django_capture_on_commit_callbacks
):
    export = request_and_build(client_of(data.members["owner"]), django_capture_on_commit_callbacks)
    client = client_of(outsider)
    assert client.get(f"/organization/exports/{export.public_id}/download/").status_code == 404
    assert client.post(f"/organization/exports/{export.public_id}/delete/").status_code == 404
    assert DataExport.objects.get().status == DataExport.Status.READY
    headers = {"x-organization": data.org.public_id}
    assert client.get(f"/api/v1/exports/{export.public_id}/", headers=headers).status_code == 404
    assert client.get("/api/v1/exports/").json()["results"] == []
    assert not AuditEvent.objects.filter(action="organization.export_downloaded").exists()


def test_api_requests_lists_and_downloads(data, client_of, django_capture_on_commit_callbacks):
    client = client_of(data.members["owner"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/exports/")
    assert response.status_code == 202
    export_id = response.json()["id"]
    detail = client.get(f"/api/v1/exports/{export_id}/").json()
    assert detail["status"] == "ready"
    assert detail["row_counts"]["usage_rollups.csv"] == 20
    assert detail["download_url"].endswith(f"/api/v1/exports/{export_id}/download/")
    archive = zip_of(client.get(detail["download_url"]))
    assert "manifest.json" in archive.namelist()
    assert [row["id"] for row in client.get("/api/v1/exports/").json()["results"]] == [export_id]


def test_a_second_request_while_one_is_pending_returns_it(data):
    actor = Actor(user=data.members["owner"].user, membership=data.members["owner"])
    first = exports.request_export(actor=actor)  # not built: its task waits for the commit
    assert exports.request_export(actor=actor) == first
    assert DataExport.objects.count() == 1


def test_expired_exports_are_purged(
    data, client_of, export_dir, django_capture_on_commit_callbacks
):
    client = client_of(data.members["owner"])
    export = request_and_build(client, django_capture_on_commit_callbacks)
    path = export_dir / export.file.name
    assert path.exists()
    assert exports.purge_expired(now=export.expires_at - timedelta(minutes=1)) == 0
    assert exports.purge_expired(now=export.expires_at + timedelta(minutes=1)) == 1
    export.refresh_from_db()
    assert export.status == DataExport.Status.EXPIRED
    assert not export.file
    assert not path.exists()
    assert client.get(f"/organization/exports/{export.public_id}/download/").status_code == 404
    assert AuditEvent.objects.filter(action="organization.export_purged").count() == 1


@pytest.mark.worker
def test_a_real_worker_builds_the_export(
    transactional_db, tmp_path, client_of, export_dir, monkeypatch
):
    world = build_world()
    admin = MembershipFactory(organization=world.org, role=Role.ADMIN, user=VerifiedUserFactory())
    metering.ingest_usage(events=[world.event(key="a", at=NOW - timedelta(hours=1))])
    metering.roll_up()
    worker, _ = start_celery_worker(tmp_path, EXPORT_DIR=str(export_dir))
    try:
        monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
        assert client_of(admin).post("/organization/exports/").status_code == 302

        def ready():
            """the worker built the export"""
            return DataExport.objects.filter(status=DataExport.Status.READY).first()

        export = wait_for(ready, timeout=60)
    finally:
        stop_celery_worker(worker)
    assert export.row_counts["usage_rollups.csv"] == 1
    archive = zip_of(client_of(admin).get(f"/api/v1/exports/{export.public_id}/download/"))
    assert len(csv_rows(archive, "usage_rollups.csv")) == 1


def test_an_export_that_cannot_be_stored_fails_and_says_so(
    data, client_of, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the storage wants a folder")
    field = DataExport._meta.get_field("file")
    monkeypatch.setattr(field, "storage", FileSystemStorage(location=blocked))
    export = request_and_build(client_of(data.members["owner"]), django_capture_on_commit_callbacks)
    assert export.status == DataExport.Status.FAILED
    assert not export.file
    notice = Notification.objects.get(event_type="export.failed")
    assert notice.user == data.members["owner"].user
    # A new request is possible at once: a failed export is not "being built".
    actor = Actor(user=data.members["owner"].user, membership=data.members["owner"])
    assert exports.request_export(actor=actor) != export


# --- Deleting an export before it expires ---------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_an_owner_or_admin_deletes_an_export_before_it_expires(
    data, client_of, export_dir, role, django_capture_on_commit_callbacks
):
    export = request_and_build(client_of(data.members["owner"]), django_capture_on_commit_callbacks)
    path = export_dir / export.file.name
    member = data.members["owner"] if role == Role.OWNER else MembershipFactory(
        organization=data.org, role=role, user=VerifiedUserFactory()
    )  # fmt: skip
    client = client_of(member)
    delete = f"/organization/exports/{export.public_id}/delete/"
    assert delete in client.get("/organization/exports/").content.decode()
    confirm = client.get(delete)
    assert confirm.status_code == 200 and 'method="post"' in confirm.content.decode()
    assert path.exists()  # asking is not deleting

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(delete)
    assert response.status_code == 302 and response["Location"] == "/organization/exports/"
    export.refresh_from_db()
    assert (export.status, export.file.name, export.size) == (DataExport.Status.DELETED, "", 0)
    assert not path.exists()
    assert client.get(f"/organization/exports/{export.public_id}/download/").status_code == 404
    assert client.get(delete).status_code == 404
    page = client.get("/organization/exports/").content.decode()
    assert delete not in page and "Deleted" in page
    event = AuditEvent.objects.get(action="organization.export_deleted")
    assert (event.actor, event.target_id) == (member.user, export.public_id)

    # Expiry later finds nothing to purge: the export stays "deleted", audited once.
    assert exports.purge_expired(now=export.expires_at + timedelta(minutes=1)) == 0
    export.refresh_from_db()
    assert export.status == DataExport.Status.DELETED
    assert not AuditEvent.objects.filter(action="organization.export_purged").exists()


def test_an_export_that_is_not_ready_cannot_be_deleted(data, client_of):
    owner = data.members["owner"]
    actor = Actor(user=owner.user, membership=owner)
    export = exports.request_export(actor=actor)  # pending: its task waits for the commit
    assert client_of(owner).post(
        f"/organization/exports/{export.public_id}/delete/"
    ).status_code == (404)
    with pytest.raises(ValidationError):
        exports.delete_export(actor=actor, export=export)
    export.refresh_from_db()
    assert export.status == DataExport.Status.PENDING
    assert not AuditEvent.objects.filter(action="organization.export_deleted").exists()


# --- One snapshot -----------------------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL only: the build reads at REPEATABLE READ there; SQLite has one writer, "
    "and its read transaction sees one snapshot already",
)
def test_a_change_committed_during_the_build_is_in_no_file_of_it(transactional_db, export_dir):
    """The builder (its own connection, in a thread) has read members.csv and waits for the
    audit table, which the test holds locked. A member's role change (membership and its
    audit event) commits meanwhile; at READ COMMITTED audit_events.csv would show it while
    members.csv does not."""
    owner = MembershipFactory(role=Role.OWNER, user=VerifiedUserFactory())
    viewer = MembershipFactory(organization=owner.organization, role=Role.VIEWER)
    export = DataExport.objects.create(organization=owner.organization, requested_by=owner.user)
    audit_table = AuditEvent._meta.db_table

    def build():
        try:
            exports.build_export(export_id=export.pk)
        finally:
            connections.close_all()

    builder = threading.Thread(target=build)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {audit_table} IN ACCESS EXCLUSIVE MODE")
        builder.start()

        def builder_waits_for_the_audit_table():
            """the builder waits for the lock on the audit table"""
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted",
                    [audit_table],
                )
                return cursor.fetchone()[0]

        wait_for(builder_waits_for_the_audit_table, timeout=30, interval=0.05)
        account_services.change_member(
            actor=Actor(user=owner.user, membership=owner),
            membership=viewer,
            role=Role.ADMIN,
            department=None,
        )
    builder.join(timeout=60)

    viewer.refresh_from_db()
    assert viewer.role == Role.ADMIN  # committed during the build
    assert AuditEvent.objects.filter(action="member.changed").exists()
    export.refresh_from_db()
    assert export.status == DataExport.Status.READY
    with export.file.open("rb") as file:
        archive = zipfile.ZipFile(io.BytesIO(file.read()))
    roles = {row["id"]: row["role"] for row in csv_rows(archive, "members.csv")}
    assert roles[viewer.public_id] == Role.VIEWER
    actions = {row["action"] for row in csv_rows(archive, "audit_events.csv")}
    assert "member.changed" not in actions
