"""The invoice PDF and CSV are real documents with the right figures: fonts embedded, A4,
seller and buyer, unit prices, VAT, 大写, the remittance reference, in both languages."""

import csv
import io
from decimal import Decimal

import pytest
from pypdf import PdfReader
from pypdf.generic import IndirectObject
from reportlab.lib.pagesizes import A4

from accounts.audit_trail import Actor
from billing.invoicing import documents
from billing.invoicing import services as invoicing
from billing.invoicing.models import FapiaoProfile
from billing.invoicing.remittance import reference_for
from tests.billing.invoicing_data import NOV, NOV_FIRST_HOUR, customer, rollup
from tests.factories import UsageRollupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice():
    c = customer()
    FapiaoProfile.objects.create(
        organization=c.organization, title="上海示例科技有限公司（开票）",  # noqa: RUF001
        taxpayer_id="91310000MA1FL0000X", registered_address="上海市浦东新区示例路1号",
        bank_name="示例银行上海分行", bank_account="6222 0000 1111",
    )  # fmt: skip
    rollup(c, key="service", cost="1234.565")
    rollup(c, key="web", model="coder", cost="88.1")
    UsageRollupFactory(
        hour=NOV_FIRST_HOUR, api_key=c.keys["lab"], model=c.models["chat"], requests=3,
        input_tokens=4000, cached_input_tokens=2500, cache_write_tokens=700, output_tokens=900,
        cost_amount=Decimal("0.5"),
    )  # fmt: skip
    [draft] = invoicing.close_month(month=NOV)
    return invoicing.issue_invoice(actor=Actor.system(), invoice=draft)


def _resolved(value):
    return value.get_object() if isinstance(value, IndirectObject) else value


def font_files(reader: PdfReader) -> dict[str, bool]:
    """Every font the pages use -> whether its glyphs are embedded in the file."""
    found = {}
    for page in reader.pages:
        fonts = _resolved(_resolved(page["/Resources"]).get("/Font", {}))
        for font in fonts.values():
            font = _resolved(font)
            if font["/Subtype"] == "/Type0":
                font = _resolved(_resolved(font["/DescendantFonts"])[0])
            descriptor = _resolved(font.get("/FontDescriptor", {}))
            found[str(font["/BaseFont"])] = any(
                name in descriptor for name in ("/FontFile", "/FontFile2", "/FontFile3")
            )
    return found


def read(pdf: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return reader, "".join(page.extract_text() for page in reader.pages)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_pdf_is_a4_with_embedded_fonts_and_no_missing_glyph(invoice, language):
    reader, text = read(documents.invoice_pdf(invoice, language))
    fonts = font_files(reader)
    assert fonts and all(fonts.values()), fonts
    assert "\ufffd" not in text
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(width, 1), round(height, 1)) == (round(A4[0], 1), round(A4[1], 1))


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_pdf_carries_what_finance_files(invoice, settings, language):
    _reader, text = read(documents.invoice_pdf(invoice, language))
    compact = text.replace("\n", "")
    seller = settings.SELLER
    for value in (seller["legal_name"], seller["uscc"], seller["bank_account"]):
        assert value in text
    assert "上海示例科技有限公司（开票）" in compact  # noqa: RUF001 - the fapiao title
    assert "91310000MA1FL0000X" in text and "6222 0000 1111" in text
    assert reference_for(invoice.organization) in text
    assert invoice.number in text and "2026-11-01 – 2026-11-30" in text  # noqa: RUF001
    # 1234.57 + 88.10 + 0.50 = 1323.17; VAT 79.3902 -> 79.39
    assert invoice.total_amount == Decimal("1402.56")
    assert "¥79.39" in text and "6 %" in text and "¥1,402.56" in text
    assert "研发部" in text and "总部" in text  # department subtotals
    assert "¥2.00" in text and "¥8.00" in text  # the price version's input and output rates
    assert "2,500" in text and "700" in text  # cached and cache-write tokens of the lab line
    capitals = "人民币壹仟肆佰零贰元伍角陆分"
    assert (capitals in compact) == (language == "zh-hans")


def test_the_seal_image_is_printed_when_set(invoice, settings, tmp_path):
    from PIL import Image

    seal = tmp_path / "seal.png"
    Image.new("RGB", (60, 60), "red").save(seal)
    settings.SELLER = {**settings.SELLER, "seal_image": str(seal)}
    reader, _text = read(documents.invoice_pdf(invoice, "zh-hans"))
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 1


def test_a_document_language_is_one_we_write(invoice):
    assert documents.document_language("en") == "en"
    assert documents.document_language("fr") in documents.LANGUAGES


def test_the_csv_has_one_row_per_line(invoice):
    rows = list(csv.DictReader(io.StringIO(documents.invoice_csv(invoice).removeprefix("\ufeff"))))
    assert [row["amount"] for row in rows] == ["88.10", "1234.57", "0.50"]
    assert {row["invoice_number"] for row in rows} == {invoice.number}
    assert sum(Decimal(row["amount"]) for row in rows) == invoice.subtotal_amount
    assert rows[2]["cache_write_tokens"] == "700" and rows[2]["cached_input_tokens"] == "2500"


def test_the_billing_page_offers_the_pdf_in_both_languages(client, invoice):
    from accounts.permissions import Role
    from tests.factories import MembershipFactory

    client.force_login(MembershipFactory(organization=invoice.organization, role=Role.BILLING).user)
    page = client.get("/billing/").content.decode()
    url = f"/billing/invoices/{invoice.public_id}.pdf"
    assert f"{url}?language=zh-hans" in page and f"{url}?language=en" in page
    chinese = client.get(f"{url}?language=zh-hans").content
    _reader, text = read(chinese)
    assert "人民币壹仟肆佰零贰元伍角陆分" in text.replace("\n", "")
    _reader, text = read(client.get(f"{url}?language=en").content)
    assert "人民币" not in text


def test_a_missing_seal_image_leaves_the_box_empty(invoice, settings, caplog):
    settings.SELLER = {**settings.SELLER, "seal_image": "/nonexistent/seal.png"}
    reader, _text = read(documents.invoice_pdf(invoice, "en"))
    assert not [image for page in reader.pages for image in page.images]
    assert "/nonexistent/seal.png" in caplog.text
