"""Account managers, proposals awaiting a second staff member, monthly settlements."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization


class AccountManager(models.Model):
    """A staff user (客户经理) looking after an organization."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="managed_organizations",
        limit_choices_to={"is_staff": True},
        verbose_name=_("account manager"),
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="account_managers",
        verbose_name=_("organization"),
    )
    created_at = models.DateTimeField(_("assigned at"), default=timezone.now)

    class Meta:
        verbose_name = _("account manager")
        verbose_name_plural = _("account managers")
        ordering = ["organization__name", "user__email"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"],
                name="account_manager_once",
                violation_error_message=_("This account manager is already assigned."),
            )
        ]

    def __str__(self):
        return f"{self.user} → {self.organization}"


class Proposal(models.Model):
    """A negotiated package or contract discount for one organization: nothing a customer
    sees changes until a second staff member approves it (billing.managed.proposals)."""

    class Kind(models.TextChoices):
        PACKAGE = "package", _("Negotiated package")
        DISCOUNT = "discount", _("Contract discount")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="proposals",
        verbose_name=_("organization"),
    )
    # The would-be offer and terms, or discount (docs/packages.md, "Operator side").
    payload = models.JSONField(_("proposed terms"))
    note = models.CharField(_("note"), max_length=300, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("proposed by"),
    )
    proposed_at = models.DateTimeField(_("proposed at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.CharField(_("reason"), max_length=300, blank=True)
    # What approval made: the named offer's terms or the contract discount.
    offer_terms = models.ForeignKey(
        "billing.OfferTerms", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    contract_discount = models.ForeignKey(
        "billing.ContractDiscount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("proposal")
        verbose_name_plural = _("proposals")
        ordering = ["-proposed_at", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.organization}"


class Settlement(models.Model):
    """The month's settlement file for the operator's billing system: built once (re-running
    the month sends the same file), pushed until acknowledged, the first ack kept."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")

    month = models.DateField(_("month"), unique=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, unique=True)
    csv_text = models.TextField(_("CSV file"))
    document = models.JSONField(_("JSON file"))
    status = models.CharField(
        _("status"), max_length=15, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    ack_id = models.CharField(_("acknowledgement id"), max_length=100, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("settlement")
        verbose_name_plural = _("settlements")
        ordering = ["-month"]

    def __str__(self):
        return f"{self.month:%Y-%m}"


class SettlementRow(models.Model):
    """One organization's charges of the month, before VAT by category, VAT and total."""

    settlement = models.ForeignKey(Settlement, on_delete=models.CASCADE, related_name="rows")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", verbose_name=_("organization")
    )
    operator_account_number = models.CharField(_("account number at the operator"), max_length=64)
    usage_amount = models.DecimalField(_("usage"), max_digits=16, decimal_places=2)
    packs_amount = models.DecimalField(_("packs"), max_digits=16, decimal_places=2)
    plan_fees_amount = models.DecimalField(_("plan fees"), max_digits=16, decimal_places=2)
    adjustments_amount = models.DecimalField(_("adjustments"), max_digits=16, decimal_places=2)
    subtotal_amount = models.DecimalField(_("before VAT"), max_digits=16, decimal_places=2)
    tax_amount = models.DecimalField(_("VAT"), max_digits=16, decimal_places=2)
    total_amount = models.DecimalField(_("total"), max_digits=16, decimal_places=2)
    # Usage billed per service month ("YYYY-MM" -> amount): later months' late usage is
    # what their charged usage has grown by since (adjustments).
    usage_by_month = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("settlement row")
        verbose_name_plural = _("settlement rows")
        ordering = ["settlement", "organization__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["settlement", "organization"],
                name="settlement_row_once",
                violation_error_message=_("The organization is already in this settlement."),
            )
        ]

    def __str__(self):
        return f"{self.settlement} · {self.organization}"
