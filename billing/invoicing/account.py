"""The account as customers read it: the ledger described, and the monthly statement of account.

Each entry is described in words (`describe`: "Usage 2026-12-03, 72 calls", "Invoice
TP-2026-000001 VAT 6 %") from its kind, reference and invoice, with the balance after it
(LedgerEntry.balance_after) and the invoice or online payment behind it. A statement of
account is a month of the ledger: its opening balance, the month's entries (usage charges
added up per day) and the closing balance, which is the opening plus the entries.
"""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.invoicing.models import Invoice, LedgerEntry
from portal.periods import add_months, business_zone, month_start

ZERO = Decimal(0)
Kind = LedgerEntry.Kind
# The reference prefixes of money that came in online (billing.payments: "<provider>:<order>");
# anything else came by bank transfer (imported statement lines "bank:<id>", staff entries).
ONLINE_PROVIDERS = ("wechat", "alipay")
# Online payments are a floor above (billing.payments): billing.apps gives the ledger a finder
# of their public ids at app ready, so this floor imports nothing of theirs.
_payment_finders = []


def add_payment_finder(finder) -> None:
    """`finder(organization ids, trade numbers)` -> {trade number: the payment's public id}."""
    _payment_finders.append(finder)


# charge_usage notes a usage charge "<count> calls" in the language of the moment.
_CALLS = re.compile(r"^(\d+)")


def _method(reference: str) -> str:
    provider = reference.split(":", 1)[0]
    return {"wechat": _("WeChat Pay"), "alipay": _("Alipay")}.get(provider, _("bank transfer"))


def _local_day(moment: datetime) -> date:
    return moment.astimezone(business_zone()).date()


def _usage(day: date, calls: int | None) -> str:
    if calls is None:
        return _("Usage %(date)s") % {"date": f"{day:%Y-%m-%d}"}
    text = ngettext("Usage %(date)s, %(count)s call", "Usage %(date)s, %(count)s calls", calls)
    return text % {"date": f"{day:%Y-%m-%d}", "count": f"{calls:,}"}


def _calls(entry: LedgerEntry) -> int | None:
    found = _CALLS.match(entry.note)
    return int(found.group(1)) if found else None


def _rate(invoice: Invoice) -> str:
    return f"{invoice.tax_rate * 100:f}".rstrip("0").rstrip(".") + " %"


def describe(entry: LedgerEntry) -> str:
    """What the entry is, in words, in the active language (its invoice preloaded)."""
    invoice = entry.invoice
    number = invoice.number if invoice else ""
    if entry.kind == Kind.USAGE_CHARGE:
        return _usage(_local_day(entry.created_at), _calls(entry))
    if entry.kind == Kind.TOP_UP:
        return _("Top-up by %(method)s") % {"method": _method(entry.reference)}
    if entry.kind == Kind.PAYMENT and invoice:
        return _("Payment of invoice %(number)s by %(method)s") % {
            "number": number,
            "method": _method(entry.reference),
        }
    if entry.kind == Kind.PAYMENT:
        return _("Payment by %(method)s") % {"method": _method(entry.reference)}
    if entry.kind == Kind.INVOICE and invoice and invoice.settled_from_balance:
        # A prepaid invoice draws only its VAT: the usage was drawn as it came.
        return _("Invoice %(number)s VAT %(rate)s") % {"number": number, "rate": _rate(invoice)}
    if entry.kind == Kind.INVOICE and invoice:
        return _("Invoice %(number)s") % {"number": number}
    if entry.kind == Kind.CREDIT_NOTE and invoice and invoice.credited_invoice_id:
        return _("Credit note %(number)s for invoice %(credited)s") % {
            "number": number,
            "credited": invoice.credited_invoice.number,
        }
    if entry.kind == Kind.ROUNDING and invoice:
        return _("Rounding of invoice %(number)s to the fen") % {"number": number}
    if entry.kind == Kind.ADJUSTMENT and invoice and entry.reference.startswith("void:"):
        return _("Invoice %(number)s voided") % {"number": number}
    described = entry.get_kind_display()
    if entry.reference.split(":", 1)[0] in ONLINE_PROVIDERS:
        described = f"{described} ({_method(entry.reference)})"
    return f"{described}: {entry.note}" if entry.note else described


@dataclass
class LedgerRow:
    """An entry as the ledger page, its CSV and the API show it."""

    entry: LedgerEntry
    description: str
    invoice_url: str = ""  # the invoice's PDF, for a customer-visible invoice
    payment: str = ""  # the public id of the online payment behind it
    payment_url: str = ""  # and its page

    @property
    def invoice_number(self) -> str:
        return self.entry.invoice.number if self.entry.invoice else ""


def with_related(entries):
    """`entries` with what describe() and ledger_rows() read, in one query."""
    return entries.select_related("invoice__credited_invoice")


