"""Invoice and chargeback documents: PDF (ReportLab) and CSV.

PDFs are bilingual (Chinese and English labels side by side) whatever the reader's
language: finance teams file them as they are. Chinese text uses ReportLab's built-in CID
font STSong-Light: PDF readers supply the glyphs (Adobe-GB1), so no font file has to be
installed or shipped, `make run` works on a fresh machine, and the text stays extractable.
"""

import io
from collections import defaultdict
from decimal import Decimal

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from portal import csv
from portal.periods import business_zone

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
TEXT = ParagraphStyle("text", fontName=FONT, fontSize=9, leading=12, wordWrap="CJK")
SMALL = ParagraphStyle("small", parent=TEXT, fontSize=7.5, leading=10, textColor=colors.grey)
TITLE = ParagraphStyle("title", parent=TEXT, fontSize=16, leading=22)
RIGHT = ParagraphStyle("right", parent=TEXT, alignment=2)
BOLD_RIGHT = ParagraphStyle("bold-right", parent=RIGHT, fontSize=10.5, leading=14)


def _p(text, style=TEXT) -> Paragraph:
    return Paragraph(str(text).replace("&", "&amp;").replace("<", "&lt;"), style)


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _tokens(count: int) -> str:
    return f"{count:,}"


def _table(rows, widths, header_rows=1, bold_rows=()) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=header_rows)
    style = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, header_rows - 1), 0.8, colors.black),
        ("BACKGROUND", (0, 0), (-1, header_rows - 1), colors.HexColor("#eef1f5")),
        ("LINEBELOW", (0, header_rows), (-1, -1), 0.25, colors.HexColor("#c8ccd2")),
    ]
    for row in bold_rows:  # subtotal rows: the label spans every column but the amount
        style += [("BACKGROUND", (0, row), (-1, row), colors.HexColor("#f6f7f9")),
                  ("SPAN", (0, row), (-2, row))]  # fmt: skip
    table.setStyle(TableStyle(style))
    return table


def _build(story) -> bytes:
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title="Token Portal",
    )
    document.build(story)
    return buffer.getvalue()


def _local_date(moment) -> str:
    return f"{moment.astimezone(business_zone()):%Y-%m-%d}" if moment else "—"


def _party_block(invoice):
    organization = invoice.organization
    return [
        _p("购买方 Bill to"),
        _p(organization.legal_name),
        _p(f"统一社会信用代码 USCC: {organization.uscc}"),
        _p(f"地址 Address: {organization.address}"),
    ]


STATUS = {"draft": "草稿 Draft", "issued": "已开具 Issued", "paid": "已付款 Paid",
          "void": "已作废 Void"}  # fmt: skip
NO_DEPARTMENT = "无部门 No department"


def invoice_pdf(invoice) -> bytes:
    """A4 invoice (or credit note): header, buyer, lines with department subtotals, totals."""
    credit = invoice.kind == invoice.Kind.CREDIT_NOTE
    title = "红字账单 Credit note" if credit else "账单 Invoice"
    number = invoice.number or "草稿 DRAFT"
    facts = [
        [_p("编号 Number"), _p(number)],
        [_p("账期 Period"), _p(f"{invoice.period_start:%Y-%m}")],
        [_p("开具日期 Issued"), _p(_local_date(invoice.issued_at))],
        [_p("付款期限 Due"), _p(_local_date(invoice.due_at))],
        [_p("状态 Status"), _p(STATUS[invoice.status])],
    ]
    if credit and invoice.credited_invoice_id:
        facts.append([_p("原账单 Credits invoice"), _p(invoice.credited_invoice.number)])
    story = [
        _p(f"Token Portal · {title}", TITLE),
        Spacer(0, 4 * mm),
        Table(
            [[_table(facts, [32 * mm, 52 * mm], header_rows=0), _party_block(invoice)]],
            colWidths=[88 * mm, 90 * mm],
            style=[("VALIGN", (0, 0), (-1, -1), "TOP")],
        ),
        Spacer(0, 6 * mm),
    ]
    header = ["部门 Department", "项目 · 模型 Project · model", "Tokens", "折扣 Disc.",
              f"金额 Amount ({invoice.currency})"]  # fmt: skip
    rows, subtotal_rows = [[_p(h) for h in header]], []
    by_department = defaultdict(list)
    for line in invoice.lines.all():
        by_department[line.department_label or NO_DEPARTMENT].append(line)
    for department, lines in by_department.items():
        for line in lines:
            description = _p(line.description)
            if line.is_adjustment:  # late usage of an earlier month, billed on this invoice
                month = f"{line.service_month:%Y-%m}"
                description = [description, _p(f"补计 {month} 用量 Adjustment: usage of {month}",
                                               SMALL)]  # fmt: skip
            rows.append([
                _p(department), description, _p(_tokens(line.total_tokens), RIGHT),
                _p(f"{line.discount_percent}%", RIGHT), _p(_money(line.amount), RIGHT),
            ])  # fmt: skip
        subtotal_rows.append(len(rows))
        rows.append([
            _p(f"{department} 小计 subtotal"), "", "", "",
            _p(_money(sum((line.amount for line in lines), Decimal(0))), RIGHT),
        ])  # fmt: skip
    story.append(_table(rows, [30 * mm, 68 * mm, 26 * mm, 22 * mm, 32 * mm], 1, subtotal_rows))
    story.append(Spacer(0, 5 * mm))
    rate = f"{invoice.tax_rate * 100:.2f}".rstrip("0").rstrip(".")
    totals = [
        [_p("小计 Subtotal", RIGHT), _p(_money(invoice.subtotal_amount), RIGHT)],
        [_p(f"增值税 VAT {rate}%", RIGHT), _p(_money(invoice.tax_amount), RIGHT)],
        [_p(f"合计 Total ({invoice.currency})", BOLD_RIGHT),
         _p(_money(invoice.total_amount), BOLD_RIGHT)],
    ]  # fmt: skip
    story.append(Table(totals, colWidths=[146 * mm, 32 * mm]))
    story.append(Spacer(0, 8 * mm))
    notes = [
        "金额已按合同折扣计算；每行按最小货币单位四舍五入，税额按小计计算。",  # noqa: RUF001
        "Amounts include the contract discount; each line is rounded once to the minor unit "
        "(half up), VAT is computed on the subtotal.",
    ]
    if invoice.settled_from_balance:
        notes[:0] = [
            "已从预付余额结算：用量发生时已按未舍入金额从余额扣除，本账单仅另扣增值税与舍入差额。",  # noqa: RUF001
            "Settled from the prepaid balance: the usage was drawn from it as it arrived "
            "(unrounded); this invoice draws only its VAT and the rounding.",
        ]
    if invoice.note:
        notes.insert(0, invoice.note)
    story += [_p(note, SMALL) for note in notes]
    return _build(story)


