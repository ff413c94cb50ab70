"""Invoices (monthly, per organization), their lines, credit notes, and 发票 (fapiao).

An invoice is a draft until it is issued; from then on it is frozen. The only changes an
issued invoice accepts are the columns in FROZEN_EXCEPT (status issued -> paid or void, the
payment and void facts, and when notices were sent); its lines never change. The model
layer refuses anything else and, on PostgreSQL, so does a trigger (migration
billing 0005_ledger_triggers), for raw SQL too.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization, validate_uscc
from accounts.tenancy import TenantQuerySet
from portal.ids import PublicIdField

FROZEN = "An issued invoice and its lines cannot be changed or deleted."
# The columns an issued invoice may still change (keep in step with the trigger).
FROZEN_EXCEPT = frozenset(
    {"status", "paid_at", "voided_at", "void_reason", "due_soon_sent_at", "overdue_sent_at"}
)
# Allowed status changes of an issued invoice (the trigger checks the same).
TRANSITIONS = {("issued", "paid"), ("issued", "void")}


class InvoiceQuerySet(TenantQuerySet):
    def visible_to_customers(self):
        """What customers see (pages, API, data archive): drafts stay with staff until issued."""
        return self.exclude(status=Invoice.Status.DRAFT)

    def _refuse_if_frozen(self, columns=None):
        if columns is not None and set(columns) <= FROZEN_EXCEPT:
            return
        if self.exclude(status=Invoice.Status.DRAFT).exists():
            raise TypeError(FROZEN)

    def update(self, **kwargs):
        self._refuse_if_frozen(kwargs)
        return super().update(**kwargs)

    def delete(self):
        self._refuse_if_frozen()
        return super().delete()


class Invoice(models.Model):
    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Invoice")
        CREDIT_NOTE = "credit_note", _("Credit note")
        # A purchase (a token pack), invoiced when bought with VAT; owed only once paid: the
        # charge is posted when a payment covers it (billing.sales).
        PURCHASE = "purchase", _("Purchase invoice")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ISSUED = "issued", _("Issued")
        PAID = "paid", _("Paid")
        VOID = "void", _("Void")

    public_id = PublicIdField(prefix="inv")
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        related_name="invoices",
        verbose_name=_("organization"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.INVOICE)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    number = models.CharField(_("number"), max_length=20, unique=True, null=True, blank=True)
    # The business month billed: [period_start, period_end), dates in BUSINESS_TIME_ZONE.
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    credited_invoice = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_notes",
        verbose_name=_("credited invoice"),
    )
    currency = models.CharField(_("currency"), max_length=3)
    subtotal_amount = models.DecimalField(_("subtotal"), max_digits=16, decimal_places=2)
    tax_rate = models.DecimalField(_("VAT rate"), max_digits=5, decimal_places=4)
    tax_amount = models.DecimalField(_("VAT"), max_digits=16, decimal_places=2)
    total_amount = models.DecimalField(_("total"), max_digits=16, decimal_places=2)
    note = models.CharField(_("note"), max_length=300, blank=True)
    # What the close read: the usage of the months [usage_from, period_start] (its own and
    # at least the ADJUSTMENT_MONTHS before), events with ids up to usage_through_event_id
    # (all committed). It bills what the other invoices do not; later events of those
    # months go on a later invoice. Empty on credit notes and invoices closed before.
    usage_from = models.DateField(_("usage read from month"), null=True, blank=True, editable=False)
    usage_through_event_id = models.BigIntegerField(
        _("usage billed through event"), null=True, blank=True, editable=False
    )
    # Prepaid at issue: paid from the balance, which took the VAT and a rounding entry.
    settled_from_balance = models.BooleanField(_("settled from the prepaid balance"), default=False)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    void_reason = models.CharField(_("void reason"), max_length=300, blank=True)
    due_soon_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    overdue_sent_at = models.DateTimeField(_("overdue notice sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-period_start", "-id"]
        constraints = [
            # Re-running the monthly close never makes a second invoice for a month.
            models.UniqueConstraint(
                fields=["organization", "period_start", "kind"],
                condition=models.Q(kind="invoice"),
                name="invoice_once_per_month",
                violation_error_message=_(
                    "This organization already has an invoice for this month."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(status="draft") | models.Q(number__isnull=False),
                name="invoice_issued_has_number",
                violation_error_message=_("An issued invoice must have a number."),
            ),
        ]

    def __str__(self):
        return self.number or f"{self.get_kind_display()} {self.period_start:%Y-%m} ({_('draft')})"

    def save(self, *args, update_fields=None, **kwargs):
        if self.is_frozen:
            if update_fields is None or not set(update_fields) <= FROZEN_EXCEPT:
                raise TypeError(FROZEN)
            if self.status != self._stored_status and (
                (self._stored_status, self.status) not in TRANSITIONS
            ):
                raise TypeError(FROZEN)
        super().save(*args, update_fields=update_fields, **kwargs)
        self._stored_status = self.status

    def delete(self, *args, **kwargs):
        if self.is_frozen:
            raise TypeError(FROZEN)
        return super().delete(*args, **kwargs)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._stored_status = instance.status
        return instance

    def refresh_from_db(self, *args, **kwargs):
        super().refresh_from_db(*args, **kwargs)
        self._stored_status = self.status

    @property
    def is_frozen(self) -> bool:
        return getattr(self, "_stored_status", self.Status.DRAFT) != self.Status.DRAFT

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.ISSUED and self.due_at and self.due_at < timezone.now()


# What customers pay (bank transfer, online payment); a credit note is not paid.
PAYABLE_KINDS = (Invoice.Kind.INVOICE, Invoice.Kind.PURCHASE)


class InvoiceLineQuerySet(models.QuerySet):
    def _refuse_if_frozen(self):
        if self.exclude(invoice__status=Invoice.Status.DRAFT).exists():
            raise TypeError(FROZEN)

    def update(self, **kwargs):
        self._refuse_if_frozen()
        return super().update(**kwargs)

    def delete(self):
        self._refuse_if_frozen()
        return super().delete()


class InvoiceLine(models.Model):
    """Usage of one (department, project, model) in one month, rounded once.

    `service_month` is the month the usage happened; a line whose month is earlier than the
    invoice's period is an adjustment for usage that arrived after that month was invoiced.
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(_("position"))
    service_month = models.DateField(_("service month"))
    department = models.ForeignKey(
        "accounts.Department", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    department_label = models.CharField(_("department"), max_length=200, blank=True)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    project_label = models.CharField(_("project"), max_length=200, blank=True)
    model = models.ForeignKey(
        "billing.CatalogModel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    description = models.CharField(_("description"), max_length=300)
    requests = models.PositiveBigIntegerField(_("requests"), default=0)
    input_tokens = models.BigIntegerField(_("input tokens"), default=0)
    output_tokens = models.BigIntegerField(_("output tokens"), default=0)
    cached_input_tokens = models.BigIntegerField(_("cached input tokens"), default=0)
    cache_write_tokens = models.BigIntegerField(_("cache write tokens"), default=0)
    discount_percent = models.DecimalField(
        _("contract discount, percent"), max_digits=5, decimal_places=2, default=0
    )
    amount = models.DecimalField(_("amount"), max_digits=16, decimal_places=2)
    # The exact usage cost this line bills, before rounding: its rollups' cost less what
    # earlier lines billed for the same month and group. Empty on credit notes (and on lines
    # built before it was recorded); a prepaid invoice's rounding entry is sum(cost - amount).
    cost_amount = models.DecimalField(
        _("unrounded cost"), max_digits=24, decimal_places=10, null=True, blank=True
    )
    # What packs and the plan took off the usage cost (at the organization's price) before
    # it was charged, unrounded: covered by entitlements, and the plan's overage discount.
    # cost_amount and amount are what was charged; cost + covered + discount is the usage.
    covered_amount = models.DecimalField(
        _("covered by packs or plan"), max_digits=24, decimal_places=10, default=0
    )
    overage_discount_amount = models.DecimalField(
        _("plan overage discount"), max_digits=24, decimal_places=10, default=0
    )
    # Which entitlements covered it, frozen with the line (billing.invoicing.coverage):
    # [{"entitlement", "reference", "name_en", "name_zh", "unit", "units", "value"}], units
    # drawn in the entitlement's unit, value at list price, both decimal strings.
    coverage = models.JSONField(_("covered by"), default=list, blank=True)

    objects = InvoiceLineQuerySet.as_manager()

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["invoice", "position"]

    def __str__(self):
        return self.description

    def save(self, *args, **kwargs):
        if self.invoice.status != Invoice.Status.DRAFT:
            raise TypeError(FROZEN)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.invoice.status != Invoice.Status.DRAFT:
            raise TypeError(FROZEN)
        return super().delete(*args, **kwargs)

    @property
    def is_adjustment(self) -> bool:
        return self.service_month != self.invoice.period_start

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cached_input_tokens
            + self.cache_write_tokens
        )


class InvoiceNumberCounter(models.Model):
    """The last invoice number given in a year; locked while the next one is taken."""

    year = models.PositiveIntegerField(unique=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last_number}"


class FapiaoProfile(models.Model):
    """发票 details of an organization: what goes on the fapiao staff issue."""

    class Type(models.TextChoices):
        ORDINARY = "ordinary", _("Ordinary VAT fapiao (普通发票)")
        SPECIAL = "special", _("Special VAT fapiao (增值税专用发票)")

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="fapiao_profile"
    )
    title = models.CharField(_("invoice title"), max_length=200)
    taxpayer_id = models.CharField(_("taxpayer id"), max_length=20, validators=[validate_uscc])
    bank_name = models.CharField(_("bank name"), max_length=200, blank=True)
    bank_account = models.CharField(_("bank account"), max_length=60, blank=True)
    registered_address = models.CharField(_("registered address"), max_length=300, blank=True)
    registered_phone = models.CharField(_("registered phone"), max_length=40, blank=True)
    fapiao_type = models.CharField(
        _("fapiao type"), max_length=20, choices=Type.choices, default=Type.ORDINARY
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    # What the customer sets (the billing page's form, the API) and a request copies.
    DETAILS = ("title", "taxpayer_id", "fapiao_type", "bank_name", "bank_account",
               "registered_address", "registered_phone")  # fmt: skip

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("fapiao profile")
        verbose_name_plural = _("fapiao profiles")

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        self.taxpayer_id = self.taxpayer_id.strip().upper()  # as Organization keeps its USCC
        super().save(*args, **kwargs)

    def clean(self):
        if self.fapiao_type == self.Type.SPECIAL:
            needed = ["bank_name", "bank_account", "registered_address", "registered_phone"]
            missing = {name: _("Required for a special VAT fapiao.") for name in needed
                       if not getattr(self, name)}  # fmt: skip
            if missing:
                raise ValidationError(missing)


class FapiaoRequest(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        ISSUED = "issued", _("Issued")
        REJECTED = "rejected", _("Rejected")

    public_id = PublicIdField(prefix="fpq")
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="fapiao_requests", verbose_name=_("invoice")
    )
    # The details as they were when requested.
    title = models.CharField(_("invoice title"), max_length=200)
    taxpayer_id = models.CharField(_("taxpayer id"), max_length=20)
    bank_name = models.CharField(_("bank name"), max_length=200, blank=True)
    bank_account = models.CharField(_("bank account"), max_length=60, blank=True)
    registered_address = models.CharField(_("registered address"), max_length=300, blank=True)
    registered_phone = models.CharField(_("registered phone"), max_length=40, blank=True)
    fapiao_type = models.CharField(_("fapiao type"), max_length=20, choices=FapiaoProfile.Type)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.REQUESTED
    )
    fapiao_number = models.CharField(_("fapiao number"), max_length=40, blank=True)
    fapiao_date = models.DateField(_("fapiao date"), null=True, blank=True)
    staff_note = models.CharField(_("note"), max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)

    objects = TenantQuerySet.as_manager()
    tenant_field = "invoice__organization"

    class Meta:
        verbose_name = _("fapiao request")
        verbose_name_plural = _("fapiao requests")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"],
                condition=~models.Q(status="rejected"),
                name="fapiao_request_once_per_invoice",
                violation_error_message=_("A fapiao has already been requested for this invoice."),
            ),
        ]

    def __str__(self):
        return f"{self.title} ({self.get_status_display()})"


