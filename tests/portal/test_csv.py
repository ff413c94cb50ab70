"""CSV formula injection (issue 20, finding 1): members plant formulas in the names they may
set; every CSV the portal produces is then read back as a spreadsheet would read it. No
cell may start with a formula character unless it is a real number, numbers (negative
amounts too) stay numbers, and every file starts with a UTF-8 BOM. Every CSV is made by
portal.csv: no other module may import the csv module, and a walk of the routes finds no
CSV download missing from CSV_DOWNLOADS."""

import ast
import csv
import io
import re
import zipfile
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.storage import FileSystemStorage
from django.test import Client

from accounts.audit_trail import Actor
from accounts.models import DataExport
from accounts.permissions import Role
from billing.invoicing import services as invoicing
from exports import services as exports
from portal import csv as portal_csv
from tests.billing.invoicing_data import NOV, customer, rollup
from tests.factories import MembershipFactory, UsageEventFactory, UsageRollupFactory
from tests.test_isolation import ROUTES

ROOT = Path(__file__).resolve().parent.parent.parent
BOM = b"\xef\xbb\xbf"
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
# What spreadsheets take for the start of a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

HYPERLINK = '=HYPERLINK("http://127.0.0.1/x")'  # a viewer's display name
PROJECT = "@SUM(1)"  # the project an admin renames
KEYS = {"service": "-2+3", "web": "=1+1"}  # a developer renames two keys
DEPARTMENT = "+cmd|' /C calc'!A0"  # the department an owner renames
CREDIT_REASON = "=1+2"  # a credit note's reason (staff)
FAPIAO_TITLE = "=1+4"  # the fapiao title a billing member types


@pytest.fixture
def world(db, client, tmp_path, monkeypatch):
    """An organization whose members planted formulas through the API, with usage this month,
    an issued November invoice, a credit note on it, and its data export."""
    monkeypatch.setattr(
        DataExport._meta.get_field("file"), "storage", FileSystemStorage(location=tmp_path)
    )
    c = customer()
    viewer = MembershipFactory(organization=c.organization, role=Role.VIEWER)
    developer = MembershipFactory(
        organization=c.organization, role=Role.DEVELOPER, department=c.departments["HQ"]
    )

    def api(member, url, data):
        client.force_login(member.user)
        response = client.patch(url, data, content_type="application/json")
        assert response.status_code == 200, (url, response.content)

    api(viewer, "/api/v1/me", {"full_name": HYPERLINK})
    for key, name in KEYS.items():
        api(developer, f"/api/v1/keys/{c.keys[key].public_id}/", {"name": name})
    api(c.owner, f"/api/v1/projects/{c.projects['service'].public_id}/", {"name": PROJECT})
    api(c.owner, f"/api/v1/departments/{c.departments['RD'].public_id}/", {"name": DEPARTMENT})

    api(c.owner, "/api/v1/billing/fapiao-profile", {"title": FAPIAO_TITLE})

    for key in KEYS:
        rollup(c, key=key, cost="12.345")  # November
        UsageRollupFactory(api_key=c.keys[key], model=c.models["chat"])  # this hour
        UsageEventFactory(api_key=c.keys[key], model=c.models["chat"])  # in the call log
    [draft] = invoicing.close_month(month=NOV)
    invoice = invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    invoicing.request_fapiao(actor=Actor.system(), invoice=invoice)
    note = invoicing.create_credit_note(
        actor=Actor.system(), invoice=invoice, net_amount=Decimal("10"), reason=CREDIT_REASON
    )
    export = exports.build_export(
        export_id=exports.request_export(actor=Actor(user=c.owner.user, membership=c.owner)).pk
    )
    client.force_login(c.owner.user)
    return SimpleNamespace(c=c, client=client, invoice=invoice, note=note, export=export)


def cells_of(raw: bytes, where: str) -> list[list[str]]:
    """The rows as a spreadsheet gets them, after checking the BOM and that no text cell
    would be taken for a formula."""
    assert raw.startswith(BOM), f"{where} has no UTF-8 BOM"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    for row in rows:
        for value in row:
            assert not value.startswith(FORMULA_STARTS) or NUMBER.fullmatch(value), (
                f"{where}: {value!r} would be evaluated as a formula"
            )
    return rows


