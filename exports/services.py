"""Organization data export: everything an organization owns, as a ZIP of CSV files.

`request_export()` records the request (audited) and enqueues `exports.tasks.build_export`
after commit; the worker calls `build_export()`, which streams each table from the database
(`.iterator()`) through portal.csv into a zip member written to a temporary file, then saves
the file to the "exports" storage: memory stays flat whatever the number of rollup rows.
`purge_expired()` (beat) deletes files past EXPORT_RETENTION_DAYS; `delete_export()` lets
the organization delete one sooner.

Every table is read in one transaction: on PostgreSQL at REPEATABLE READ (read only), so the
archive is one snapshot of the organization, and a change committed while it is being built
(a member's new role and its audit event, say) is in every file or in none. (SQLite: a
transaction sees one snapshot already.)

The archive holds one UTF-8 (with BOM, so that Excel reads Chinese) CSV per table, a
manifest.json (format version, organization, generation time, row counts) and a README.txt.
Objects are named by their public ids; money is a Decimal string; times are ISO 8601 UTC.
API keys are exported as metadata only: never their digest or token.
"""

import contextlib
import io
import json
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.text import format_lazy, slugify
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor, record_actor_event
from accounts.languages import language_of, organization_language
from accounts.models import AuditEvent, DataExport, Department, Membership, Organization
from accounts.selectors import AUDIT_CSV_HEADER, audit_csv_rows
from billing.invoicing import documents
from billing.invoicing.bank_models import BankStatementLine
from billing.invoicing.consolidated_models import OperatorCharge
from billing.invoicing.fapiao_models import FapiaoDocument
from billing.invoicing.models import (
    FapiaoProfile,
    FapiaoRequest,
    Invoice,
    InvoiceLine,
    LedgerEntry,
)
from billing.metering.models import UsageEvent, UsageRollup
from billing.packages.models import Entitlement, EntitlementEntry, Subscription
from billing.payments.models import Payment
from billing.quotas.models import Quota, QuotaPeriod
from billing.sales.models import PlanFee, Purchase
from notifications.services import notify
from portal import csv
from projects.models import ApiKey, Project

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
ACTIVE = (DataExport.Status.PENDING, DataExport.Status.RUNNING)


@dataclass(frozen=True)
class Table:
    """One CSV file: its columns (header -> lookup) and the queryset of an organization's rows."""

    name: str
    rows_of: Callable[[Organization], object]
    columns: dict[str, str] = field(default_factory=dict)

    def rows(self, organization) -> Iterable[tuple]:
        """The rows as tuples, streamed from the database in chunks."""
        rows = self.rows_of(organization)
        if isinstance(rows, QuerySet):
            lookups = self.columns.values()
            return rows.order_by("pk").values_list(*lookups).iterator(chunk_size=5000)
        return rows


def _same(*lookups: str) -> dict[str, str]:
    return {lookup: lookup for lookup in lookups}


def _department_rows(organization) -> Iterable[tuple]:
    """id, code, name, parent id, path ("Head office / Research / NLP"), created_at."""
    departments = list(
        Department.objects.for_org(organization)
        .order_by("pk")
        .values_list("pk", "parent_id", "public_id", "code", "name", "created_at")
    )
    by_pk = {row[0]: row for row in departments}

    def path(pk) -> str:
        names = []
        while pk is not None:
            names.append(by_pk[pk][4])
            pk = by_pk[pk][1]
        return " / ".join(reversed(names))

    for pk, parent_id, public_id, code, name, created_at in departments:
        parent = by_pk[parent_id][2] if parent_id else ""
        yield public_id, code, name, parent, path(pk), created_at


FAPIAO_COLUMNS = {
    "id": "public_id",
    "invoice": "invoice__number",
    "fapiao_request_id": "fapiao_request__public_id",
    **_same("kind", "number", "issued_on", "file_format"),
    "reverses": "reverses__number",
    "created_at": "created_at",
}


def _fapiao_file_name(public_id: str, file_format: str) -> str:
    """Named by public id: a fapiao number is staff's free text, unfit for a path."""
    return f"fapiao/{public_id}.{file_format}"


def _fapiao_rows(organization) -> Iterable[tuple]:
    """FAPIAO_COLUMNS, then the file's name in the archive (fapiao/<id>.<pdf|ofd>)."""
    documents = FapiaoDocument.objects.for_org(organization).order_by("pk")
    for row in documents.values(*FAPIAO_COLUMNS.values()).iterator(chunk_size=1000):
        yield *row.values(), _fapiao_file_name(row["public_id"], row["file_format"])


