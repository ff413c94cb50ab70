"""Bank transfers (对公转账): statement import, matching, and posting once staff confirm.

- import_statement() stores each row once per bank transaction id (a file imported twice, or a
  row repeated in it, adds nothing) and matches the new lines: by the remittance reference in
  the memo (billing.invoicing.remittance), else it suggests the organization whose legal name
  or fapiao title is the payer's, preferring one with an open invoice of the amount. Nothing
  reaches the ledger at import.
- post_line() is staff's confirmation: a prepaid organization gets a top-up, a postpaid one a
  payment (of the line's invoice, which is marked paid once its payments cover it). One
  ledger entry per line, referenced "bank:<transaction id>", so a line posts once.
- assign_line() and ignore_line() empty the queue of lines nothing matched.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit_trail import Actor, record_actor_event
from accounts.models import Organization
from billing.invoicing import ledger, remittance
from billing.invoicing import services as invoicing
from billing.invoicing.bank_models import BankStatementLine
from billing.invoicing.models import PAYABLE_KINDS, Invoice, LedgerEntry
from billing.invoicing.statements import RowError, StatementRow

Status = BankStatementLine.Status
Match = BankStatementLine.Match
INVOICE_NUMBER = re.compile(r"TP-\d{4}-\d{6}", re.IGNORECASE)


@dataclass
class ImportResult:
    created: list[BankStatementLine] = field(default_factory=list)
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for line in self.created if line.status == status)


def import_statement(*, actor: Actor, rows: list[StatementRow], source_file: str) -> ImportResult:
    """Store and match the rows not stored before (see the module doc), in one transaction."""
    result = ImportResult()
    with transaction.atomic():
        for row in rows:
            line = BankStatementLine(
                bank_transaction_id=row.transaction_id,
                booked_on=row.booked_on,
                amount=row.amount,
                currency=row.currency,
                payer_name=row.payer_name,
                payer_account=row.payer_account,
                memo=row.memo,
                source_file=source_file[:200],
                imported_by=actor.user,
            )
            _match(line)
            try:
                with transaction.atomic():
                    line.save()
            except IntegrityError:  # this transaction id is stored already
                result.duplicates += 1
            else:
                result.created.append(line)
        record_actor_event(
            actor=actor,
            organization=None,
            action="billing.bank_statement_imported",
            target=None,
            changes={"after": {"file": source_file, "lines": len(result.created),
                               "duplicates": result.duplicates}},
        )  # fmt: skip
    return result


def _match(line: BankStatementLine) -> None:
    organization = remittance.organization_for(line.memo)
    if organization is not None:
        line.organization, line.match, line.status = organization, Match.REFERENCE, Status.MATCHED
    else:
        organization = _suggested_by_payer(line)
        if organization is None:
            return
        line.organization, line.match, line.status = organization, Match.PAYER, Status.SUGGESTED
    line.invoice = invoice_for(organization, line.amount, line.memo)


def _spellings(name: str) -> set[str]:
    """A company name as banks print it: half- or full-width parentheses, no spaces."""
    name = re.sub(r"\s", "", name)
    half = name.replace("\uff08", "(").replace("\uff09", ")")
    return {name, half, half.replace("(", "\uff08").replace(")", "\uff09")} - {""}


def _suggested_by_payer(line: BankStatementLine):
    """The one organization whose legal name or fapiao title is the payer's name; of several,
    the one with an open invoice of exactly the line's amount outstanding."""
    names = _spellings(line.payer_name)
    if not names:
        return None
    candidates = list(
        Organization.objects.filter(
            Q(legal_name__in=names) | Q(fapiao_profile__title__in=names)
        ).distinct()
    )
    if len(candidates) > 1:
        candidates = [
            organization
            for organization in candidates
            if any(invoicing.outstanding_amount(i) == line.amount
                   for i in open_invoices(organization))
        ]  # fmt: skip
    return candidates[0] if len(candidates) == 1 else None


def open_invoices(organization):
    """Issued, unpaid invoices (monthly or purchases), oldest first."""
    return (
        Invoice.objects.for_org(organization)
        .filter(kind__in=PAYABLE_KINDS, status=Invoice.Status.ISSUED)
        .order_by("issued_at", "pk")
    )