def numbers_in(rows, columns) -> list[str]:
    """The non-empty cells of these columns, each checked to be a plain number."""
    found = []
    for column in columns:
        at = rows[0].index(column)
        for row in rows[1:]:
            if row[at]:
                assert NUMBER.fullmatch(row[at]), f"{column}: {row[at]!r} is not a number"
                found.append(row[at])
    return found


def escaped(*names: str) -> set[str]:
    return {"'" + name for name in names}


# name -> (URL in the world w, escaped cells it must have, columns that are numbers)
CSV_DOWNLOADS = {
    "audit log": (
        lambda w: "/organization/audit/export.csv",
        escaped(PROJECT),  # the renamed project's label
        [],
    ),
    "usage by day": (
        lambda w: "/usage/?export=days&by=project_id",
        escaped(PROJECT),
        ["Tokens", "Cost"],
    ),
    "usage by model": (lambda w: "/usage/?export=models", set(), ["Requests", "Tokens", "Cost"]),
    "usage by key": (
        lambda w: "/usage/?export=keys",
        escaped(*KEYS.values()),
        ["Requests", "Tokens", "Cost"],
    ),
    "project usage by key": (
        lambda w: f"/usage/projects/{w.c.projects['service'].public_id}/?export=keys",
        escaped(KEYS["service"]),
        ["Tokens", "Cost"],
    ),
    "key usage by day": (
        lambda w: f"/usage/keys/{w.c.keys['web'].public_id}/?export=days",
        set(),
        ["Tokens", "Cost"],
    ),
    "invoice (page)": (
        lambda w: f"/billing/invoices/{w.invoice.public_id}.csv",
        escaped(PROJECT, DEPARTMENT),
        ["requests", "input_tokens", "output_tokens", "discount_percent", "amount"],
    ),
    "invoice (API)": (
        lambda w: f"/api/v1/invoices/{w.invoice.public_id}/csv",
        escaped(PROJECT, DEPARTMENT),
        ["requests", "input_tokens", "output_tokens", "discount_percent", "amount"],
    ),
    "credit note": (lambda w: f"/billing/invoices/{w.note.public_id}.csv", set(), ["amount"]),
    "chargeback (page)": (
        lambda w: "/billing/chargeback/2026-11.csv",
        escaped(PROJECT, DEPARTMENT),
        ["tokens", "amount", "department_amount", "subtree_amount"],
    ),
    "chargeback (API)": (
        lambda w: "/api/v1/billing/chargeback/2026-11/csv",
        escaped(PROJECT, DEPARTMENT),
        ["tokens", "amount", "department_amount", "subtree_amount"],
    ),
    "ledger": (lambda w: "/billing/ledger.csv", set(), ["amount", "balance_after"]),
    "call log": (
        lambda w: "/usage/calls/?export=csv",
        escaped(PROJECT, *KEYS.values()),
        ["Input tokens", "Cost"],
    ),
    "statement of account (page)": (
        lambda w: "/billing/statements/2026-11.csv",
        set(),
        ["balance_after"],
    ),
    "statement of account (API)": (
        lambda w: "/api/v1/billing/statements/2026-11/csv",
        set(),
        ["balance_after"],
    ),
}


@pytest.mark.parametrize("name", CSV_DOWNLOADS)
def test_every_csv_download_neutralises_formulas_and_keeps_numbers(world, name):
    url, planted, number_columns = CSV_DOWNLOADS[name]
    response = world.client.get(url(world))
    assert response.status_code == 200, name
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    rows = cells_of(raw, name)
    assert len(rows) > 1, f"{name} has no rows"
    assert planted <= {value for row in rows for value in row}, name
    assert numbers_in(rows, number_columns) or not number_columns


def test_a_negative_amount_stays_a_number(world):
    raw = world.client.get(f"/billing/invoices/{world.note.public_id}.csv").content
    rows = cells_of(raw, "credit note")
    assert numbers_in(rows, ["amount"]) == ["-10.00"]