def _offer_name(path: str = "offer__") -> F:
    """An offer's name in the archive's language (the requester's), as on its pages."""
    zh = (get_language() or "").startswith("zh")
    return F(f"{path}name_zh" if zh else f"{path}name_en")


def _billed(rows: QuerySet) -> QuerySet:
    """Purchases and plan fees with what billed them: our invoice or a charge on the
    operator's bill. status: the invoice's (issued, paid, void) or "charged" on that bill."""
    return rows.annotate(
        total=Coalesce("invoice__total_amount", "operator_charge__total_amount"),
        bill_currency=Coalesce("invoice__currency", "operator_charge__currency"),
        bill_status=Coalesce("invoice__status", Value("charged")),
    )


BILL_COLUMNS = {
    "invoice": "invoice__number",
    "operator_charge_id": "operator_charge__public_id",
    "currency": "bill_currency",
    "total_amount": "total",  # with VAT
    "status": "bill_status",
}


def _purchases(organization) -> QuerySet:
    credit_note = Invoice.objects.visible_to_customers().filter(
        credited_invoice=OuterRef("invoice")
    )
    return _billed(Purchase.objects.for_org(organization)).annotate(
        offer_name=_offer_name(),
        credit_note=Subquery(credit_note.order_by("pk").values("number")[:1]),
    )


def _entitlement_entries(organization) -> QuerySet:
    """The token ledger; a draw names its call by request id while the usage event is kept
    (events are purged after their retention, the ledger is not)."""
    event = UsageEvent.objects.filter(pk=OuterRef("event_id")).values("request_id")[:1]
    return EntitlementEntry.objects.for_org(organization).annotate(request_id=Subquery(event))


