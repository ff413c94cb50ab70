"""Bank transfers (对公转账): a statement is imported once, matched by the remittance reference
or suggested by payer and amount, and reaches the ledger only when staff confirm."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.audit_trail import Actor
from accounts.models import AuditEvent
from billing.invoicing import ledger, remittance, statements, transfers
from billing.invoicing import services as invoicing
from billing.invoicing.bank_models import BankStatementLine
from billing.invoicing.models import FapiaoProfile, LedgerEntry
from tests.billing.invoicing_data import NOV, customer, rollup

pytestmark = pytest.mark.django_db
Status = BankStatementLine.Status


@pytest.fixture
def world():
    """A postpaid customer owing 106.00 (100 + 6 % VAT) and a prepaid one."""
    postpaid = customer()
    rollup(postpaid, cost="100")
    [draft] = invoicing.close_month(month=NOV)
    invoice = invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    prepaid = customer(payment_mode="prepaid", name="预付公司", legal_name="北京预付科技有限公司")
    return postpaid, invoice, prepaid


def statement(
    rows, header="交易流水号,交易日期,贷方金额,对方户名,对方账号,附言", encoding="utf-8-sig"
):
    return "\n".join([header, *rows]).encode(encoding)


def imported(content, staff=None):
    rows, errors = statements.read_statement(content, currency="CNY")
    assert errors == []
    actor = Actor(user=staff) if staff else Actor.system()
    return transfers.import_statement(actor=actor, rows=rows, source_file="stmt.csv")


def test_the_reader_takes_gbk_and_utf8_with_or_without_bom_and_english_headers():
    rows = ['B1,2026-12-02,"1,000.50",上海示例科技有限公司,6222 0001,货款 TPABCDEFGH']
    for encoding in ("utf-8-sig", "utf-8", "gbk"):
        [row], errors = statements.read_statement(
            statement(rows, encoding=encoding), currency="CNY"
        )
        assert errors == [] and row.payer_name == "上海示例科技有限公司", encoding
        assert row.amount == Decimal("1000.50") and row.booked_on.isoformat() == "2026-12-02"
    english = statement(
        ["X9;03/12/2026;12.00;ACME Ltd;;memo"],
        header="Transaction ID;Date;Amount;Payer Name;Payer Account;Memo",
    )
    [row], errors = statements.read_statement(english, currency="CNY")
    assert (row.transaction_id, row.payer_name, str(row.booked_on)) == (
        "X9",
        "ACME Ltd",
        "2026-12-03",
    )
    # An export with the account and period above the header, and commas in a memo.
    icbc = "\n".join([
        "账号:,1100 0000 0000 0000 000", "查询期间:,2026-12-01 至 2026-12-31", "",
        "交易时间,交易流水号,收入金额,对方户名,对方账号,摘要",
        '2026-12-02 10:31:05,ICBC01,"2,000.00",某公司,6222,"货款,TPABCDEFGH"',
    ]).encode("gbk")  # fmt: skip
    [row], errors = statements.read_statement(icbc, currency="CNY")
    assert errors == [] and (row.transaction_id, row.amount) == ("ICBC01", Decimal("2000.00"))
    assert (row.memo, row.number) == ("货款,TPABCDEFGH", 5)


def test_bad_rows_are_named_one_by_one_and_a_file_without_the_columns_is_refused():
    rows, errors = statements.read_statement(
        statement([",2026-12-02,10,a,,", "B2,yesterday,10,a,,", "B3,2026-12-02,-5,a,,",
                   "B4,2026-12-02,1.234,a,,", "B5,2026-12-02,10,a,,"]),
        currency="CNY",
    )  # fmt: skip
    assert [(e.number, e.column) for e in errors] == [
        (2, "transaction_id"), (3, "date"), (4, "amount"), (5, "amount"),
    ]  # fmt: skip
    assert [row.transaction_id for row in rows] == ["B5"]
    with pytest.raises(statements.StatementError, match="amount"):
        statements.read_statement("流水号,日期\nB1,2026-12-02".encode(), currency="CNY")
    with pytest.raises(statements.StatementError):
        statements.read_statement(b"\xff\xfe\x00garbage\x81", currency="CNY")


def test_duplicates_partial_payment_top_up_and_an_unknown_payer(client, world):
    postpaid, invoice, prepaid = world
    owed_ref, prepaid_ref = (
        remittance.reference_for(postpaid.organization),
        remittance.reference_for(prepaid.organization),
    )
    content = statement([
        f"B001,2026-12-02,50.00,上海示例科技有限公司,6222 0001,货款 {owed_ref}",
        f"B001,2026-12-02,50.00,上海示例科技有限公司,6222 0001,货款 {owed_ref}",
        f"B002,2026-12-03,1000.00,北京预付科技有限公司,,充值 {prepaid_ref.lower()}",
        "B003,2026-12-04,88.00,无名公司,,转账",
    ])  # fmt: skip
    result = imported(content)
    assert (len(result.created), result.duplicates) == (3, 1)
    assert imported(content).created == []  # the same file again adds nothing
    lines = {line.bank_transaction_id: line for line in BankStatementLine.objects.all()}
    assert (lines["B001"].status, lines["B001"].match) == (Status.MATCHED, "reference")
    assert lines["B001"].invoice == invoice
    assert (lines["B002"].organization, lines["B002"].invoice) == (prepaid.organization, None)
    assert (lines["B003"].status, lines["B003"].organization) == (Status.UNMATCHED, None)
    assert not LedgerEntry.objects.filter(kind__in=["payment", "top_up"]).exists()

    transfers.post_line(actor=Actor.system(), line=lines["B001"])
    transfers.post_line(actor=Actor.system(), line=lines["B001"])  # a second confirmation
    invoice.refresh_from_db()
    assert invoice.status == "issued"
    assert invoicing.outstanding_amount(invoice) == Decimal("56.00")
    assert ledger.balance(postpaid.organization) == Decimal("-56.00")
    client.force_login(postpaid.owner.user)
    shown = client.get(f"/api/v1/invoices/{invoice.public_id}").json()
    assert (shown["status"], shown["outstanding_amount"]) == ("issued", "56.00")
    assert client.get("/api/v1/invoices").json()["results"][0]["outstanding_amount"] == "56.00"
    assert "outstanding" in client.get("/billing/").content.decode()
    transfers.post_line(actor=Actor.system(), line=lines["B002"])
    assert ledger.balance(prepaid.organization) == Decimal("1000.00")
    assert LedgerEntry.objects.get(organization=prepaid.organization).kind == "top_up"
    with pytest.raises(Exception, match="Assign"):
        transfers.post_line(actor=Actor.system(), line=lines["B003"])

    # The rest, paid with the invoice number in the memo and 10.00 too much.
    [rest] = imported(
        statement([f"B004,2026-12-05,66.00,上海示例科技有限公司,,{owed_ref} {invoice.number}"])
    ).created
    transfers.post_line(actor=Actor.system(), line=rest)
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert ledger.balance(postpaid.organization) == Decimal("10.00")  # in the customer's favour
    assert LedgerEntry.objects.filter(reference__startswith="bank:").count() == 3


def test_without_a_reference_the_payer_name_and_amount_suggest_the_organization(world):
    postpaid, invoice, _prepaid = world
    FapiaoProfile.objects.create(
        organization=postpaid.organization,
        title="上海示例科技\uff08集团\uff09有限公司",
        taxpayer_id="x",
    )
    [by_name, by_title] = imported(statement([
        "S1,2026-12-02,106.00,上海示例科技有限公司,,货款",
        "S2,2026-12-02,20.00,上海示例科技(集团)有限公司,,",
    ])).created  # fmt: skip
    assert (by_name.status, by_name.match, by_name.organization, by_name.invoice) == (
        Status.SUGGESTED, "payer", postpaid.organization, invoice,
    )  # fmt: skip
    assert by_title.organization == postpaid.organization
    transfers.post_line(actor=Actor.system(), line=by_name)
    invoice.refresh_from_db()
    assert invoice.status == "paid"


def test_staff_import_assign_and_confirm_in_the_console(client, staff_user, world):
    postpaid, invoice, _prepaid = world
    bad = statement(["B1,2026-12-02,abc,x,,", "B2,2026-13-40,5,x,,"])
    response = client.post(
        "/admin/billing/bankstatementline/import/",
        {"statement": SimpleUploadedFile("bad.csv", bad)},
    )
    page = response.content.decode()
    assert response.status_code == 200 and "Row 2, amount" in page and "Row 3, date" in page
    assert not BankStatementLine.objects.exists()

    gbk = statement(["B9,2026-12-02,106.00,某某个人,,转账"], encoding="gbk")
    response = client.post(
        "/admin/billing/bankstatementline/import/",
        {"statement": SimpleUploadedFile("icbc.csv", gbk)},
        follow=True,
    )
    assert "1 new lines" in response.content.decode()
    line = BankStatementLine.objects.get()
    assert "B9" in client.get("/admin/billing/bankstatementline/").content.decode()

    response = client.post(
        f"/admin/billing/bankstatementline/{line.pk}/assign/",
        {"organization": postpaid.organization.pk, "invoice": ""},
    )
    assert response.status_code == 302
    client.post(
        "/admin/billing/bankstatementline/",
        {"action": "post_lines", "_selected_action": [line.pk], "queue": "all"},
    )
    line.refresh_from_db()
    invoice.refresh_from_db()
    assert (line.status, line.posted_by, invoice.status) == (Status.POSTED, staff_user, "paid")
    assert line.ledger_entry.created_by == staff_user
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"billing.bank_statement_imported", "billing.bank_line_assigned",
            "billing.payment"} <= actions  # fmt: skip


def test_a_line_set_aside_needs_a_reason_and_never_posts(client, staff_user, world):
    [line] = imported(statement(["Z1,2026-12-02,3.00,银行,,利息"])).created
    assert (
        client.post(
            f"/admin/billing/bankstatementline/{line.pk}/ignore/", {"staff_note": ""}
        ).status_code
        == 200
    )
    client.post(f"/admin/billing/bankstatementline/{line.pk}/ignore/", {"staff_note": "利息"})
    line.refresh_from_db()
    assert line.status == Status.IGNORED
    with pytest.raises(Exception, match="Assign"):
        transfers.post_line(actor=Actor.system(), line=line)


def test_the_billing_page_shows_the_reference_and_the_receiving_account(client, settings, world):
    postpaid, _invoice, _prepaid = world
    settings.SELLER = {**settings.SELLER, "bank_account": "6222 0000 1111 2222",
                       "bank_name": "招商银行北京分行"}  # fmt: skip
    client.force_login(postpaid.owner.user)
    page = client.get("/billing/").content.decode()
    for shown in (remittance.reference_for(postpaid.organization), "6222 0000 1111 2222",
                  "招商银行北京分行", settings.SELLER["legal_name"]):  # fmt: skip
        assert shown in page, shown
