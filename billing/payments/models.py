"""Online payments (WeChat Pay, Alipay) and their refunds, one row each.

A Payment is created before the provider is called (so its out_trade_no exists before any
notification can name it) and is locked (select_for_update) while a notification or a
status query is applied: the ledger entry it posts is made once, whatever the order and
number of the provider's messages (billing.payments.services).
"""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantQuerySet
from portal.ids import PublicIdField


def new_trade_number(prefix: str = "TP") -> str:
    """Our order number at the provider: 26 characters, within both providers' grammars."""
    return prefix + secrets.token_hex(12).upper()


def new_refund_number() -> str:
    return new_trade_number("TR")


class Payment(models.Model):
    class Purpose(models.TextChoices):
        TOP_UP = "top_up", _("Top-up")
        INVOICE = "invoice", _("Invoice payment")

    class Status(models.TextChoices):
        CREATED = "created", _("Created")
        PENDING = "pending", _("Waiting for payment")
        SUCCEEDED = "succeeded", _("Paid")
        REFUNDED = "refunded", _("Refunded")
        CLOSED = "closed", _("Closed")
        FAILED = "failed", _("Failed")
        REVIEW = "review", _("Needs staff review")

    public_id = PublicIdField(prefix="pay")
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("organization"),
    )
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices)
    invoice = models.ForeignKey(
        "billing.Invoice",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="online_payments",
        verbose_name=_("invoice"),
    )
    amount = models.DecimalField(_("amount"), max_digits=16, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    provider = models.CharField(_("provider"), max_length=20)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.CREATED
    )
    # As the provider last said it (trade_state / trade_status), for staff.
    provider_status = models.CharField(_("provider status"), max_length=40, blank=True)
    out_trade_no = models.CharField(
        _("order number at the provider"), max_length=32, unique=True, default=new_trade_number
    )
    provider_trade_no = models.CharField(_("provider transaction id"), max_length=64, blank=True)
    # What the payer scans (a weixin:// or https://qr.alipay.com/ link).
    code_url = models.CharField(_("payment code"), max_length=500, blank=True)
    refunded_amount = models.DecimalField(_("refunded"), max_digits=16, decimal_places=2, default=0)
    review_reason = models.CharField(_("review reason"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("online payment")
        verbose_name_plural = _("online payments")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0),
                name="payment_positive",
                violation_error_message=_("Enter an amount above zero."),
            ),
            models.CheckConstraint(
                condition=models.Q(purpose="invoice", invoice__isnull=False)
                | models.Q(purpose="top_up", invoice__isnull=True),
                name="payment_invoice_matches_purpose",
                violation_error_message=_(
                    "A payment of an invoice names the invoice; a top-up names none."
                ),
            ),
        ]

    def __str__(self):
        return self.out_trade_no

    @property
    def ledger_reference(self) -> str:
        return f"{self.provider}:{self.out_trade_no}"

    @property
    def refundable_amount(self):
        return self.amount - self.refunded_amount

    @property
    def is_open(self) -> bool:
        """Still waiting for the payer: the page keeps polling."""
        return self.status in (self.Status.CREATED, self.Status.PENDING)


class PaymentRefund(models.Model):
    """A refund staff asked the provider for; its ledger entry is posted once it succeeds."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Refunded")
        FAILED = "failed", _("Failed")

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    out_refund_no = models.CharField(
        _("refund number at the provider"),
        max_length=32,
        unique=True,
        default=new_refund_number,
    )
    amount = models.DecimalField(_("amount"), max_digits=16, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=80)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    provider_refund_id = models.CharField(_("provider refund id"), max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    refunded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_field = "payment__organization"

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0),
                name="refund_positive",
                violation_error_message=_("Enter an amount above zero."),
            ),
        ]

    def __str__(self):
        return self.out_refund_no

    @property
    def ledger_reference(self) -> str:
        return f"{self.payment.provider}:{self.out_refund_no}"
