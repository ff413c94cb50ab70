"""The one look of the portal's PDFs (invoice, chargeback, statement of account): A4 pages
with a header rule and a numbered footer, one embedded font, paragraph styles, tables.

The font is a TrueType font with Chinese glyphs, embedded as a subset so that every reader
shows the same text: settings.PDF_FONT_PATH, else the first such font found by fontconfig or
at KNOWN_FONT_PATHS. Without one, text is set in DejaVu Sans (or Helvetica) and Chinese
characters do not show; an error says so in the log (docs/configuration.md, PDF_FONT_PATH).
"""

import functools
import io
import logging
import shutil
import subprocess
from types import SimpleNamespace

from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

logger = logging.getLogger(__name__)

FONT_NAME = "PortalSans"
# TrueType fonts with Chinese glyphs, where Debian (fonts-wqy-microhei, the one CI and the
# Docker image install, fonts-wqy-zenhei, fonts-arphic-uming) and macOS put them.
KNOWN_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
)
LATIN_FALLBACKS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
# Glyphs a font must have to be used: Chinese text and the middle dot of "项目 · 模型".
REQUIRED_GLYPHS = "中文·"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 16 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#616e7c")
RULE = colors.HexColor("#c8ccd2")
SHADE = colors.HexColor("#eef1f5")
LIGHT_SHADE = colors.HexColor("#f6f7f9")


def _fontconfig_paths() -> list[str]:
    if not shutil.which("fc-list"):
        return []
    try:
        listed = subprocess.run(
            ["fc-list", "-f", "%{file}\n", ":lang=zh"],  # noqa: S607
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(p for p in listed.splitlines() if p.lower().endswith((".ttf", ".ttc")))


def _register(path: str) -> bool:
    """Register `path` as FONT_NAME if it is a TrueType font with the required glyphs."""
    try:
        candidate = TTFont(FONT_NAME, path, subfontIndex=0)
    except (OSError, TTFError) as error:
        logger.warning("PDF font %s cannot be used: %s", path, error)
        return False
    if not all(ord(char) in candidate.face.charToGlyph for char in REQUIRED_GLYPHS):
        logger.warning("PDF font %s has no Chinese glyphs", path)
        return False
    pdfmetrics.registerFont(candidate)
    return True


@functools.cache
def font() -> str:
    """The name of the registered font every PDF is set in (found once per process)."""
    configured = settings.PDF_FONT_PATH
    candidates = [configured] if configured else [*KNOWN_FONT_PATHS, *_fontconfig_paths()]
    for path in candidates:
        if path and _register(path):
            return FONT_NAME
    logger.error(
        "No TrueType font with Chinese glyphs found (PDF_FONT_PATH=%r): PDFs are set in a "
        "Latin font and their Chinese text does not show. Install fonts-wqy-microhei or set "
        "PDF_FONT_PATH to a .ttf/.ttc file.",
        configured,
    )
    for path in LATIN_FALLBACKS:
        try:
            pdfmetrics.registerFont(TTFont(FONT_NAME, path))
        except (OSError, TTFError):
            continue
        return FONT_NAME
    return "Helvetica"


@functools.cache
def styles() -> SimpleNamespace:
    text = ParagraphStyle("text", fontName=font(), fontSize=9, leading=12, textColor=INK,
                          wordWrap="CJK")  # fmt: skip
    right = ParagraphStyle("right", parent=text, alignment=2)
    return SimpleNamespace(
        text=text,
        right=right,
        small=ParagraphStyle("small", parent=text, fontSize=7.5, leading=10, textColor=MUTED),
        label=ParagraphStyle("label", parent=text, fontSize=7.5, leading=10, textColor=MUTED),
        title=ParagraphStyle("title", parent=text, fontSize=17, leading=23),
        heading=ParagraphStyle("heading", parent=text, fontSize=10.5, leading=15, spaceBefore=6),
        total=ParagraphStyle("total", parent=right, fontSize=11, leading=15),
    )


def p(text, style: str = "text", indent: int = 0) -> Paragraph:
    """A paragraph of plain text (escaped) in one of styles(); `indent` levels of 4 mm."""
    escaped = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    base = getattr(styles(), style)
    if indent:
        base = ParagraphStyle(f"{style}-{indent}", parent=base, leftIndent=indent * 4 * mm)
    return Paragraph(escaped.replace("\n", "<br/>"), base)


def table_style(commands=()) -> TableStyle:
    """A TableStyle in the document font (a table's own default would be Helvetica, which
    is not embedded)."""
    return TableStyle([("FONTNAME", (0, 0), (-1, -1), font()), *commands])


def table(rows, widths, *, header_rows: int = 1, subtotal_rows=(), total_rows=()) -> Table:
    """A ruled table: shaded header rows repeated on each page, light rules between rows,
    shaded subtotal rows (their label spans to the last column), a heavy rule above totals."""
    built = Table(rows, colWidths=widths, repeatRows=header_rows)
    style = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, header_rows), (-1, -1), 0.25, RULE),
    ]
    if header_rows:
        style += [
            ("BACKGROUND", (0, 0), (-1, header_rows - 1), SHADE),
            ("LINEBELOW", (0, header_rows - 1), (-1, header_rows - 1), 0.8, INK),
        ]
    for row in subtotal_rows:
        style += [("BACKGROUND", (0, row), (-1, row), LIGHT_SHADE), ("SPAN", (0, row), (-2, row))]
    for row in total_rows:
        style += [("LINEABOVE", (0, row), (-1, row), 0.8, INK), ("SPAN", (0, row), (-2, row))]
    built.setStyle(table_style(style))
    return built


def facts(pairs, widths=(30 * mm, 55 * mm)) -> Table:
    """Label / value pairs, labels muted (a document's number, dates, parties)."""
    rows = [[p(label, "label"), value if isinstance(value, Paragraph) else p(value)]
            for label, value in pairs]  # fmt: skip
    built = Table(rows, colWidths=list(widths))
    built.setStyle(table_style([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                ("LEFTPADDING", (0, 0), (0, -1), 0)]))  # fmt: skip
    return built


def side_by_side(left, right) -> Table:
    """Two blocks in two columns (the document's facts beside a party, seller beside buyer)."""
    half = CONTENT_WIDTH / 2
    built = Table([[left, right]], colWidths=[half, half])
    built.setStyle(table_style([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                ("LEFTPADDING", (0, 0), (-1, -1), 0)]))  # fmt: skip
    return built


def build(story, *, title: str, header: str, footer: str) -> bytes:
    """The story on A4 pages: `header` above a rule, `footer` and the page number below."""

    def decorate(canvas, document):
        canvas.saveState()
        canvas.setFont(font(), 7.5)
        canvas.setFillColor(MUTED)
        top = PAGE_HEIGHT - MARGIN + 6 * mm
        canvas.drawString(MARGIN, top, header)
        canvas.setStrokeColor(RULE)
        canvas.line(MARGIN, top - 2 * mm, PAGE_WIDTH - MARGIN, top - 2 * mm)
        canvas.drawString(MARGIN, MARGIN - 8 * mm, footer)
        canvas.drawRightString(PAGE_WIDTH - MARGIN, MARGIN - 8 * mm, str(document.page))
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
        bottomMargin=MARGIN, title=title, author=header, creator="Token Portal",
        initialFontName=font(),  # else every page names Helvetica, which is not embedded
    )  # fmt: skip
    document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()