def invoice_for(organization, amount: Decimal, memo: str) -> Invoice | None:
    """The open invoice a transfer pays: the one whose number the memo names, else the oldest
    with exactly the amount outstanding, else the oldest. A prepaid organization's transfers
    are top-ups unless they pay an open purchase invoice named or of exactly that amount."""
    prepaid = organization.payment_mode == Organization.PaymentMode.PREPAID
    invoices = list(open_invoices(organization))
    if prepaid:
        invoices = [i for i in invoices if i.kind == Invoice.Kind.PURCHASE]
    named = {number.upper() for number in INVOICE_NUMBER.findall(memo or "")}
    for candidates in (
        [i for i in invoices if i.number in named],
        [i for i in invoices if invoicing.outstanding_amount(i) == amount],
        [] if prepaid else invoices,
    ):
        if candidates:
            return candidates[0]
    return None


def assign_line(*, actor: Actor, line: BankStatementLine, organization, invoice=None):
    """Staff say whose transfer a line is (and, postpaid, which invoice it pays)."""
    if invoice is not None and invoice.organization_id != organization.pk:
        raise ValidationError({"invoice": _("This invoice belongs to another organization.")})
    with transaction.atomic():
        line = BankStatementLine.objects.select_for_update().get(pk=line.pk)
        if line.status == Status.POSTED:
            raise ValidationError(_("This line is posted already."))
        line.organization, line.match, line.status = organization, Match.STAFF, Status.MATCHED
        line.invoice = invoice or invoice_for(organization, line.amount, line.memo)
        line.save(update_fields=["organization", "match", "status", "invoice"])
        record_actor_event(
            actor=actor,
            organization=organization,
            action="billing.bank_line_assigned",
            target=line,
            changes={"after": {"transaction": line.bank_transaction_id,
                               "invoice": line.invoice.number if line.invoice else ""}},
        )  # fmt: skip
    return line


def ignore_line(*, actor: Actor, line: BankStatementLine, note: str):
    """Staff set aside a line that is no customer's payment (say why)."""
    if not note.strip():
        raise ValidationError({"staff_note": _("Say why this line is ignored.")})
    with transaction.atomic():
        line = BankStatementLine.objects.select_for_update().get(pk=line.pk)
        if line.status == Status.POSTED:
            raise ValidationError(_("This line is posted already."))
        line.status, line.staff_note = Status.IGNORED, note[:300]
        line.save(update_fields=["status", "staff_note"])
        record_actor_event(
            actor=actor,
            organization=line.organization,
            action="billing.bank_line_ignored",
            target=line,
            changes={"after": {"transaction": line.bank_transaction_id, "note": note}},
        )
    return line


def post_line(*, actor: Actor, line: BankStatementLine) -> LedgerEntry:
    """Staff confirm a matched line: it becomes a top-up (prepaid) or a payment (postpaid, of
    its invoice if it has one). Posting a posted line again returns its entry."""
    with transaction.atomic():
        line = (
            BankStatementLine.objects.select_for_update(of=("self",))
            .select_related("organization", "invoice", "ledger_entry")
            .get(pk=line.pk)
        )
        if line.status == Status.POSTED:
            return line.ledger_entry
        organization = line.organization
        if organization is None or line.status not in (Status.MATCHED, Status.SUGGESTED):
            raise ValidationError(_("Assign the line to an organization first."))
        if line.currency != organization.currency:
            raise ValidationError(
                _("The transfer is in %(line)s, the organization is billed in %(org)s.")
                % {"line": line.currency, "org": organization.currency}
            )
        note = _("Bank transfer from %(payer)s on %(date)s") % {
            "payer": line.payer_name or line.payer_account or "?",
            "date": f"{line.booked_on:%Y-%m-%d}",
        }
        pays = line.invoice if line.invoice and line.invoice.status == "issued" else None
        if organization.payment_mode == Organization.PaymentMode.PREPAID and pays is None:
            entry = ledger.record_money_in(
                actor=actor,
                organization=organization,
                kind=LedgerEntry.Kind.TOP_UP,
                amount=line.amount,
                reference=line.ledger_reference,
                note=note,
            )
        else:
            entry = invoicing.record_payment(
                actor=actor,
                organization=organization,
                amount=line.amount,
                provider="bank",
                reference=line.bank_transaction_id,
                invoice=pays,
            )
        line.status, line.ledger_entry = Status.POSTED, entry
        line.posted_by, line.posted_at = actor.user, timezone.now()
        line.save(update_fields=["status", "ledger_entry", "posted_by", "posted_at"])
    return entry
