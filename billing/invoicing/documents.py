"""Invoice, chargeback and statement-of-account documents: PDF (portal.pdf's one look) and CSV.

A PDF is written in one language (zh-hans or en, the reader's unless asked), its labels
translated; names, numbers and amounts are the same in both. A Chinese invoice in CNY also
writes its total in capital numerals (大写).
"""

import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from reportlab.lib.units import mm
from reportlab.platypus import Image, KeepTogether, Spacer, Table

from billing.catalog.models import PriceVersion
from billing.invoicing import account
from billing.invoicing.models import LedgerEntry
from billing.invoicing.remittance import reference_for
from billing.invoicing.services import fapiao_profile_for
from portal import csv, pdf
from portal.money import format_money, format_unit_price, rmb_capitals
from portal.pdf import p
from portal.periods import add_months, business_zone, month_start

logger = logging.getLogger(__name__)
ZERO = Decimal(0)
LANGUAGES = ("zh-hans", "en")


def document_language(requested: str | None) -> str:
    """`requested` if it is a language documents are written in, else the active one's."""
    if requested in LANGUAGES:
        return requested
    return "zh-hans" if (translation.get_language() or "").startswith("zh") else "en"


def _local_date(moment) -> str:
    return f"{moment.astimezone(business_zone()):%Y-%m-%d}" if moment else "—"


def _tokens(count: int) -> str:
    return f"{count:,}"


def _percent(rate: Decimal) -> str:
    return f"{rate:f}".rstrip("0").rstrip(".") + " %"


def _build(story, *, title: str) -> bytes:
    seller = settings.SELLER["legal_name"]
    return pdf.build(story, title=title, header=f"{seller} · {title}", footer=seller)


# --- Invoice -------------------------------------------------------------------------------


def _seller_block():
    seller = settings.SELLER
    return [
        p(_("Seller"), "heading"),
        pdf.facts([
            (_("Name"), seller["legal_name"]),
            (_("Unified social credit code"), seller["uscc"]),
            (_("Address"), seller["address"]),
            (_("Phone"), seller["phone"]),
            (_("Bank"), seller["bank_name"]),
            (_("Account"), seller["bank_account"]),
        ], widths=(30 * mm, 58 * mm)),
    ]  # fmt: skip


def _buyer_block(organization):
    profile = fapiao_profile_for(organization)
    return [
        p(_("Buyer"), "heading"),
        pdf.facts([
            (_("Name"), profile.title),
            (_("Taxpayer id"), profile.taxpayer_id),
            (_("Address"), profile.registered_address or "—"),
            (_("Phone"), profile.registered_phone or "—"),
            (_("Bank"), profile.bank_name or "—"),
            (_("Account"), profile.bank_account or "—"),
        ], widths=(30 * mm, 58 * mm)),
    ]  # fmt: skip


def line_prices(lines) -> dict[tuple, tuple[PriceVersion | None, bool]]:
    """(model id, service month) -> (the price version in force when the month began, whether
    another version started during the month): the unit prices an invoice line shows."""
    found = {}
    for line in lines:
        key = (line.model_id, line.service_month)
        if line.model_id is None or key in found:
            continue
        start = month_start(line.service_month)
        end = month_start(add_months(line.service_month, 1))
        versions = PriceVersion.objects.filter(model_id=line.model_id)
        first = versions.filter(effective_from__lte=start).order_by("-effective_from").first()
        changed = versions.filter(effective_from__gt=start, effective_from__lt=end).exists()
        found[key] = (first, changed)
    return found


TOKEN_CLASSES = (
    # (line field, price field, label); a cache price that is NULL charges the input price.
    ("input_tokens", "input_price"),
    ("cached_input_tokens", "cached_input_price"),
    ("cache_write_tokens", "cache_write_price"),
    ("output_tokens", "output_price"),
)


def _class_labels():
    return {
        "input_tokens": _("Input"),
        "cached_input_tokens": _("Cached input"),
        "cache_write_tokens": _("Cache write"),
        "output_tokens": _("Output"),
    }


def _token_cells(line, version: PriceVersion | None):
    """Three stacked cells: the token classes, their counts, their prices per million
    (empty for a line of no model: a credit note's)."""
    if line.model_id is None:
        return "", "", ""
    labels, counts, prices = [], [], []
    for field, price_field in TOKEN_CLASSES:
        count = getattr(line, field)
        if not count and field in ("cached_input_tokens", "cache_write_tokens"):
            continue
        labels.append(_class_labels()[field])
        counts.append(_tokens(count))
        if version is None:
            prices.append("—")
        else:
            price = getattr(version, price_field)
            prices.append(format_unit_price(version.input_price if price is None else price,
                                            version.currency))  # fmt: skip
    return (p("\n".join(labels), "small"), p("\n".join(counts), "right"),
            p("\n".join(prices), "right"))  # fmt: skip


