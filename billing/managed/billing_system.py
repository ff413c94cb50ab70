"""The one integration interface to the operator's billing system, and its HTTP adapter.

An adapter pushes a settlement file and returns the receiver's acknowledgement id, or raises
DeliveryError (the push is retried with backoff, billing.managed.tasks). The HTTP adapter
POSTs the JSON file (the CSV inside it, "csv") to OPERATOR_BILLING_URL with the settlement's
idempotency key in the Idempotency-Key header and OPERATOR_BILLING_TOKEN as a bearer token;
the receiver answers 2xx with {"ack_id": "..."} and, given a key it has seen, the same ack id.
"""

from typing import Protocol

import httpx
from django.conf import settings

from billing.managed.models import Settlement


class DeliveryError(Exception):
    """The file did not reach the operator, or no acknowledgement came back."""


class BillingSystem(Protocol):
    def push(self, settlement: Settlement, *, csv_text: str, document: dict) -> str:
        """Deliver the settlement; return the receiver's acknowledgement id."""


class HttpBillingSystem:
    def __init__(self, url: str, token: str, timeout: float):
        self.url, self.token, self.timeout = url, token, timeout

    def push(self, settlement: Settlement, *, csv_text: str, document: dict) -> str:
        headers = {"Idempotency-Key": settlement.idempotency_key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = httpx.post(
                self.url,
                json={**document, "csv": csv_text},
                headers=headers,
                timeout=self.timeout,
            )
            response.raise_for_status()
            ack_id = str(response.json().get("ack_id") or "")
        except (httpx.HTTPError, ValueError, AttributeError) as error:
            raise DeliveryError(str(error)[:400]) from error
        if not ack_id:
            raise DeliveryError("The receiver answered without an ack_id.")
        return ack_id


def billing_system() -> BillingSystem | None:
    """The configured adapter; None when OPERATOR_BILLING_URL is empty (off)."""
    if not settings.OPERATOR_BILLING_URL:
        return None
    return HttpBillingSystem(
        settings.OPERATOR_BILLING_URL,
        settings.OPERATOR_BILLING_TOKEN,
        settings.OPERATOR_BILLING_TIMEOUT_SECONDS,
    )