class BillingAccount(Organization):
    """Organizations as staff see them in the billing admin (payment mode, credit limit)."""

    class Meta:
        proxy = True
        verbose_name = _("billing account")
        verbose_name_plural = _("billing accounts")


class OverdueInvoice(Invoice):
    """Invoices as the staff console's overdue list shows them (with their dunning history)."""

    class Meta:
        proxy = True
        verbose_name = _("overdue invoice")
        verbose_name_plural = _("overdue invoices")


class RemittanceReference(models.Model):
    """An organization's 识别码: the code its bank transfers carry so staff can match them.

    One per organization, made on first use (billing.invoicing.remittance.reference_for) and
    never changed: it is printed on invoices and given to the customer's bank.
    """

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="remittance_reference"
    )
    code = models.CharField(_("remittance reference"), max_length=16, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("remittance reference")
        verbose_name_plural = _("remittance references")

    def __str__(self):
        return self.code


class BalanceAlert(models.Model):
    """The balance under which an organization's billing members are warned, set by them.

    Without a row the platform default applies (settings.LOW_BALANCE_ALERT_AMOUNT).
    """

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="balance_alert"
    )
    threshold_amount = models.DecimalField(
        _("low-balance alert at"),
        max_digits=14,
        decimal_places=2,
        help_text=_("We email and notify your billing members when the balance falls below this."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("low-balance alert")
        verbose_name_plural = _("low-balance alerts")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(threshold_amount__gte=0),
                name="balance_alert_not_negative",
                violation_error_message=_("Enter an amount of zero or more."),
            )
        ]

    def __str__(self):
        return str(self.threshold_amount)


