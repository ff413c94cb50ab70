"""The organization's data export lists its online payments."""

import csv
import io
import zipfile
from decimal import Decimal

from django.core.files.storage import FileSystemStorage

from accounts.audit_trail import Actor
from accounts.models import DataExport
from billing.payments import services
from exports import services as exports
from tests.factories import as_actor


def test_the_export_has_payments_csv(wechat, org, owner, billing_member, tmp_path, monkeypatch):
    monkeypatch.setattr(
        DataExport._meta.get_field("file"), "storage", FileSystemStorage(location=tmp_path)
    )
    payment = services.start_payment(actor=as_actor(billing_member), organization=org,
                                      provider_code="wechat", amount=Decimal("12.50"))  # fmt: skip
    export = exports.build_export(
        export_id=exports.request_export(actor=Actor(user=owner.user, membership=owner)).pk
    )
    with export.file.open("rb") as file:
        raw = zipfile.ZipFile(io.BytesIO(file.read())).read("payments.csv")
    [row] = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    assert (row["id"], row["amount"], row["status"], row["out_trade_no"]) == (
        payment.public_id,
        "12.50",
        "pending",
        payment.out_trade_no,
    )
