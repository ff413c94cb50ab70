"""The data export's finance files: the ledger with each entry's balance after it, the bank
transfers tied to the organization, its fapiao requests and fapiao files; never another
organization's, never a transfer only suggested by the payer's name."""

import csv
import io
import zipfile
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.audit_trail import Actor
from billing.invoicing import ledger, remittance, statements, transfers
from billing.invoicing import services as invoicing
from billing.invoicing.bank_models import BankStatementLine
from billing.invoicing.fapiao_models import FapiaoDocument
from exports import services as exports
from tests.billing.invoicing_data import NOV, customer, rollup
from tests.billing.test_fapiao_documents import PDF, attach, fapiao_files  # noqa: F401

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 10, tzinfo=UTC)


def archive_of(organization) -> zipfile.ZipFile:
    target = io.BytesIO()
    exports.write_archive(organization, target, now=NOW)
    return zipfile.ZipFile(target)


def rows(archive, name) -> list[dict]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"))))


def billed(**org):
    """A postpaid customer with an issued invoice, a fapiao request for it and its fapiao."""
    c = customer(**org)
    rollup(c, cost="100")
    draft = invoicing.close_month_for(organization=c.organization, month=NOV)
    invoice = invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    request = invoicing.request_fapiao(actor=Actor.system(), invoice=invoice)
    return c, invoice, request


def test_the_ledger_file_has_each_entrys_balance_after_it():
    c = customer(payment_mode="prepaid")
    for reference, amount in (("T1", "100.00"), ("T2", "50.50")):
        ledger.record_top_up(
            actor=Actor.system(), organization=c.organization, amount=Decimal(amount),
            reference=reference,
        )  # fmt: skip
    entries = rows(archive_of(c.organization), "ledger_entries.csv")
    assert [(row["reference"], Decimal(row["balance_after"])) for row in entries] == [
        ("T1", Decimal("100")),
        ("T2", Decimal("150.50")),
    ]


def test_bank_transfers_and_fapiao_of_the_organization_only():
    a, a_invoice, a_request = billed(name="甲", legal_name="甲科技有限公司")
    b, b_invoice, b_request = billed(name="乙", legal_name="乙科技有限公司")
    a_fapiao = attach(a_request, number="26312000000000000001")
    b_fapiao = attach(b_request, content=PDF + b"%B", number="26312000000000000002")
    a_code, b_code = (remittance.reference_for(c.organization) for c in (a, b))
    imported = statements.read_statement(
        "\n".join([
            "交易流水号,交易日期,贷方金额,对方户名,对方账号,附言",
            f"BANK-A1,2026-12-02,106.00,甲科技有限公司,6222 0001,{a_code}",
            "BANK-A2,2026-12-03,5.00,甲科技有限公司,6222 0001,no reference",
            f"BANK-B1,2026-12-02,106.00,乙科技有限公司,6222 0002,{b_code}",
        ]).encode(),
        currency="CNY",
    )[0]  # fmt: skip
    transfers.import_statement(actor=Actor.system(), rows=imported, source_file="stmt.csv")
    suggested = BankStatementLine.objects.get(bank_transaction_id="BANK-A2")
    assert (suggested.organization, suggested.status) == (a.organization, "suggested")
    transfers.post_line(
        actor=Actor.system(), line=BankStatementLine.objects.get(bank_transaction_id="BANK-B1")
    )

    archive = archive_of(a.organization)
    (transfer,) = rows(archive, "bank_transfers.csv")  # not the suggestion, not B's
    assert (transfer["bank_transaction_id"], transfer["status"]) == ("BANK-A1", "matched")
    assert (transfer["matched_by"], transfer["invoice"]) == ("reference", a_invoice.number)
    (request,) = rows(archive, "fapiao_requests.csv")
    assert (request["id"], request["invoice"]) == (a_request.public_id, a_invoice.number)
    (document,) = rows(archive, "fapiao.csv")
    assert (document["id"], document["number"]) == (a_fapiao.public_id, a_fapiao.number)
    assert archive.read(document["file"]) == PDF
    assert [n for n in archive.namelist() if n.startswith("fapiao/")] == [document["file"]]

    everything = b"".join(archive.read(name) for name in archive.namelist())
    for secret in ("BANK-B1", "BANK-A2", b_invoice.number, b_request.public_id,
                   b_fapiao.public_id, b_fapiao.number):  # fmt: skip
        assert secret.encode() not in everything, secret

    b_archive = archive_of(b.organization)
    (posted,) = rows(b_archive, "bank_transfers.csv")
    assert (posted["bank_transaction_id"], posted["status"]) == ("BANK-B1", "posted")
    assert posted["ledger_entry_id"] and posted["posted_at"]
    assert b_archive.read(f"fapiao/{b_fapiao.public_id}.pdf") == PDF + b"%B"
    assert FapiaoDocument.objects.count() == 2
