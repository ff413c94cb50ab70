"""发票 out: staff attach the issued fapiao (or an e-fapiao provider issues it), the customer is
told and downloads it; crediting an invoice asks for its red-letter (红字) fapiao.

A file is accepted when its extension and its first bytes agree: a PDF starts with "%PDF-", an
OFD (GB/T 33190) is a ZIP whose root holds OFD.xml; and it is at most FAPIAO_MAX_FILE_BYTES.
The requests themselves (request_fapiao, decide_fapiao_request) are in services.
"""

import re
import zipfile
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.audit_trail import Actor, record_actor_event
from billing.invoicing import efapiao
from billing.invoicing.fapiao_models import FapiaoDocument
from billing.invoicing.models import FapiaoRequest, Invoice
from notifications.announce import announce, interpolate_lazy

PDF_SIGNATURE = b"%PDF-"
ZIP_SIGNATURE = b"PK\x03\x04"
# Letters, digits and hyphens: the number names the customer's download
# (fapiao-<number>.pdf), so quotes, slashes or line breaks must never reach that header.
FAPIAO_NUMBER = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{0,39}")


def file_format(upload) -> str:
    """ "pdf" or "ofd", or a ValidationError on `file` saying what is wrong with it."""
    extension = upload.name.rsplit(".", 1)[-1].lower() if "." in upload.name else ""
    if extension not in FapiaoDocument.Format.values:
        raise ValidationError({"file": _("A fapiao file is a PDF or an OFD file.")})
    if upload.size > settings.FAPIAO_MAX_FILE_BYTES:
        raise ValidationError(
            {"file": _("The file is larger than %(size)s KB.")
             % {"size": settings.FAPIAO_MAX_FILE_BYTES // 1024}}
        )  # fmt: skip
    upload.seek(0)
    head = upload.read(len(PDF_SIGNATURE))
    upload.seek(0)
    if extension == "pdf" and head != PDF_SIGNATURE:
        raise ValidationError({"file": _("This file is not a PDF document.")})
    if extension == "ofd" and not (head.startswith(ZIP_SIGNATURE) and _has_ofd_root(upload)):
        raise ValidationError({"file": _("This file is not an OFD document.")})
    return extension


def _has_ofd_root(upload) -> bool:
    try:
        with zipfile.ZipFile(upload) as archive:
            return any(name.lower() == "ofd.xml" for name in archive.namelist())
    except zipfile.BadZipFile:
        return False
    finally:
        upload.seek(0)


def attach_fapiao(
    *, actor: Actor, fapiao_request: FapiaoRequest, upload, number: str, issued_on: date,
    provider: str = "",
) -> FapiaoDocument:  # fmt: skip
    """Store an issued fapiao for a request: the request is marked issued (with the first
    fapiao's number and date), the customer told by bell and email. On a credit note's
    request the fapiao is red-letter and reverses the credited invoice's latest fapiao."""
    number = (number or "").strip()
    if not number:
        raise ValidationError({"number": _("The fapiao number is required.")})
    if not FAPIAO_NUMBER.fullmatch(number):
        raise ValidationError(
            {"number": _("A fapiao number is made of letters, digits and hyphens.")}
        )
    if fapiao_request.status == FapiaoRequest.Status.REJECTED:
        raise ValidationError(_("This request was rejected."))
    fmt = file_format(upload)
    invoice = fapiao_request.invoice
    red = invoice.kind == Invoice.Kind.CREDIT_NOTE
    document = FapiaoDocument(
        fapiao_request=fapiao_request,
        invoice=invoice,
        kind=FapiaoDocument.Kind.RED if red else FapiaoDocument.Kind.BLUE,
        reverses=_latest_blue(invoice.credited_invoice) if red else None,
        number=number,
        issued_on=issued_on,
        file_format=fmt,
        provider=provider,
        created_by=actor.user,
    )
    document.file.save(f"{number}.{fmt}", upload, save=False)
    try:
        with transaction.atomic():
            document.save()
            if fapiao_request.status == FapiaoRequest.Status.REQUESTED:
                fapiao_request.status = FapiaoRequest.Status.ISSUED
                fapiao_request.fapiao_number, fapiao_request.fapiao_date = number, issued_on
                fapiao_request.save(update_fields=["status", "fapiao_number", "fapiao_date"])
            record_actor_event(
                actor=actor,
                organization=invoice.organization,
                action="billing.fapiao_attached",
                target=document,
                changes={"after": {"number": number, "invoice": invoice.number,
                                   "kind": document.kind, "provider": provider}},
            )  # fmt: skip
            _announce(document)
    except IntegrityError:
        document.file.delete(save=False)
        raise ValidationError({"number": _("This fapiao number is recorded already.")}) from None
    return document


def _latest_blue(invoice: Invoice | None) -> FapiaoDocument | None:
    if invoice is None:
        return None
    return invoice.fapiao_documents.filter(kind=FapiaoDocument.Kind.BLUE).first()


def _announce(document: FapiaoDocument) -> None:
    values = {"number": document.number, "invoice": document.invoice.number}
    subject = (
        gettext_lazy("Red-letter fapiao %(number)s for credit note %(invoice)s")
        if document.kind == FapiaoDocument.Kind.RED
        else gettext_lazy("Fapiao %(number)s for invoice %(invoice)s")
    )
    announce(
        organization=document.invoice.organization,
        event_type="fapiao.issued",
        subject=interpolate_lazy(subject, values),
        message=interpolate_lazy(
            gettext_lazy(
                "Fapiao %(number)s for invoice %(invoice)s is issued. Download it from the "
                "billing page or the API."
            ),
            values,
        ),
        data={"fapiao_id": document.public_id, "invoice_id": document.invoice.public_id,
              "kind": document.kind, **values},
    )  # fmt: skip


def request_red_letter(*, actor: Actor, credit_note: Invoice) -> FapiaoRequest | None:
    """When an invoice with an issued fapiao is credited: the request of the red-letter fapiao
    that reverses it, with the same buyer details (None when no fapiao was issued)."""
    original = credit_note.credited_invoice.fapiao_requests.filter(
        status=FapiaoRequest.Status.ISSUED
    ).first()
    if original is None:
        return None
    details = ["title", "taxpayer_id", "bank_name", "bank_account", "registered_address",
               "registered_phone", "fapiao_type"]  # fmt: skip
    request = FapiaoRequest.objects.create(
        invoice=credit_note,
        requested_by=actor.user,
        staff_note=_("Red-letter fapiao reversing %(number)s") % {"number": original.fapiao_number},
        **{name: getattr(original, name) for name in details},
    )
    record_actor_event(
        actor=actor,
        organization=credit_note.organization,
        action="billing.fapiao_requested",
        target=request,
        changes={"after": {"invoice": credit_note.number, "reverses": original.fapiao_number}},
    )
    return request


def issue_with_provider(*, actor: Actor, fapiao_request: FapiaoRequest) -> FapiaoDocument:
    """Have the configured e-fapiao provider issue the request's fapiao, then attach it."""
    provider = efapiao.configured_provider()
    if provider is None:
        raise ValidationError(_("No e-fapiao provider is configured (FAPIAO_PROVIDER)."))
    if fapiao_request.status != FapiaoRequest.Status.REQUESTED:
        raise ValidationError(_("Only an open request can be issued."))
    reverses = (
        _latest_blue(fapiao_request.invoice.credited_invoice)
        if fapiao_request.invoice.kind == Invoice.Kind.CREDIT_NOTE
        else None
    )
    issued = provider.issue(fapiao_request, reverses=reverses)  # outside any transaction
    upload = ContentFile(issued.content, name=f"{issued.number}.{issued.file_format}")
    return attach_fapiao(
        actor=actor,
        fapiao_request=fapiao_request,
        upload=upload,
        number=issued.number,
        issued_on=issued.issued_on,
        provider=provider.name,
    )