def _line_item(line, changed: bool):
    item = [p(line.description)]
    notes = []
    if line.model_id is not None:
        calls = ngettext("%(count)s call", "%(count)s calls", line.requests)
        notes.append(calls % {"count": _tokens(line.requests)})
    if line.is_adjustment:  # late usage of an earlier month, billed on this invoice
        notes.append(_("Adjustment: usage of %(month)s") % {"month": f"{line.service_month:%Y-%m}"})
    if changed:
        notes.append(_("Prices changed during the month: the first version is shown."))
    if notes:
        item.append(p(" · ".join(notes), "small"))
    return item


def coverage_name(item: dict) -> str:
    """An entitlement listed on a line, in the document's language: offer and reference."""
    zh = (translation.get_language() or "").startswith("zh")
    name = item["name_zh"] if zh else item["name_en"]
    return f"{name} · {item['reference']}" if item["reference"] else name


def _coverage_rows(line, currency: str) -> list:
    """Under a line: each entitlement that covered part of it, its units at 0, and the plan's
    overage discount."""
    rows = []
    for item in line.coverage:
        units = Decimal(item["units"])
        shown = (
            _tokens(int(units)) if item["unit"] == "tokens" and units == int(units)
            else format_money(units, currency) if item["unit"] == "money" else f"{units:,f}"
        )  # fmt: skip
        rows.append([
            p(_("Covered by %(pack)s") % {"pack": coverage_name(item)}, "small", indent=1),
            p(_("Covered"), "small"), p(shown, "right"), "", "",
            p(format_money(ZERO, currency), "right"),
        ])  # fmt: skip
    if line.overage_discount_amount:
        rows.append([
            p(_("Plan overage discount: %(amount)s off")
              % {"amount": format_money(line.overage_discount_amount, currency)}, "small",
              indent=1), "", "", "", "", "",
        ])  # fmt: skip
    return rows


def _lines_table(invoice):
    lines = list(invoice.lines.select_related("model"))
    prices = line_prices(lines)
    header = [_("Item"), _("Tokens"), "", _("Price per million"), _("Discount"),
              _("Amount (%(currency)s)") % {"currency": invoice.currency}]  # fmt: skip
    rows, subtotal_rows, heading_rows = [[p(text, "label") for text in header]], [], []
    by_department: dict[str, list] = {}
    for line in lines:
        by_department.setdefault(line.department_label or _("No department"), []).append(line)
    for department, department_lines in by_department.items():
        heading_rows.append(len(rows))
        rows.append([p(department, "heading"), "", "", "", "", ""])
        for line in department_lines:
            version, changed = prices.get((line.model_id, line.service_month), (None, False))
            labels, counts, unit_prices = _token_cells(line, version)
            rows.append([
                _line_item(line, changed), labels, counts, unit_prices,
                p(_percent(line.discount_percent), "right"),
                p(format_money(line.amount, invoice.currency), "right"),
            ])  # fmt: skip
            rows += _coverage_rows(line, invoice.currency)
        subtotal = sum((line.amount for line in department_lines), ZERO)
        subtotal_rows.append(len(rows))
        rows.append([p(_("Subtotal, %(department)s") % {"department": department}), "", "", "",
                     "", p(format_money(subtotal, invoice.currency), "right")])  # fmt: skip
    widths = [60 * mm, 20 * mm, 26 * mm, 24 * mm, 16 * mm, 32 * mm]
    built = pdf.table(rows, widths, subtotal_rows=subtotal_rows)
    built.setStyle(pdf.table_style([("SPAN", (0, row), (-1, row)) for row in heading_rows]))
    return built


def _totals_table(invoice, language: str):
    currency = invoice.currency
    rows = [
        [p(_("Subtotal"), "right"), p(format_money(invoice.subtotal_amount, currency), "right")],
        [p(_("VAT %(rate)s") % {"rate": _percent(invoice.tax_rate * 100)}, "right"),
         p(format_money(invoice.tax_amount, currency), "right")],
        [p(_("Total (%(currency)s)") % {"currency": currency}, "total"),
         p(format_money(invoice.total_amount, currency), "total")],
    ]  # fmt: skip
    if language == "zh-hans" and currency == "CNY":
        rows.append([p("合计（大写）", "right"), p(rmb_capitals(invoice.total_amount), "right")])  # noqa: RUF001
    built = Table(rows, colWidths=[118 * mm, 60 * mm])
    built.setStyle(pdf.table_style([("LINEABOVE", (0, 2), (-1, 2), 0.8, pdf.INK)]))
    return built