def tables() -> list[Table]:

    return [
        Table(
            "organization.csv",
            lambda org: Organization.objects.filter(pk=org.pk),
            {
                "id": "public_id",
                **_same(
                    "kind",
                    "name",
                    "legal_name",
                    "uscc",
                    "contact_name",
                    "contact_phone",
                    "address",
                    "billing_email",
                    "status",
                    "payment_mode",
                    "credit_limit_amount",
                    "currency",
                    "created_at",
                ),
                **{
                    f"fapiao_{name}": f"fapiao_profile__{name}"
                    for name in (
                        "title",
                        "taxpayer_id",
                        "bank_name",
                        "bank_account",
                        "registered_address",
                        "registered_phone",
                        "fapiao_type",
                    )
                },
            },
        ),
        Table(
            "members.csv",
            Membership.objects.for_org,
            {
                "id": "public_id",
                "email": "user__email",
                "full_name": "user__full_name",
                "role": "role",
                "department_id": "department__public_id",
                "department": "department__name",
                "joined_at": "created_at",
            },
        ),
        Table(
            "departments.csv",
            _department_rows,
            _same("id", "code", "name", "parent_id", "path", "created_at"),
        ),
        Table(
            "projects.csv",
            Project.objects.for_org,
            {
                "id": "public_id",
                **_same("name", "description", "status"),
                "department_id": "department__public_id",
                "created_by": "created_by__email",
                **_same("created_at", "archived_at"),
            },
        ),
        Table(
            "api_keys.csv",
            ApiKey.objects.for_org,
            {
                "id": "public_id",
                "project_id": "project__public_id",
                **_same(
                    "name", "prefix", "allowed_models", "ip_allowlist", "rpm_limit", "tpm_limit"
                ),
                "created_by": "created_by__email",
                **_same("created_at", "expires_at", "last_used_at", "revoked_at"),
                "rotated_from_id": "rotated_from__public_id",
            },
        ),
        Table(
            "quotas.csv",
            Quota.objects.for_org,
            {
                "id": "public_id",
                "scope": "scope",
                "department_id": "department__public_id",
                "project_id": "project__public_id",
                "api_key_id": "api_key__public_id",
                **_same(
                    "metric",
                    "period",
                    "start_date",
                    "end_date",
                    "limit",
                    "thresholds",
                    "on_exceed",
                    "created_at",
                ),
            },
        ),
        Table(
            "quota_periods.csv",
            QuotaPeriod.objects.for_org,
            {
                "quota_id": "quota__public_id",
                **_same("period_start", "period_end", "consumed_tokens", "consumed_amount"),
            },
        ),
        Table(
            "usage_rollups.csv",
            UsageRollup.objects.for_org,
            {
                "hour_utc": "hour",
                "department_id": "department__public_id",
                "project_id": "project__public_id",
                "api_key_id": "api_key__public_id",
                "model": "model__model_id",
                **_same(
                    "requests",
                    "input_tokens",
                    "output_tokens",
                    "cached_input_tokens",
                    "cache_write_tokens",
                    "cost_amount",
                    "currency",
                ),
            },
        ),
        Table(
            "invoices.csv",
            lambda org: Invoice.objects.for_org(org).visible_to_customers(),
            {
                "id": "public_id",
                **_same(
                    "kind",
                    "number",
                    "status",
                    "period_start",
                    "period_end",
                    "currency",
                    "subtotal_amount",
                    "tax_rate",
                    "tax_amount",
                    "total_amount",
                ),
                "credited_invoice": "credited_invoice__number",
                **_same("issued_at", "due_at", "paid_at", "voided_at", "void_reason", "note"),
            },
        ),
        Table(
            "invoice_lines.csv",
            lambda org: InvoiceLine.objects.filter(
                invoice__in=Invoice.objects.for_org(org).visible_to_customers()
            ),
            {
                "invoice_id": "invoice__public_id",
                "invoice_number": "invoice__number",
                **_same("position", "service_month"),
                "department": "department_label",
                "project": "project_label",
                "model": "model__model_id",
                **_same(
                    "description",
                    "requests",
                    "input_tokens",
                    "output_tokens",
                    "cached_input_tokens",
                    "discount_percent",
                    "amount",
                    "cost_amount",  # unrounded: what a prepaid ledger was charged
                    "covered_amount",  # taken off by token packs and plan allowances
                    "overage_discount_amount",  # the plan's discount on the rest
                ),
            },
        ),
        Table(
            "ledger_entries.csv",
            LedgerEntry.objects.for_org,
            {
                "id": "public_id",
                **_same(
                    "created_at", "kind", "amount", "balance_after", "currency", "reference", "note"
                ),
                "invoice": "invoice__number",
            },
        ),
        Table(
            "bank_transfers.csv",
            lambda org: BankStatementLine.objects.for_org(org).confirmed(),
            {
                **_same(
                    "bank_transaction_id",
                    "booked_on",
                    "amount",
                    "currency",
                    "payer_name",
                    "payer_account",
                    "memo",
                    "status",
                ),
                "matched_by": "match",
                "invoice": "invoice__number",
                "ledger_entry_id": "ledger_entry__public_id",
                "posted_at": "posted_at",
            },
        ),
        Table(
            "fapiao_requests.csv",
            FapiaoRequest.objects.for_org,
            {
                "id": "public_id",
                "invoice": "invoice__number",
                **_same(
                    *FapiaoProfile.DETAILS, "status", "fapiao_number", "fapiao_date", "staff_note"
                ),
                "requested_by": "requested_by__email",
                "requested_at": "created_at",
            },
        ),
        Table(
            "fapiao.csv",
            _fapiao_rows,
            _same(*FAPIAO_COLUMNS, "file"),
        ),
        Table(
            "payments.csv",
            Payment.objects.for_org,
            {
                "id": "public_id",
                **_same("created_at", "purpose"),
                "invoice": "invoice__number",
                **_same(
                    "amount",
                    "currency",
                    "provider",
                    "status",
                    "provider_status",
                    "out_trade_no",
                    "refunded_amount",
                    "paid_at",
                ),
            },
        ),
        Table(
            "purchases.csv",
            _purchases,
            {
                "id": "public_id",
                "offer_id": "offer__public_id",
                "offer": "offer_name",
                "bought_at": "created_at",
                **BILL_COLUMNS,
                "credit_note": "credit_note",
                "entitlement_id": "entitlement__public_id",
            },
        ),
        Table(
            "entitlements.csv",
            lambda org: Entitlement.objects.for_org(org).annotate(
                offer_name=_offer_name(), left=F("granted") - F("consumed")
            ),
            {
                "id": "public_id",
                "offer_id": "offer__public_id",
                "offer": "offer_name",
                **_same("source", "unit", "granted", "consumed"),
                "remaining": "left",
                "valid_from": "starts_at",
                **_same("expires_at", "status"),
                "department_id": "department__public_id",
                "department": "department__name",
                "subscription_id": "subscription__public_id",
                **_same("reference", "created_at"),
            },
        ),
        Table(
            "entitlement_entries.csv",
            _entitlement_entries,
            {
                "entitlement_id": "entitlement__public_id",
                **_same("kind", "units", "value_amount", "request_id", "created_at"),
            },
        ),
        Table(
            "subscriptions.csv",
            lambda org: Subscription.objects.for_org(org).annotate(offer_name=_offer_name()),
            {
                "id": "public_id",
                "offer_id": "offer__public_id",
                "offer": "offer_name",
                **_same(
                    "status",
                    "started_at",
                    "current_period_start",
                    "current_period_end",
                    "commitment_ends_at",
                    "auto_renew",
                ),
                "next_offer_id": "next_terms__offer__public_id",
                **_same("paid_until", "ended_at"),
            },
        ),
        Table(
            "plan_fees.csv",
            lambda org: _billed(PlanFee.objects.for_org(org)),
            {
                "subscription_id": "subscription__public_id",
                **_same("kind", "period_start", "period_end"),
                **BILL_COLUMNS,
                **_same("extra_allowance", "created_at"),
            },
        ),
        Table(
            "operator_charges.csv",
            OperatorCharge.objects.for_org,
            {
                "id": "public_id",
                **_same(
                    "category",
                    "description",
                    "subtotal_amount",  # before VAT
                    "tax_rate",
                    "tax_amount",
                    "total_amount",
                    "currency",
                    "charged_at",
                ),
            },
        ),
        Table(
            "audit_events.csv",
            lambda org: audit_csv_rows(AuditEvent.objects.for_org(org).order_by("pk")),
            _same(*AUDIT_CSV_HEADER),
        ),
    ]