# The ledger: every movement of an organization's money with the platform, append-only.
#
# Sign convention: a positive amount is in the customer's favour (top-up, payment, credit
# note), a negative amount is owed by the customer (usage charge, invoice). The balance is
# the sum, kept as a running figure (LedgerBalance) moved by every entry as it is saved. A
# prepaid organization's usage draws its balance down batch by batch (usage_charge); a
# postpaid organization owes its issued invoices (invoice) until it pays (payment), so its
# balance is minus what it owes. Issuing a prepaid organization's invoice posts its VAT
# (invoice) and one rounding entry (rounding): the usage charges its lines cover, plus the
# rounding, equal its subtotal (billing.invoicing.ledger.post_rounding_adjustment).


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
        REFUND = "refund", _("Refund")

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
    # The organization's balance once this entry was appended (LedgerBalance, under its row
    # lock): entries of one organization in id order each move the one before by `amount`.
    balance_after = models.DecimalField(
        _("balance after"), max_digits=28, decimal_places=10, editable=False
    )

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
                violation_error_message=_("This reference is already recorded in the ledger."),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount} {self.currency}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError(APPEND_ONLY)
        # A savepoint: an entry refused by the database (a reference posted twice) takes
        # its move of the balance back with it, whatever the caller catches.
        with transaction.atomic():
            # The balance moves first: its row lock is held while the entry takes its id,
            # so the id order of an organization's entries is the order of their balances.
            self.balance_after = LedgerBalance.move(self.organization_id, self.amount)
            super().save(*args, **kwargs)

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