def _payment_block(invoice):
    seller = settings.SELLER
    if invoice.settled_from_balance:
        text = _("Paid from your prepaid balance: there is nothing to transfer.")
        return [p(_("Payment"), "heading"), p(text)]
    instructions = [
        (_("Amount"), format_money(invoice.total_amount, invoice.currency)),
        (_("Due"), _local_date(invoice.due_at)),
        (_("Account name"), seller["legal_name"]),
        (_("Bank"), seller["bank_name"]),
        (_("Account"), seller["bank_account"]),
        (_("Remittance reference"), reference_for(invoice.organization)),
    ]
    memo = _("Write the remittance reference in the transfer memo so that we can match it.")
    return [
        p(_("Payment by bank transfer"), "heading"),
        pdf.facts(instructions, widths=(36 * mm, 70 * mm)),
        p(memo, "small"),
    ]


def _seal_area():
    """The seller's seal (settings.SELLER["seal_image"]) or an empty box to stamp."""
    label = p(_("Seal"), "label")
    path, seal = settings.SELLER.get("seal_image"), ""
    if path and Path(path).is_file():
        seal = Image(path, width=38 * mm, height=38 * mm, kind="proportional")
    elif path:  # a wrong setting leaves the box empty rather than refusing every invoice
        logger.error("SELLER_SEAL_IMAGE %s is not a file: the seal area stays empty", path)
    box = Table([[label], [seal]], colWidths=[44 * mm], rowHeights=[6 * mm, 40 * mm])
    box.setStyle(pdf.table_style([("BOX", (0, 0), (-1, -1), 0.5, pdf.RULE),
                             ("ALIGN", (0, 1), (0, 1), "CENTER"),
                             ("VALIGN", (0, 1), (0, 1), "MIDDLE")]))  # fmt: skip
    return box


def _notes(invoice):
    notes = []
    if invoice.note:
        notes.append(invoice.note)
    if invoice.settled_from_balance:
        notes.append(_(
            "Settled from the prepaid balance: the usage was drawn from it as it arrived "
            "(unrounded); this invoice draws only its VAT and the rounding."
        ))  # fmt: skip
    notes.append(_(
        "Line amounts include the contract discount and are rounded once to the minor unit "
        "(half up); VAT is computed on the subtotal. Prices are per million tokens."
    ))  # fmt: skip
    if any(line.coverage or line.overage_discount_amount for line in invoice.lines.all()):
        notes.append(_(
            "Usage covered by token packs or the plan's allowance is listed at 0 under its "
            "line with the pack's reference; line amounts charge only the rest."
        ))  # fmt: skip
    return [p(note, "small") for note in notes]


def invoice_pdf(invoice, language: str | None = None) -> bytes:
    """A4 invoice (or credit note): parties, lines with department subtotals, VAT, total,
    payment instructions with the organization's remittance reference, the seal area."""
    language = document_language(language)
    with translation.override(language):
        credit = invoice.kind == invoice.Kind.CREDIT_NOTE
        title = _("Credit note") if credit else _("Invoice")
        last_day = invoice.period_end - timedelta(days=1)  # period_end is exclusive
        facts = [
            (_("Number"), invoice.number or _("Draft")),
            (_("Issued"), _local_date(invoice.issued_at)),
            (_("Period"), f"{invoice.period_start:%Y-%m-%d} – {last_day:%Y-%m-%d}"),  # noqa: RUF001
            (_("Due"), _local_date(invoice.due_at)),
            (_("Status"), invoice.get_status_display()),
        ]
        if credit and invoice.credited_invoice_id:
            facts.append((_("Credits invoice"), invoice.credited_invoice.number))
        story = [
            pdf.side_by_side(
                [p(title, "title"), p(invoice.number or _("Draft"), "heading")], pdf.facts(facts)
            ),
            Spacer(0, 4 * mm),
            pdf.side_by_side(_seller_block(), _buyer_block(invoice.organization)),
            Spacer(0, 6 * mm),
            _lines_table(invoice),
            Spacer(0, 4 * mm),
            KeepTogether(_totals_table(invoice, language)),
            Spacer(0, 6 * mm),
        ]
        closing = [] if credit else _payment_block(invoice)
        story.append(KeepTogether(pdf.side_by_side(closing, _seal_area())))
        story.append(Spacer(0, 4 * mm))
        story += _notes(invoice)
        return _build(story, title=f"{title} {invoice.number or ''}".strip())


