"""The ledger: every movement of an organization's money with the platform, append-only.

Sign convention: a positive amount is in the customer's favour (top-up, payment, credit
note), a negative amount is owed by the customer (usage charge, invoice). The balance is
the sum, kept as a running figure (LedgerBalance) moved by every entry as it is saved. A
prepaid organization's usage draws its balance down batch by batch (usage_charge); a
postpaid organization owes its issued invoices (invoice) until it pays (payment), so its
balance is minus what it owes. Issuing a prepaid organization's invoice posts its VAT
(invoice) and one rounding entry (rounding): the usage charges its lines cover, plus the
rounding, equal its subtotal (billing.ledger.post_rounding_adjustment).
"""

from decimal import Decimal

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.ids import PublicIdField
from portal.tenancy import TenantQuerySet

APPEND_ONLY = "Ledger entries are append-only."


class LedgerEntryQuerySet(TenantQuerySet):
    def update(self, **kwargs):
        raise TypeError(APPEND_ONLY)

    def bulk_create(self, *args, **kwargs):
        raise TypeError("Create ledger entries one by one: each moves the running balance.")

    def delete(self):
        raise TypeError(APPEND_ONLY)


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        TOP_UP = "top_up", _("Top-up")
        USAGE_CHARGE = "usage_charge", _("Usage charge")
        INVOICE = "invoice", _("Invoice")
        PAYMENT = "payment", _("Payment")
        CREDIT_NOTE = "credit_note", _("Credit note")
        ADJUSTMENT = "adjustment", _("Adjustment")
        ROUNDING = "rounding", _("Rounding adjustment")

    public_id = PublicIdField(prefix="led")
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # Unrounded for usage charges (a batch can cost a fraction of a fen), else minor units.
    amount = models.DecimalField(_("amount"), max_digits=24, decimal_places=10)
    currency = models.CharField(_("currency"), max_length=3)
    reference = models.CharField(
        _("reference"),
        max_length=120,
        blank=True,
        help_text=_("Bank transfer or provider reference; usage charges: the event id range."),
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    invoice = models.ForeignKey(
        "billing.Invoice",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("invoice"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["-created_at", "-id"]
        constraints = [
            # The same bank receipt, provider payment or usage batch is recorded once.
            models.UniqueConstraint(
                fields=["organization", "kind", "reference"],
                condition=~models.Q(reference=""),
                name="ledger_reference_once",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount} {self.currency}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError(APPEND_ONLY)
        with transaction.atomic(savepoint=False):
            super().save(*args, **kwargs)
            self.balance_after = LedgerBalance.move(self.organization_id, self.amount)

    def delete(self, *args, **kwargs):
        raise TypeError(APPEND_ONLY)


class LedgerBalance(models.Model):
    """The running sum of an organization's ledger, moved in the transaction that appends
    each entry: reading a balance costs one row, not a sum over every entry. The row lock
    also serializes concurrent entries of one organization, so each sees the balance
    before it exactly (one low-balance alert, not two)."""

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.PROTECT, primary_key=True, related_name="+"
    )
    amount = models.DecimalField(_("balance"), max_digits=28, decimal_places=10, default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("ledger balance")
        verbose_name_plural = _("ledger balances")

    def __str__(self):
        return str(self.amount)

    @classmethod
    def move(cls, organization_id: int, amount) -> Decimal:
        """Add `amount` (inside the caller's transaction); returns the balance after it."""
        row, _created = cls.objects.select_for_update().get_or_create(
            organization_id=organization_id
        )
        row.amount += amount
        row.save(update_fields=["amount", "updated_at"])
        return row.amount
