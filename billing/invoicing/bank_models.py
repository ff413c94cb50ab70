"""Bank statement lines: money that arrived by 对公转账, as staff imported it from the bank.

A line is stored once per bank transaction id (re-importing a statement adds nothing), matched
to an organization by the remittance reference in its memo or suggested by payer name and
amount, and posted to the ledger only when a staff member confirms it
(billing.invoicing.transfers).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantQuerySet


class BankStatementLineQuerySet(TenantQuerySet):
    def confirmed(self):
        """Lines tied to their organization by its remittance reference or by staff (matched,
        posted); a suggestion by payer name is only a guess until staff confirm it."""
        return self.filter(status__in=(BankStatementLine.Status.MATCHED,
                                       BankStatementLine.Status.POSTED))  # fmt: skip


class BankStatementLine(models.Model):
    class Status(models.TextChoices):
        UNMATCHED = "unmatched", _("Unmatched")
        SUGGESTED = "suggested", _("Suggested")
        MATCHED = "matched", _("Matched")
        POSTED = "posted", _("Posted")
        IGNORED = "ignored", _("Ignored")

    class Match(models.TextChoices):
        NONE = "", _("None")
        REFERENCE = "reference", _("Remittance reference in the memo")
        PAYER = "payer", _("Payer name and amount")
        STAFF = "staff", _("Assigned by staff")

    bank_transaction_id = models.CharField(
        _("bank transaction id"),
        max_length=100,
        unique=True,
        error_messages={"unique": _("This bank transaction is already imported.")},
    )
    booked_on = models.DateField(_("date"))
    amount = models.DecimalField(_("amount"), max_digits=16, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    payer_name = models.CharField(_("payer name"), max_length=200, blank=True)
    payer_account = models.CharField(_("payer account"), max_length=60, blank=True)
    memo = models.CharField(_("memo"), max_length=300, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.UNMATCHED
    )
    match = models.CharField(_("matched by"), max_length=20, choices=Match.choices, blank=True)
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("organization"),
    )
    invoice = models.ForeignKey(
        "billing.Invoice",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("invoice paid"),
    )
    ledger_entry = models.OneToOneField(
        "billing.LedgerEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("ledger entry"),
    )
    staff_note = models.CharField(_("note"), max_length=300, blank=True)
    source_file = models.CharField(_("imported from"), max_length=200, blank=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    imported_at = models.DateTimeField(_("imported at"), default=timezone.now)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)

    objects = BankStatementLineQuerySet.as_manager()

    class Meta:
        verbose_name = _("bank statement line")
        verbose_name_plural = _("bank statement lines")
        ordering = ["-booked_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0),
                name="bank_line_money_in",
                violation_error_message=_("A bank statement line must bring money in."),
            ),
            models.CheckConstraint(
                condition=~models.Q(status="posted") | models.Q(ledger_entry__isnull=False),
                name="bank_line_posted_has_entry",
                violation_error_message=_("A posted line must name its ledger entry."),
            ),
        ]

    def __str__(self):
        return f"{self.bank_transaction_id} {self.amount} {self.currency}"

    @property
    def ledger_reference(self) -> str:
        """The reference of the ledger entry it posts: the bank's id, unique per organization."""
        return f"bank:{self.bank_transaction_id}"