LINE_COLUMNS = [
    "invoice_number", "position", "service_month", "department", "project", "model",
    "requests", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
    "discount_percent", "amount", "currency", "covered_amount", "overage_discount_amount",
    "covered_by",
]  # fmt: skip


def invoice_csv(invoice) -> str:
    def row(line):
        return [
            invoice.number or "", line.position, f"{line.service_month:%Y-%m}",
            line.department_label, line.project_label, line.model.model_id if line.model else "",
            line.requests, line.input_tokens, line.output_tokens, line.cached_input_tokens,
            line.cache_write_tokens, line.discount_percent, line.amount, invoice.currency,
            line.covered_amount, line.overage_discount_amount, covered_by(line),
        ]  # fmt: skip

    return csv.text(LINE_COLUMNS, map(row, invoice.lines.select_related("model")))


def covered_by(line) -> str:
    """The CSV's covered_by: "<reference> <units> <unit>" per entitlement, "; " between."""
    return "; ".join(
        f"{item['reference'] or item['entitlement']} {item['units']} {item['unit']}"
        for item in line.coverage
    )


# --- Department chargeback ------------------------------------------------------------------


def department_tree(statement) -> list[tuple[object, int]]:
    """The statement's rows depth first (children after their parent, by code), each with its
    depth; usage without a department last. Every ancestor of a row with usage is a row."""
    rows = {row.department.pk: row for row in statement.departments if row.department}
    children: dict[int | None, list] = {}
    for row in rows.values():
        parent = row.department.parent_id if row.department.parent_id in rows else None
        children.setdefault(parent, []).append(row)
    ordered = []

    def visit(parent, depth):
        for row in sorted(children.get(parent, []), key=lambda row: row.code):
            ordered.append((row, depth))
            visit(row.department.pk, depth + 1)

    visit(None, 0)
    ordered += [(row, 0) for row in statement.departments if row.department is None]
    return ordered


CHARGEBACK_COLUMNS = [
    "month", "department_code", "department", "depth", "project", "model", "tokens", "amount",
    "department_amount", "subtree_amount", "currency", "pack_value", "department_pack_value",
]  # fmt: skip


def chargeback_csv(statement) -> str:
    def row(department, depth, line):
        return [
            f"{statement.month:%Y-%m}", department.code, department.name, depth, line.project,
            line.model, line.tokens, line.amount, department.amount, department.subtree_amount,
            statement.currency, line.pack_value, department.pack_value,
        ]  # fmt: skip

    rows = (
        row(department, depth, line)
        for department, depth in department_tree(statement)
        for line in department.lines
    )
    return csv.text(CHARGEBACK_COLUMNS, rows)


def chargeback_pdf(statement, language: str | None = None) -> bytes:
    """Each department's cost, the tree indented by depth, before VAT."""
    with translation.override(document_language(language)):
        currency = statement.currency
        title = _("Department chargeback %(month)s") % {"month": f"{statement.month:%Y-%m}"}
        packs_note = _(
            "Packs used: what the usage drew from token packs and plan allowances, at list "
            "price; it is not charged again."
        )
        story = [
            p(title, "title"),
            p(statement.organization.legal_name),
            p(_("Amounts before VAT: the departments add up to the invoice subtotal."), "small"),
            p(packs_note, "small"),
            Spacer(0, 5 * mm),
        ]
        header = [_("Department"), _("Project · model"), _("Tokens"), _("Packs used"),
                  _("Own usage (%(currency)s)") % {"currency": currency},
                  _("With sub-departments")]  # fmt: skip
        rows, subtotal_rows = [[p(text, "label") for text in header]], []
        for row, depth in department_tree(statement):
            subtotal_rows.append(len(rows))
            rows.append([
                p(row.name, "heading", indent=depth), "", "",
                p(format_money(row.pack_value, currency), "right"),
                p(format_money(row.amount, currency), "right"),
                p(format_money(row.subtree_amount, currency), "right"),
            ])  # fmt: skip
            for line in row.lines:
                rows.append([
                    "", p(f"{line.project} · {line.model}"),
                    p(_tokens(line.tokens), "right"),
                    p(format_money(line.pack_value, currency), "right"),
                    p(format_money(line.amount, currency), "right"), "",
                ])  # fmt: skip
        total_row = len(rows)
        rows.append([p(_("Total before VAT")), "", "",
                     p(format_money(statement.total_pack_value, currency), "right"), "",
                     p(format_money(statement.total_amount, currency), "total")])  # fmt: skip
        widths = [42 * mm, 50 * mm, 20 * mm, 22 * mm, 22 * mm, 22 * mm]
        built = pdf.table(rows, widths, total_rows=[total_row])
        # A department row: its name over the first three columns, then its three amounts.
        built.setStyle(pdf.table_style(
            [("BACKGROUND", (0, row), (-1, row), pdf.LIGHT_SHADE) for row in subtotal_rows]
            + [("SPAN", (0, row), (2, row)) for row in subtotal_rows]
        ))  # fmt: skip
        story.append(built)
        return _build(story, title=title)