LINE_COLUMNS = [
    "invoice_number", "position", "service_month", "department", "project", "model",
    "requests", "input_tokens", "output_tokens", "cached_input_tokens", "discount_percent",
    "amount", "currency",
]  # fmt: skip


def invoice_csv(invoice) -> str:
    def row(line):
        return [
            invoice.number or "", line.position, f"{line.service_month:%Y-%m}",
            line.department_label, line.project_label, line.model.model_id if line.model else "",
            line.requests, line.input_tokens, line.output_tokens, line.cached_input_tokens,
            line.discount_percent, line.amount, invoice.currency,
        ]  # fmt: skip

    return csv.text(LINE_COLUMNS, map(row, invoice.lines.select_related("model")))


CHARGEBACK_COLUMNS = [
    "month", "department_code", "department", "project", "model", "tokens", "amount",
    "department_amount", "subtree_amount", "currency",
]  # fmt: skip


def chargeback_csv(statement) -> str:
    def row(department, line):
        return [
            f"{statement.month:%Y-%m}", department.code, department.name, line.project,
            line.model, line.tokens, line.amount, department.amount, department.subtree_amount,
            statement.currency,
        ]  # fmt: skip

    rows = (
        row(department, line) for department in statement.departments for line in department.lines
    )
    return csv.text(CHARGEBACK_COLUMNS, rows)


def chargeback_pdf(statement) -> bytes:
    story = [
        _p(f"Token Portal · 部门费用分摊 Department chargeback {statement.month:%Y-%m}", TITLE),
        _p(statement.organization.legal_name),
        Spacer(0, 5 * mm),
    ]
    header = ["部门 Department", "项目 · 模型 Project · model", "Tokens",
              f"金额 Amount ({statement.currency})"]  # fmt: skip
    rows, subtotal_rows = [[_p(h) for h in header]], []
    for row in statement.departments:
        name = row.name if row.department else NO_DEPARTMENT
        for line in row.lines:
            rows.append([
                _p(name), _p(f"{line.project} · {line.model}"),
                _p(_tokens(line.tokens), RIGHT), _p(_money(line.amount), RIGHT),
            ])  # fmt: skip
        subtotal_rows.append(len(rows))
        label = f"{name} 小计 subtotal"
        if row.subtree_amount != row.amount:
            label += f" · 含下级部门 with sub-departments: {_money(row.subtree_amount)}"
        rows.append([_p(label), "", "", _p(_money(row.amount), RIGHT)])
    rows.append([_p("合计 Total"), "", "", _p(_money(statement.total_amount), BOLD_RIGHT)])
    story.append(_table(rows, [40 * mm, 80 * mm, 28 * mm, 30 * mm], 1, subtotal_rows))
    return _build(story)
