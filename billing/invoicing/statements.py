"""Reading a bank statement export (CSV) into rows, or into errors that name each bad row.

Chinese banks export GBK (read here as GB 18030, its superset), others UTF-8, with or without
a byte order mark. Headers differ from bank to bank: HEADERS maps the common Chinese and
English names to ours. A row is money in (a positive amount); a bank that exports debits and
credits in one file marks debits with a minus sign or leaves the credit column empty, and such
rows are refused by name, so staff see why.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from portal import csv as portal_csv

# Our column -> the header names banks use (compared without case, spaces or punctuation).
HEADERS = {
    "transaction_id": ["transaction id", "transaction no", "reference number", "流水号",
                       "交易流水号", "银行流水号", "交易流水", "流水编号", "交易序号"],
    "date": ["date", "transaction date", "value date", "booking date", "交易日期", "日期",
             "记账日期", "入账日期", "交易时间"],
    "amount": ["amount", "credit", "credit amount", "金额", "交易金额", "贷方金额",
               "贷方发生额", "收入金额", "入账金额"],
    "payer_name": ["payer name", "payer", "counterparty", "counterparty name", "付款人",
                   "付款人名称", "付款方", "付款单位", "付款人户名", "对方户名", "对方账户名称",
                   "对方名称"],
    "payer_account": ["payer account", "counterparty account", "付款人账号", "付款账号",
                      "付款方账号", "对方账号", "对方账户"],
    "memo": ["memo", "reference", "remark", "remarks", "description", "附言", "摘要", "用途",
             "备注", "附言用途", "交易附言"],
    "currency": ["currency", "币种", "货币"],
}  # fmt: skip
REQUIRED = ("transaction_id", "date", "amount")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日", "%d/%m/%Y")
MAX_ROWS = 10_000
HEADER_WITHIN = 30  # lines from the top


def _key(header: str) -> str:
    return re.sub(r"[\s_\-/()\uff08\uff09:\uff1a.]", "", header).lower()


COLUMN_OF = {_key(name): column for column, names in HEADERS.items() for name in names}


@dataclass(frozen=True)
class StatementRow:
    number: int  # the line of the file, header = 1
    transaction_id: str
    booked_on: date
    amount: Decimal
    currency: str
    payer_name: str
    payer_account: str
    memo: str


@dataclass(frozen=True)
class RowError:
    number: int
    column: str
    message: str

    def __str__(self):
        return _("Row %(number)s, %(column)s: %(message)s") % {
            "number": self.number, "column": self.column, "message": self.message
        }  # fmt: skip


class StatementError(ValueError):
    """The file as a whole cannot be read (encoding, no header, a required column missing)."""


def decode(content: bytes) -> str:
    """UTF-8 (a byte order mark is dropped), else GB 18030 (GBK and GB 2312 are subsets)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise StatementError(_("The file is neither UTF-8 nor GBK text."))


def _amount(value: str) -> Decimal:
    cleaned = re.sub(r"[\s,¥￥]|CNY|RMB|元", "", value, flags=re.IGNORECASE)
    amount = Decimal(cleaned)  # InvalidOperation for text
    if not amount.is_finite() or amount.as_tuple().exponent < -2:
        raise InvalidOperation
    return amount


def _date(value: str) -> date:
    value = value.strip().split(" ")[0].split("T")[0]
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(value)


def read_statement(content: bytes, *, currency: str) -> tuple[list[StatementRow], list[RowError]]:
    """The statement's rows and the errors of its bad rows; `currency` for rows without one.
    The header is the first line naming the required columns (banks put the account and the
    period above it). Raises StatementError when the file cannot be read at all."""
    text = decode(content)
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise StatementError(_("The file is empty."))
    reader = portal_csv.read(text, delimiter=_delimiter(lines))
    header_line, columns, first = 0, None, None
    for header_line, values in enumerate(reader, start=1):
        first = first or values
        columns = _columns(values)
        if not [column for column in REQUIRED if column not in columns]:
            break
        if header_line == HEADER_WITHIN:
            columns = None
            break
    missing = [column for column in REQUIRED if column not in (columns or {})]
    if missing:
        raise StatementError(
            _("No column for %(missing)s (headers read: %(headers)s).")
            % {"missing": ", ".join(missing), "headers": ", ".join(first or [])}
        )
    rows, errors = [], []
    for number, values in enumerate(reader, start=header_line + 1):
        if not any(value.strip() for value in values):
            continue  # blank lines and trailing separators
        if len(rows) + len(errors) >= MAX_ROWS:
            raise StatementError(_("At most %(max)s rows per file.") % {"max": MAX_ROWS})
        row = _row(number, values, columns, currency, errors)
        if row is not None:
            rows.append(row)
    return rows, errors


def _delimiter(lines: list[str]) -> str:
    """The separator the header line uses most (the memo may hold the others)."""
    header = next((line for line in lines if _columns_in(line)), lines[0])
    return max(",;\t", key=header.count)


def _columns_in(line: str) -> bool:
    return any(len(_columns(line.split(sep))) >= len(REQUIRED) for sep in ",;\t")


def _columns(values: list[str]) -> dict[str, int]:
    columns = {}
    for index, name in enumerate(values):
        column = COLUMN_OF.get(_key(name))
        if column and column not in columns:
            columns[column] = index
    return columns


def _row(number, values, columns, currency, errors) -> StatementRow | None:
    def cell(column):
        index = columns.get(column)
        return values[index].strip() if index is not None and index < len(values) else ""

    found = len(errors)

    def refuse(column, message):
        errors.append(RowError(number, column, message))

    transaction_id = cell("transaction_id")
    if not transaction_id:
        refuse("transaction_id", _("The bank transaction id is missing."))
    elif len(transaction_id) > 100:
        refuse("transaction_id", _("At most 100 characters."))
    try:
        booked_on = _date(cell("date"))
    except ValueError:
        refuse("date", _("Not a date: %(value)r.") % {"value": cell("date")})
    try:
        amount = _amount(cell("amount"))
    except InvalidOperation:
        refuse("amount", _("Not an amount: %(value)r.") % {"value": cell("amount")})
    else:
        if amount <= 0:
            refuse("amount", _("Only money in (a positive amount) is imported."))
    row_currency = (cell("currency").upper() or currency).replace("RMB", "CNY")
    if row_currency in ("人民币", "CNY"):
        row_currency = "CNY"
    if not re.fullmatch(r"[A-Z]{3}", row_currency):
        refuse("currency", _("Not a currency code: %(value)r.") % {"value": cell("currency")})
    if len(errors) > found:
        return None
    return StatementRow(
        number=number,
        transaction_id=transaction_id,
        booked_on=booked_on,
        amount=amount,
        currency=row_currency,
        payer_name=cell("payer_name")[:200],
        payer_account=cell("payer_account")[:60],
        memo=cell("memo")[:300],
    )