# --- The ledger and the statement of account --------------------------------------------------

LEDGER_COLUMNS = [
    "created_at", "kind", "description", "amount", "balance_after", "currency",
    "invoice_number", "reference", "note",
]  # fmt: skip


def ledger_csv_rows(entries):
    """CSV rows of `entries` (a queryset, read in chunks), each described."""
    for entry in entries.iterator(chunk_size=2000):
        yield [
            entry.created_at.astimezone(business_zone()).isoformat(), entry.kind,
            account.describe(entry), entry.amount, entry.balance_after, entry.currency,
            entry.invoice.number if entry.invoice else "", entry.reference, entry.note,
        ]  # fmt: skip


STATEMENT_COLUMNS = [
    "month", "date", "kind", "description", "amount", "balance_after", "currency",
    "invoice_number", "reference",
]  # fmt: skip


def statement_csv(statement) -> str:
    """The statement's lines between an opening and a closing row (kind "opening_balance"
    and "closing_balance", the balance in balance_after)."""
    month, currency = f"{statement.month:%Y-%m}", statement.currency

    def rows():
        yield [month, "", "opening_balance", "", "", statement.opening_balance, currency, "", ""]
        for line in statement.lines:
            yield [month, f"{line.day:%Y-%m-%d}", line.kind, line.description, line.amount,
                   line.balance_after, currency, line.invoice_number, line.reference]  # fmt: skip
        yield [month, "", "closing_balance", "", "", statement.closing_balance, currency, "", ""]

    return csv.text(STATEMENT_COLUMNS, rows())


def _statement_summary(statement):
    currency = statement.currency
    kinds = dict(LedgerEntry.Kind.choices)
    rows = [[p(_("Opening balance")), p(format_money(statement.opening_balance, currency),
                                         "right")]]  # fmt: skip
    for kind, label in kinds.items():
        if kind in statement.totals:
            rows.append([p(str(label), indent=1),
                         p(format_money(statement.total(kind), currency), "right")])  # fmt: skip
    rows.append([p(_("Closing balance")), p(format_money(statement.closing_balance, currency),
                                             "total")])  # fmt: skip
    built = Table(rows, colWidths=[60 * mm, 40 * mm], hAlign="LEFT")
    built.setStyle(pdf.table_style([("LINEABOVE", (0, -1), (-1, -1), 0.8, pdf.INK)]))
    return built


def statement_pdf(statement, language: str | None = None) -> bytes:
    """The month's ledger for the organization's files: opening balance, the sum of each
    kind of entry, each entry (usage per day) with the balance after it, closing balance."""
    with translation.override(document_language(language)):
        currency = statement.currency
        title = _("Statement of account %(month)s") % {"month": f"{statement.month:%Y-%m}"}
        organization = statement.organization
        parties = pdf.facts([
            (_("Customer"), organization.legal_name or organization.name),
            (_("Remittance reference"), reference_for(organization)),
            (_("Currency"), currency),
        ])  # fmt: skip
        story = [
            pdf.side_by_side([p(title, "title")], parties),
            Spacer(0, 4 * mm),
            _statement_summary(statement),
            Spacer(0, 6 * mm),
        ]
        header = [_("Date"), _("Description"), _("Amount"), _("Balance")]
        rows = [[p(text, "label") for text in header]]
        rows.append(["", p(_("Opening balance")), "",
                     p(format_money(statement.opening_balance, currency), "right")])  # fmt: skip
        for line in statement.lines:
            rows.append([
                p(f"{line.day:%Y-%m-%d}"), p(line.description),
                p(format_money(line.amount, currency), "right"),
                p(format_money(line.balance_after, currency), "right"),
            ])  # fmt: skip
        total_row = len(rows)
        rows.append([p(_("Closing balance")), "", "",
                     p(format_money(statement.closing_balance, currency), "total")])  # fmt: skip
        story.append(pdf.table(rows, [26 * mm, 92 * mm, 30 * mm, 30 * mm],
                               total_rows=[total_row]))  # fmt: skip
        story.append(Spacer(0, 4 * mm))
        note = _("Positive amounts are in your favour (top-ups, payments, credit notes); "
                 "negative amounts are charges and invoices.")  # fmt: skip
        story.append(p(note, "small"))
        return _build(story, title=title)
