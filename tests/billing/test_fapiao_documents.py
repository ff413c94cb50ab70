"""发票 files: staff attach them (or the e-fapiao provider issues them), the customer is told and
downloads them from the page and the API; a credited invoice gets its red-letter fapiao."""

import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.audit_trail import Actor
from accounts.permissions import Role
from billing.invoicing import fapiao
from billing.invoicing import services as invoicing
from billing.invoicing.fapiao_models import FapiaoDocument
from billing.invoicing.models import FapiaoProfile, FapiaoRequest
from notifications.models import Notification
from tests.billing import fake_efapiao
from tests.billing.invoicing_data import NOV, customer, rollup
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n"


@pytest.fixture(autouse=True)
def fapiao_files(settings, tmp_path, monkeypatch):
    """The "fapiao" storage in a folder of the test's own (the field took its storage when
    the model loaded, so it is given the new one too)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "fapiao": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path, "base_url": None},
        },
    }
    monkeypatch.setattr(FapiaoDocument._meta.get_field("file"), "storage", storages["fapiao"])
    return tmp_path


@pytest.fixture
def requested():
    c = customer()
    rollup(c, cost="100")
    [draft] = invoicing.close_month(month=NOV)
    invoice = invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    return c, invoice, invoicing.request_fapiao(actor=Actor.system(), invoice=invoice)


def ofd() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("OFD.xml", "<ofd:OFD/>")
        archive.writestr("Doc_0/Document.xml", "<ofd:Document/>")
    return buffer.getvalue()


def attach(fapiao_request, content=PDF, name="fp.pdf", number="26312000000000000001"):
    return fapiao.attach_fapiao(
        actor=Actor.system(),
        fapiao_request=fapiao_request,
        upload=SimpleUploadedFile(name, content),
        number=number,
        issued_on=date(2026, 12, 5),
    )


def test_staff_attach_the_file_and_the_customer_is_told_and_downloads_it(
    client, staff_user, requested, fapiao_files, django_capture_on_commit_callbacks
):
    c, invoice, fapiao_request = requested
    billing = MembershipFactory(organization=c.organization, role=Role.BILLING)
    mail.outbox.clear()
    url = f"/admin/billing/fapiaodocument/attach/{fapiao_request.pk}/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"number": "26312000000000000001", "issued_on": "2026-12-05",
                                     "file": SimpleUploadedFile("fp.pdf", PDF)})  # fmt: skip
    assert response.status_code == 302, response.content.decode()
    document = FapiaoDocument.objects.get()
    fapiao_request.refresh_from_db()
    assert (fapiao_request.status, fapiao_request.fapiao_number) == ("issued", document.number)
    assert document.file.name.endswith(".pdf") and "2631" not in document.file.name
    assert [p.name for p in fapiao_files.iterdir()] == [document.file.name]
    told = Notification.objects.filter(event_type="fapiao.issued")
    assert {n.user for n in told} == {c.owner.user, billing.user}
    assert any(invoice.number in message.subject for message in mail.outbox)

    client.force_login(billing.user)
    page = client.get("/billing/").content.decode()
    assert f"/billing/fapiao/{document.public_id}/download" in page
    download = client.get(f"/billing/fapiao/{document.public_id}/download")
    assert b"".join(download.streaming_content) == PDF
    assert download["Content-Type"] == "application/pdf"
    assert "fapiao-26312000000000000001.pdf" in download["Content-Disposition"]
    [listed] = client.get("/api/v1/fapiao").json()["results"]
    assert (listed["id"], listed["invoice"], listed["kind"]) == (
        document.public_id, invoice.public_id, "blue",
    )  # fmt: skip
    api_file = client.get(f"/api/v1/fapiao/{document.public_id}/file")
    assert b"".join(api_file.streaming_content) == PDF


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER])
def test_viewers_developers_and_outsiders_cannot_download(client, requested, role):
    c, _invoice, fapiao_request = requested
    document = attach(fapiao_request)
    client.force_login(MembershipFactory(organization=c.organization, role=role).user)
    assert client.get(f"/billing/fapiao/{document.public_id}/download").status_code == 403
    assert client.get(f"/api/v1/fapiao/{document.public_id}/file").status_code == 403
    assert client.get("/api/v1/fapiao").status_code == 403
    client.force_login(MembershipFactory(role=Role.OWNER).user)
    assert client.get(f"/billing/fapiao/{document.public_id}/download").status_code == 404
    assert client.get(f"/api/v1/fapiao/{document.public_id}/file").status_code == 404
    assert client.get("/api/v1/fapiao").json()["results"] == []


@pytest.mark.parametrize(
    "number",
    ['1" ; filename="evil.exe', "12\r\nSet-Cookie: a=b", "../../etc/passwd", "=1+1", "12 34"],
)
def test_a_fapiao_number_is_letters_digits_and_hyphens(requested, number):
    # The number names the download (Content-Disposition): a quote, a line break or a slash
    # typed by staff or sent by the provider must not reach that header.
    _c, _invoice, fapiao_request = requested
    with pytest.raises(fapiao.ValidationError) as error:
        attach(fapiao_request, number=number)
    assert "letters, digits and hyphens" in str(error.value.message_dict["number"])
    assert FapiaoDocument.objects.count() == 0


def test_an_uploaded_name_never_chooses_where_the_file_is_stored(client, requested, fapiao_files):
    c, _invoice, fapiao_request = requested
    document = attach(fapiao_request, name="../../../outside.pdf", number="TP-2026-0001")
    [stored] = list(fapiao_files.iterdir())
    assert stored.name == document.file.name and stored.suffix == ".pdf"
    assert "outside" not in stored.name and not (fapiao_files.parent / "outside.pdf").exists()
    client.force_login(MembershipFactory(organization=c.organization, role=Role.BILLING).user)
    download = client.get(f"/billing/fapiao/{document.public_id}/download")
    assert download["Content-Disposition"] == 'attachment; filename="fapiao-TP-2026-0001.pdf"'
    assert download["Content-Type"] == "application/pdf"


def test_a_file_is_checked_by_its_content_its_extension_and_its_size(settings, requested):
    _c, _invoice, fapiao_request = requested
    refused = [
        (b"PK\x03\x04 not a pdf", "fp.pdf", "not a PDF"),
        (PDF, "fp.docx", "PDF or an OFD"),
        (PDF, "fp.ofd", "not an OFD"),
        (b"PK\x03\x04broken zip", "fp.ofd", "not an OFD"),
    ]
    for content, name, message in refused:
        with pytest.raises(fapiao.ValidationError) as error:
            attach(fapiao_request, content=content, name=name)
        assert message in str(error.value.message_dict["file"]), name
    settings.FAPIAO_MAX_FILE_BYTES = 10
    with pytest.raises(fapiao.ValidationError, match="larger"):
        attach(fapiao_request)
    settings.FAPIAO_MAX_FILE_BYTES = 1024 * 1024
    document = attach(fapiao_request, content=ofd(), name="FP.OFD")
    assert (document.file_format, document.content_type) == ("ofd", "application/ofd")
    with pytest.raises(fapiao.ValidationError) as error:
        attach(fapiao_request)  # the same number again
    assert "number" in error.value.message_dict
    assert FapiaoDocument.objects.count() == 1


def test_crediting_an_invoice_with_a_fapiao_asks_for_the_red_letter_one(requested):
    _c, invoice, fapiao_request = requested
    blue = attach(fapiao_request)
    credit = invoicing.create_credit_note(
        actor=Actor.system(), invoice=invoice, net_amount=Decimal("10"), reason="SLA"
    )
    red_request = FapiaoRequest.objects.get(invoice=credit)
    assert (red_request.status, red_request.title) == ("requested", fapiao_request.title)
    red = attach(red_request, number="26312000000000000002")
    assert (red.kind, red.reverses, red.invoice) == ("red", blue, credit)
    assert blue.reversals.get() == red


def test_a_special_fapiao_request_names_the_missing_bank_and_address_fields(client, requested):
    c, invoice, _fapiao_request = requested
    FapiaoRequest.objects.all().delete()
    FapiaoProfile.objects.create(
        organization=c.organization, title="上海示例科技有限公司", taxpayer_id="91310000X",
        fapiao_type="special", bank_name="中国银行",
    )  # fmt: skip
    client.force_login(c.owner.user)
    response = client.post("/api/v1/fapiao-requests", {"invoice": invoice.public_id})
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert {"bank_account", "registered_address", "registered_phone"} <= set(fields)
    assert "bank_name" not in fields
    assert "needs the registered address" in fields["registered_address"][0]
    assert not FapiaoRequest.objects.exists()


def test_the_e_fapiao_provider_issues_blue_and_red_letter_fapiao(
    client, staff_user, settings, server_port, requested
):
    _c, invoice, fapiao_request = requested
    settings.FAPIAO_PROVIDER = "http"
    settings.FAPIAO_PROVIDER_URL = f"http://127.0.0.1:{server_port}"
    settings.FAPIAO_PROVIDER_TOKEN = fake_efapiao.TOKEN
    with fake_efapiao.provider(server_port) as received:
        response = client.post(
            "/admin/billing/fapiaorequest/",
            {"action": "issue_with_provider", "_selected_action": [fapiao_request.pk]},
        )
        assert response.status_code == 302
        blue = FapiaoDocument.objects.get()
        assert (blue.provider, blue.number, blue.kind) == ("http", "0310" + "0" * 15 + "1", "blue")
        assert blue.file.read() == fake_efapiao.PDF
        [payload] = received
        assert payload["buyer"]["title"] == "上海示例科技有限公司"
        assert payload["total"] == str(invoice.total_amount) and payload["red_letter_of"] is None
        assert Notification.objects.filter(event_type="fapiao.issued").exists()

        credit = invoicing.create_credit_note(
            actor=Actor.system(), invoice=invoice, net_amount=Decimal("5"), reason="SLA"
        )
        red = fapiao.issue_with_provider(
            actor=Actor.system(), fapiao_request=FapiaoRequest.objects.get(invoice=credit)
        )
        assert (red.kind, red.reverses) == ("red", blue)
        assert received[-1]["red_letter_of"] == blue.number


def test_a_provider_refusal_is_shown_and_stores_nothing(settings, server_port, requested):
    _c, _invoice, fapiao_request = requested
    settings.FAPIAO_PROVIDER = "http"
    settings.FAPIAO_PROVIDER_URL = f"http://127.0.0.1:{server_port}"
    settings.FAPIAO_PROVIDER_TOKEN = fake_efapiao.TOKEN
    refused = pytest.raises(fapiao.ValidationError, match="税号不存在")
    with fake_efapiao.provider(server_port, refuse="税号不存在"), refused:
        fapiao.issue_with_provider(actor=Actor.system(), fapiao_request=fapiao_request)
    settings.FAPIAO_PROVIDER_TOKEN = "wrong"
    with fake_efapiao.provider(server_port), pytest.raises(fapiao.ValidationError, match="401"):
        fapiao.issue_with_provider(actor=Actor.system(), fapiao_request=fapiao_request)
    fapiao_request.refresh_from_db()
    assert fapiao_request.status == "requested" and not FapiaoDocument.objects.exists()
