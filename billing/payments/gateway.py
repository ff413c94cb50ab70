"""The one interface every payment provider adapter implements, and the configured ones.

An adapter speaks its provider's protocol through the provider's SDK and answers in the
terms below; billing.payments.services decides what the answers mean for the ledger. A
provider is offered only when its settings are complete (settings.PAYMENT_PROVIDERS), so
`make run` and the test suite need no credentials.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Protocol

from django.conf import settings
from django.urls import reverse
from django.utils.module_loading import import_string


class ProviderError(Exception):
    """The provider refused a call or could not be reached; the message is for staff logs."""


class InvalidNotification(Exception):
    """A notification whose signature, timestamp or encryption does not check out."""


# What a provider says about a trade, in our words.
PAID, CLOSED, WAITING = "paid", "closed", "waiting"


@dataclass(frozen=True)
class RefundReport:
    out_refund_no: str
    succeeded: bool  # False: failed or closed for good
    finished: bool = True  # False: still processing at the provider
    amount: Decimal | None = None  # None when the provider does not repeat it
    provider_refund_id: str = ""


@dataclass(frozen=True)
class TradeReport:
    """One notification or status answer: a trade's state, or the outcome of one refund."""

    out_trade_no: str
    state: str = WAITING  # PAID, CLOSED or WAITING
    provider_status: str = ""
    amount: Decimal | None = None
    currency: str = "CNY"
    provider_trade_no: str = ""
    refund: RefundReport | None = None


@dataclass(frozen=True)
class Checkout:
    code_url: str  # what the payer scans


@dataclass(frozen=True)
class NotificationAnswer:
    status: int
    body: str
    content_type: str


class PaymentProvider(Protocol):
    code: str  # "wechat", "alipay": stored on Payment.provider and in ledger references
    currencies: frozenset[str]

    def start(
        self, payment, *, description: str, notify_url: str, expires_at: datetime
    ) -> Checkout:
        """The payment code; the provider refuses to take the payment after `expires_at`."""

    def query(self, payment) -> TradeReport: ...

    def refund(self, refund, *, notify_url: str) -> RefundReport: ...

    def parse_notification(self, headers, body: bytes) -> TradeReport:
        """Verified and decrypted, or InvalidNotification."""

    def acknowledge(self) -> NotificationAnswer: ...

    def reject(self, message: str) -> NotificationAnswer: ...


@cache
def _build(code: str) -> PaymentProvider:
    config = settings.PAYMENT_PROVIDERS[code]
    return import_string(config["adapter"])(**config["options"])


def configured() -> dict[str, PaymentProvider]:
    """The providers whose settings are complete, by code."""
    return {
        code: _build(code)
        for code, config in settings.PAYMENT_PROVIDERS.items()
        if all(config["options"].values())
    }


def provider(code: str) -> PaymentProvider | None:
    return configured().get(code)


def forget() -> None:
    """Drop the built adapters (their keys are read once): after the settings change."""
    _build.cache_clear()


def expiry(payment) -> datetime:
    """When the provider stops taking `payment` (PAYMENT_EXPIRY_MINUTES after it began)."""
    return payment.created_at + timedelta(minutes=settings.PAYMENT_EXPIRY_MINUTES)


def notify_url(code: str) -> str:
    return settings.PAYMENTS_NOTIFY_BASE_URL.rstrip("/") + reverse(
        "billing:payment-notify", kwargs={"provider": code}
    )