def _cell(value):
    """Times as ISO 8601 UTC, lists and dicts as JSON; the rest as portal.csv writes it
    (numbers stay numbers)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


# --- Requests, downloads ---------------------------------------------------------------


def request_export(*, actor: Actor) -> DataExport:
    """Ask for a new export of the actor's organization; returns the one already being built
    if there is one. The caller has checked Action.EXPORT_DATA."""
    from exports.tasks import build_export as build_task  # the task module imports this one

    organization = actor.organization
    with transaction.atomic():
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        export = DataExport.objects.for_org(organization).filter(status__in=ACTIVE).first()
        if export is not None:
            return export
        export = DataExport.objects.create(organization=organization, requested_by=actor.user)
        record_actor_event(actor=actor, action="organization.export_requested", target=export)
        transaction.on_commit(lambda: build_task.delay(export.pk))
    return export


def record_download(*, actor: Actor, export: DataExport) -> None:
    record_actor_event(
        actor=actor,
        action="organization.export_downloaded",
        target=export,
        changes={"after": {"size": export.size}},
    )


def delete_export(*, actor: Actor, export: DataExport) -> None:
    """Delete a ready export before it expires: its file goes, the row stays as history
    (status "deleted"), audited. The caller has checked Action.EXPORT_DATA. An export that is
    not ready (being built, failed, expired, deleted already) is refused and left as it is."""
    name = export.file.name
    with transaction.atomic():
        deleted = (
            DataExport.objects.for_org(actor.organization)
            .filter(pk=export.pk, status=DataExport.Status.READY)
            .update(status=DataExport.Status.DELETED, file="", size=0)
        )  # fmt: skip
        if not deleted:
            raise ValidationError(_("Only an export that is ready can be deleted."))
        record_actor_event(
            actor=actor,
            action="organization.export_deleted",
            target=export,
            changes={"before": {"size": export.size}},
        )
        transaction.on_commit(lambda: export.file.storage.delete(name))


def download_name(export: DataExport) -> str:
    slug = slugify(export.organization.name) or export.organization.public_id
    return f"{slug}-export-{export.created_at:%Y%m%d-%H%M}.zip"


# --- Building (worker) -----------------------------------------------------------------


def _claim(export_id: int) -> DataExport | None:
    """Take a pending export (or one whose worker died mid-build) for this worker."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.EXPORT_TIME_LIMIT_SECONDS + 60)
    claimable = Q(status=DataExport.Status.PENDING) | Q(
        status=DataExport.Status.RUNNING, started_at__lt=stale
    )
    claimed = (
        DataExport.objects.filter(claimable, pk=export_id)
        .update(status=DataExport.Status.RUNNING, started_at=now)
    )  # fmt: skip
    return DataExport.objects.select_related("organization").get(pk=export_id) if claimed else None