def test_every_member_of_the_data_export_neutralises_formulas_and_keeps_numbers(world):
    with world.export.file.open("rb") as file, zipfile.ZipFile(file) as archive:
        members = {
            name: cells_of(archive.read(name), name)
            for name in archive.namelist()
            if name.endswith(".csv")
        }
    assert set(members) == {table.name for table in exports.tables()}
    cells = {value for rows in members.values() for value in rows[1:] for value in value}
    assert escaped(HYPERLINK, PROJECT, DEPARTMENT, *KEYS.values()) <= cells
    assert escaped(DEPARTMENT) <= {row[2] for row in members["departments.csv"][1:]}
    for name in ("organization.csv", "fapiao_requests.csv"):
        assert escaped(FAPIAO_TITLE) <= {value for row in members[name][1:] for value in row}
    invoices = members["invoices.csv"]
    kinds = {row[1]: row for row in invoices[1:]}
    total = invoices[0].index("total_amount")
    assert kinds["credit_note"][total] == "-10.60"  # unescaped: a number
    for rows in members.values():
        amounts = [column for column in rows[0] if column.endswith(("amount", "_tokens"))]
        numbers_in(rows, amounts)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("-116.75", "'-116.75"),  # text that looks like a number is still text
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=1", "a=1"),
        ("示例科技", "示例科技"),
        ("", ""),
        (None, ""),
        (Decimal("-116.75"), "-116.75"),
        (Decimal("1E+2"), "100"),
        (-3, -3),
        (0.5, 0.5),
        (True, "True"),
    ],
)
def test_a_cell_is_neutralised_by_its_type_and_first_character(value, written):
    assert portal_csv.cell(value) == written


def test_the_written_file_reads_back_with_numbers_as_numbers():
    text = portal_csv.text(["name", "amount"], [["-2+3", Decimal("-116.75")], ["ok", 3]])
    assert text == "\ufeffname,amount\r\n'-2+3,-116.75\r\nok,3\r\n"
    out = io.StringIO(newline="")
    assert portal_csv.write(out, ["a"], [[1], [2]]) == 2
    assert out.getvalue() == "\ufeffa\r\n1\r\n2\r\n"


def test_no_module_but_portal_csv_imports_the_csv_module():
    """Every CSV goes through the one writer: a module writing CSV itself fails here."""
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {"tests", "node_modules", "var"} or relative.parts[0][0] == ".":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(relative))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            if "csv" in names and str(relative) != "portal/csv.py":
                offenders.append(str(relative))
    assert offenders == []


# URL kwargs of the walk below, from the world.
WALK_KWARGS = {
    "project": lambda w: w.c.projects["service"].public_id,
    "key": lambda w: w.c.keys["service"].public_id,
    "invoice": lambda w: w.invoice.public_id,
    "department": lambda w: w.c.departments["RD"].public_id,
    "member": lambda w: w.c.owner.public_id,
    "export": lambda w: w.export.public_id,
    "year": lambda w: "2026",
    "month": lambda w: "11",
    "fmt": lambda w: "csv",
}


def test_every_csv_route_is_checked_above(world):
    """Every route of ours that the owner can GET with the world's ids: one that answers a CSV
    must be in CSV_DOWNLOADS (a new one fails here until it is listed, and so checked)."""
    listed = {url(world).split("?")[0] for url, _, _ in CSV_DOWNLOADS.values()}
    client = Client(raise_request_exception=False)
    client.force_login(world.c.owner.user)
    answered_csv = set()
    for url_format, params, ours, _namespace, _name in ROUTES:
        if not ours or not set(params) <= set(WALK_KWARGS):
            continue
        path = "/" + url_format % {param: WALK_KWARGS[param](world) for param in params}
        response = client.get(path)
        if response.get("Content-Type", "").startswith("text/csv"):
            answered_csv.add(path)
    assert answered_csv, "the walk found no CSV route at all"
    assert answered_csv <= listed
