"""portal.pdf: the font PDFs embed is found, and without one PDFs are still made."""

import io
import logging

import pytest
from pypdf import PdfReader

from portal import pdf


@pytest.fixture
def fresh_font():
    """Find the font again in the test, and again with the real settings after it."""
    pdf.font.cache_clear()
    pdf.styles.cache_clear()
    yield
    pdf.font.cache_clear()
    pdf.styles.cache_clear()


def test_a_chinese_font_is_found_and_embedded(fresh_font, settings):
    settings.PDF_FONT_PATH = ""
    assert pdf.font() == pdf.FONT_NAME
    document = pdf.build([pdf.p("中文 · 测试")], title="t", header="h", footer="f")
    text = PdfReader(io.BytesIO(document)).pages[0].extract_text()
    assert "中文 · 测试" in text


def test_without_a_usable_font_the_log_says_so_and_pdfs_are_still_made(
    fresh_font, settings, tmp_path, caplog
):
    not_a_font = tmp_path / "font.ttf"
    not_a_font.write_bytes(b"not a font")
    settings.PDF_FONT_PATH = str(not_a_font)
    with caplog.at_level(logging.WARNING, logger="portal.pdf"):
        name = pdf.font()
    assert "No TrueType font with Chinese glyphs found" in caplog.text
    assert str(not_a_font) in caplog.text
    document = pdf.build([pdf.p("Invoice")], title="t", header="h", footer="f")
    assert "Invoice" in PdfReader(io.BytesIO(document)).pages[0].extract_text()
    assert name in (pdf.FONT_NAME, "Helvetica")