def ledger_rows(entries) -> list[LedgerRow]:
    """The entries (already fetched or a queryset) described, with their links."""
    entries = list(entries)
    trade_numbers = {
        entry.reference.split(":", 1)[1]
        for entry in entries
        if entry.reference.split(":", 1)[0] in ONLINE_PROVIDERS
    }
    organizations = {entry.organization_id for entry in entries}
    payments = {}
    for finder in _payment_finders if trade_numbers else ():
        payments.update(finder(organizations, trade_numbers))
    rows = []
    for entry in entries:
        row = LedgerRow(entry, describe(entry))
        if entry.invoice and entry.invoice.status != Invoice.Status.DRAFT:
            row.invoice_url = reverse(
                "billing:invoice-download", args=[entry.invoice.public_id, "pdf"]
            )
        provider, _colon, trade_number = entry.reference.partition(":")
        payment = payments.get(trade_number) if provider in ONLINE_PROVIDERS else None
        if payment:
            row.payment, row.payment_url = payment, reverse("billing:payment", args=[payment])
        rows.append(row)
    return rows


def between(entries, first: date | None, last: date | None):
    """The entries of the business days `first`..`last` (either may be open)."""
    if first:
        entries = entries.filter(
            created_at__gte=datetime.combine(first, time(0), tzinfo=business_zone())
        )
    if last:
        entries = entries.filter(
            created_at__lt=datetime.combine(last + timedelta(days=1), time(0), business_zone())
        )
    return entries


# --- The statement of account ----------------------------------------------------------------


@dataclass
class StatementLine:
    day: date
    description: str
    kind: str
    amount: Decimal
    balance_after: Decimal
    invoice_number: str = ""
    reference: str = ""
    calls: int | None = None  # usage of a day: its calls (None: not known for every entry)

    def add_usage(self, entry: LedgerEntry) -> None:
        """Add a usage charge of the same day to this line (entries in id order)."""
        self.amount += entry.amount
        self.balance_after = entry.balance_after
        calls = _calls(entry)
        self.calls = None if calls is None or self.calls is None else self.calls + calls
        self.description = _usage(self.day, self.calls)


@dataclass
class AccountStatement:
    organization: object
    month: date
    currency: str
    opening_balance: Decimal
    lines: list[StatementLine] = field(default_factory=list)
    # kind -> the month's sum of that kind of entry (top-ups, usage charges, invoices ...).
    totals: dict[str, Decimal] = field(default_factory=dict)

    @property
    def closing_balance(self) -> Decimal:
        return self.opening_balance + sum(self.totals.values(), ZERO)

    def total(self, kind: str) -> Decimal:
        return self.totals.get(kind, ZERO)


def statement_of_account(organization, month: date) -> AccountStatement:
    """The ledger of one business month: the balance it opened with, each entry (usage
    charges added up per day, the balance after the day's last one), the sum of each kind
    of entry, and the closing balance (opening plus every entry of the month)."""
    start, end = month_start(month), month_start(add_months(month, 1))
    entries = LedgerEntry.objects.for_org(organization)
    before = entries.filter(created_at__lt=start).order_by("-id").first()
    statement = AccountStatement(
        organization=organization,
        month=month,
        currency=organization.currency,
        opening_balance=before.balance_after if before else ZERO,
    )
    month_entries = with_related(entries.filter(created_at__gte=start, created_at__lt=end))
    for entry in month_entries.order_by("id"):
        statement.totals[entry.kind] = statement.total(entry.kind) + entry.amount
        day = _local_day(entry.created_at)
        last = statement.lines[-1] if statement.lines else None
        if (
            entry.kind == Kind.USAGE_CHARGE
            and last
            and (last.kind, last.day) == (Kind.USAGE_CHARGE, day)
        ):
            last.add_usage(entry)
        elif entry.kind == Kind.USAGE_CHARGE:
            line = StatementLine(day, "", entry.kind, ZERO, ZERO, calls=0)
            line.add_usage(entry)
            statement.lines.append(line)
        else:
            invoice = entry.invoice
            statement.lines.append(StatementLine(
                day, describe(entry), entry.kind, entry.amount, entry.balance_after,
                invoice_number=invoice.number if invoice else "", reference=entry.reference,
            ))  # fmt: skip
    return statement


def statement_months(organization, today: date, limit: int = 24) -> list[date]:
    """The months a statement can be had for, newest first: from the month of the first
    entry (at most `limit` months back) to this one."""
    first = LedgerEntry.objects.for_org(organization).order_by("id").first()
    if first is None:
        return []
    this_month = today.replace(day=1)
    oldest = max(_local_day(first.created_at).replace(day=1), add_months(this_month, 1 - limit))
    months, month = [], this_month
    while month >= oldest:
        months.append(month)
        month = add_months(month, -1)
    return months