@contextlib.contextmanager
def _snapshot() -> Iterator[None]:
    """One transaction for all the archive's reads; on PostgreSQL a read-only REPEATABLE READ
    one, whose snapshot is taken by its first query and holds to the last. Inside an outer
    transaction (tests), that one is used as it is."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def write_archive(organization, target, *, now: datetime) -> dict[str, int]:
    """Write the export ZIP of `organization` into the binary file `target`; returns the
    rows per CSV file."""
    counts: dict[str, int] = {}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in tables():
            with (
                archive.open(table.name, "w", force_zip64=True) as member,
                io.TextIOWrapper(member, encoding="utf-8", newline="") as text,
            ):
                rows = ([_cell(value) for value in row] for row in table.rows(organization))
                counts[table.name] = csv.write(text, table.columns, rows)
        manifest = {
            "format_version": FORMAT_VERSION,
            "organization": {
                "id": organization.public_id,
                "name": organization.name,
                "legal_name": organization.legal_name,
                "uscc": organization.uscc,
            },
            "generated_at": now.astimezone(UTC).isoformat(),
            "rows": counts,
        }
        counts["invoices/"] = _write_invoice_pdfs(archive, organization)
        counts["fapiao/"] = _write_fapiao_files(archive, organization)
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        archive.writestr("README.txt", render_to_string("accounts/export_readme.txt"))
    return counts


def _write_invoice_pdfs(archive: zipfile.ZipFile, organization) -> int:
    """invoices/<number>.pdf: every issued document (invoices and credit notes), as the
    invoice page serves it. Drafts have no number and change until issued: not included."""
    issued = Invoice.objects.for_org(organization).visible_to_customers()
    count = 0
    for invoice in issued.order_by("pk").iterator(chunk_size=100):
        archive.writestr(f"invoices/{invoice.number}.pdf", documents.invoice_pdf(invoice))
        count += 1
    return count


def _write_fapiao_files(archive: zipfile.ZipFile, organization) -> int:
    """fapiao/<id>.<pdf|ofd>: every issued fapiao's file, as staff or the provider attached
    it, copied in chunks. A file missing from the storage fails the export (logged)."""
    count = 0
    for document in FapiaoDocument.objects.for_org(organization).order_by("pk").iterator():
        name = _fapiao_file_name(document.public_id, document.file_format)
        with document.file.open("rb") as source, archive.open(name, "w") as member:
            shutil.copyfileobj(source, member)
        count += 1
    return count


def build_export(*, export_id: int) -> DataExport | None:
    """Build the ZIP of a pending export, store it, tell the requester. Idempotent: an export
    already built (or being built by a live worker) is left alone."""
    export = _claim(export_id)
    if export is None:
        return None
    try:
        with (
            tempfile.TemporaryFile(suffix=".zip") as scratch,
            translation.override(_archive_language(export)),
        ):
            with _snapshot():
                counts = write_archive(export.organization, scratch, now=export.started_at)
            scratch.seek(0)
            name = f"{export.organization.public_id}/{export.public_id}.zip"
            export.file.save(name, File(scratch), save=False)
    except Exception:
        logger.exception("data export %s failed", export.public_id)
        _finish(export, DataExport.Status.FAILED, counts={})
        return export
    _finish(export, DataExport.Status.READY, counts=counts)
    return export


def _archive_language(export: DataExport) -> str:
    """Labels in the archive (audit actions) are in the requester's language."""
    if export.requested_by is not None:
        return language_of(export.requested_by)
    return organization_language(export.organization)


def _finish(export: DataExport, status: str, *, counts: dict) -> None:

    now = timezone.now()
    export.status, export.finished_at, export.row_counts = status, now, counts
    if status == DataExport.Status.READY:
        export.size = export.file.size
        export.expires_at = now + timedelta(days=settings.EXPORT_RETENTION_DAYS)
    with transaction.atomic():
        export.save(
            update_fields=["status", "finished_at", "row_counts", "file", "size", "expires_at"]
        )
        if export.requested_by is None:
            return
        ready = status == DataExport.Status.READY
        notify(
            organization=export.organization,
            event_type="export.ready" if ready else "export.failed",
            subject=_("Your data export is ready") if ready else _("Your data export failed"),
            message=format_lazy(
                _("Download it from the Data export page within {days} days."),
                days=settings.EXPORT_RETENTION_DAYS,
            )
            if ready
            else _("Please request a new export; if it fails again, contact support."),
            data={"export_id": export.public_id, "status": status},
            recipients=[export.requested_by],
            link=reverse("exports:list"),
        )


def purge_expired(*, now: datetime | None = None) -> int:
    """Delete the files of exports past their expiry; returns how many were purged."""
    now = now or timezone.now()
    purged = 0
    expired = DataExport.objects.filter(
        status=DataExport.Status.READY, expires_at__lte=now
    ).select_related("organization")
    for export in expired.iterator():
        # Conditional: an export the organization deleted meanwhile stays "deleted".
        claimed = DataExport.objects.filter(pk=export.pk, status=DataExport.Status.READY).update(
            status=DataExport.Status.EXPIRED, file="", size=0
        )
        if not claimed:
            continue
        export.file.delete(save=False)
        record_actor_event(
            actor=Actor.system(),
            organization=export.organization,
            action="organization.export_purged",
            target=export,
        )
        purged += 1
    return purged
