"""E-fapiao providers: the one interface through which a provider issues a 发票, and the
generic HTTP adapter. settings.FAPIAO_PROVIDER chooses ("" = none, staff attach files).

The HTTP adapter's contract (a provider's own API is wrapped to it, or a new adapter written):

    POST {FAPIAO_PROVIDER_URL}/fapiao   Authorization: Bearer {FAPIAO_PROVIDER_TOKEN}
         Idempotency-Key: <the request's public id>   (a retry issues nothing twice)
      {"request_id", "fapiao_type": "ordinary" | "special", "red_letter_of": <number> | null,
       "seller": {...}, "buyer": {"title", "taxpayer_id", "bank_name", "bank_account",
       "address", "phone"}, "currency", "subtotal", "tax_rate", "tax", "total",
       "lines": [{"description", "amount"}]}
      200/201 {"number", "date": "YYYY-MM-DD", "format": "pdf" | "ofd", "file": <base64>}
      anything else: refused, with the provider's "message" if it sent one
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.translation import gettext as _

from billing.invoicing.fapiao_models import FapiaoDocument
from billing.invoicing.models import FapiaoRequest


@dataclass(frozen=True)
class IssuedFapiao:
    number: str
    issued_on: date
    file_format: str  # "pdf" or "ofd"
    content: bytes


class FapiaoProvider(Protocol):
    name: str

    def issue(
        self, fapiao_request: FapiaoRequest, *, reverses: FapiaoDocument | None
    ) -> IssuedFapiao:
        """Issue the request's fapiao (red-letter when `reverses` is given) or raise
        ValidationError with a message for staff."""


class HttpFapiaoProvider:
    name = "http"

    def __init__(self, *, url: str, token: str, timeout: float):
        if not url:
            raise ImproperlyConfigured("FAPIAO_PROVIDER=http needs FAPIAO_PROVIDER_URL.")
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout

    def issue(self, fapiao_request, *, reverses=None) -> IssuedFapiao:
        try:
            response = httpx.post(
                f"{self.url}/fapiao",
                json=_payload(fapiao_request, reverses),
                headers={"Authorization": f"Bearer {self.token}",
                         "Idempotency-Key": fapiao_request.public_id},
                timeout=self.timeout,
            )  # fmt: skip
        except httpx.HTTPError as error:
            raise ValidationError(
                _("The e-fapiao provider could not be reached: %(error)s") % {"error": error}
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code not in (200, 201):
            raise ValidationError(
                _("The e-fapiao provider refused (HTTP %(status)s): %(message)s")
                % {"status": response.status_code, "message": body.get("message", "")}
            )
        try:
            return IssuedFapiao(
                number=str(body["number"]),
                issued_on=date.fromisoformat(body["date"]),
                file_format=str(body["format"]).lower(),
                content=base64.b64decode(body["file"], validate=True),
            )
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise ValidationError(
                _("The e-fapiao provider answered something unreadable.")
            ) from None


def _payload(fapiao_request: FapiaoRequest, reverses: FapiaoDocument | None) -> dict:
    invoice = fapiao_request.invoice
    seller = settings.SELLER
    return {
        "request_id": fapiao_request.public_id,
        "fapiao_type": fapiao_request.fapiao_type,
        "red_letter_of": reverses.number if reverses else None,
        "seller": {key: seller[key] for key in
                   ("legal_name", "uscc", "address", "phone", "bank_name", "bank_account")},
        "buyer": {
            "title": fapiao_request.title,
            "taxpayer_id": fapiao_request.taxpayer_id,
            "bank_name": fapiao_request.bank_name,
            "bank_account": fapiao_request.bank_account,
            "address": fapiao_request.registered_address,
            "phone": fapiao_request.registered_phone,
        },
        "invoice_number": invoice.number,
        "currency": invoice.currency,
        "subtotal": str(invoice.subtotal_amount),
        "tax_rate": str(invoice.tax_rate),
        "tax": str(invoice.tax_amount),
        "total": str(invoice.total_amount),
        "lines": [{"description": line.description, "amount": str(line.amount)}
                  for line in invoice.lines.all()],
    }  # fmt: skip


PROVIDERS = {"http": HttpFapiaoProvider}


def configured_provider() -> FapiaoProvider | None:
    """The provider settings.FAPIAO_PROVIDER names, or None."""
    name = settings.FAPIAO_PROVIDER
    if not name:
        return None
    if name not in PROVIDERS:
        raise ImproperlyConfigured(f"FAPIAO_PROVIDER={name!r}: known are {sorted(PROVIDERS)}.")
    return PROVIDERS[name](
        url=settings.FAPIAO_PROVIDER_URL,
        token=settings.FAPIAO_PROVIDER_TOKEN,
        timeout=settings.FAPIAO_PROVIDER_TIMEOUT_SECONDS,
    )
