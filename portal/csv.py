"""The one CSV module: every CSV file the portal produces (downloads, API files, the members
of the data export's ZIP) is made by lines(), directly or through text(), write() or
response(), and every CSV file it reads (bank statements staff import) by read().
tests/portal/test_csv.py fails if another module imports the csv module.

- Each file starts with a UTF-8 byte order mark, so that Excel reads Chinese names.
- A text cell starting with = + - @ tab or carriage return gets a leading apostrophe, so
  that a spreadsheet shows it as text instead of evaluating it as a formula (CSV injection:
  a member's display name, a project or key name is anyone's text).
- Numbers (int, float, Decimal) are written as they are, never escaped: a negative amount
  stays a number in Excel. Callers pass numbers as numbers, not as formatted strings.

Not defusedcsv: it decides by the text (so it cannot tell the name "-2" from the amount -2)
and leaves a leading tab or carriage return as it is.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.http import StreamingHttpResponse

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPE = "text/csv; charset=utf-8"


def cell(value):
    """What the csv module writes for `value`: numbers as they are, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation ("1E+2")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Line:
    """A file for csv.writer whose write() hands the line back, to yield it."""

    def write(self, line: str) -> str:
        return line


def lines(header: Iterable, rows: Iterable[Iterable]) -> Iterator[str]:
    """The file a line at a time: the BOM and the header first, then one line per row."""
    writer = csv.writer(_Line())
    yield BOM + writer.writerow([cell(value) for value in header])
    for row in rows:
        yield writer.writerow([cell(value) for value in row])


def text(header: Iterable, rows: Iterable[Iterable]) -> str:
    return "".join(lines(header, rows))


def write(out, header: Iterable, rows: Iterable[Iterable]) -> int:
    """Into the text file `out` (opened with newline=""); returns the number of rows."""
    count = -1  # the header is no row
    for line in lines(header, rows):
        out.write(line)
        count += 1
    return count


def response(header: Iterable, rows: Iterable[Iterable], filename: str) -> StreamingHttpResponse:
    """A download streamed row by row (`rows` may be a lazy query)."""
    streamed = StreamingHttpResponse(lines(header, rows), content_type=CONTENT_TYPE)
    streamed["Content-Disposition"] = f'attachment; filename="{filename}"'
    return streamed


def read(text: str, delimiter: str = ",") -> Iterator[list[str]]:
    """The rows of a CSV text, as lists of strings (nothing is evaluated: this is data)."""
    return csv.reader(io.StringIO(text), delimiter=delimiter)
