"""Token packs and plans: what staff sell (Offer, its effective-dated OfferTerms), what an
organization holds (Entitlement: a bought pack, or one period of a plan's allowance), the
token ledger of each entitlement (EntitlementEntry) and, per usage event, what it was charged
after entitlements and the plan's overage discount (UsageCoverage).

Units: a TOKENS entitlement counts tokens (weighted per model when its terms say so, hence
decimals), a MONEY entitlement counts CNY of usage at the organization's price. Every draw
also records its value at list price, so finance recognises revenue on consumption and
breakage on expiry. docs/packages.md tells the whole story.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from accounts.models import Department, Organization
from accounts.tenancy import TenantQuerySet
from billing.catalog.models import CatalogModel, PriceVersion, Provider
from portal.ids import PublicIdField
from portal.money import round_money

STARTED_TERMS = _("Terms in force cannot be changed: add new terms from a later date.")
WEIGHT = Decimal("0.000001")
PRICE_CLASSES = {  # weight key -> PriceVersion field (None: charged at the input price)
    "input": "input_price",
    "cached": "cached_input_price",
    "cache_write": "cache_write_price",
    "output": "output_price",
}


class Offer(models.Model):
    """A token pack or a plan, as staff publish it."""

    class Kind(models.TextChoices):
        PACK = "pack", _("Token pack")
        PLAN = "plan", _("Plan")

    class Visibility(models.TextChoices):
        PUBLIC = "public", _("Every organization")
        NAMED = "named", _("Named organizations only (negotiated)")

    public_id = PublicIdField(prefix="ofr")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name_en = models.CharField(_("name (English)"), max_length=200)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)
    description_en = models.TextField(_("description (English)"), blank=True)
    description_zh = models.TextField(_("description (Chinese)"), blank=True)
    visibility = models.CharField(
        _("visibility"), max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    offered_to = models.ManyToManyField(
        Organization, blank=True, related_name="+", verbose_name=_("offered to")
    )
    is_published = models.BooleanField(
        _("published"), default=False, help_text=_("Customers see published offers only.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        ordering = ["kind", "name_en"]

    def __str__(self):
        return self.name

    @property
    def name(self) -> str:
        return self.name_zh if (get_language() or "").startswith("zh") else self.name_en

    @property
    def description(self) -> str:
        zh = (get_language() or "").startswith("zh")
        return self.description_zh if zh else self.description_en


class OfferTerms(models.Model):
    """What an offer gives and costs from `effective_from` on. Terms in force are frozen; an
    entitlement keeps the terms it was sold under."""

    class Scope(models.TextChoices):
        ALL = "all", _("All models")
        MODELS = "models", _("Listed models")
        REGION = "region", _("Models of one provider region")

    class Counting(models.TextChoices):
        ONE_TO_ONE = "one_to_one", _("Every token counts as one")
        WEIGHTED = "weighted", _("Tokens weighted by list price")

    class Period(models.TextChoices):
        MONTH = "month", _("Monthly")
        YEAR = "year", _("Yearly")

    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="terms")
    effective_from = models.DateTimeField(_("effective from"))
    price_amount = models.DecimalField(
        _("price before VAT"), max_digits=14, decimal_places=2, help_text=_("CNY, before VAT.")
    )
    vat_rate = models.DecimalField(
        _("VAT rate"), max_digits=5, decimal_places=4, default=Decimal("0.06")
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    token_amount = models.PositiveBigIntegerField(
        _("tokens"),
        null=True,
        blank=True,
        help_text=_("A pack's tokens; a plan's included tokens per month."),
    )
    credit_amount = models.DecimalField(
        _("included credit per month"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("A plan's included usage in CNY per month, instead of tokens."),
    )
    scope = models.CharField(_("models covered"), max_length=10, choices=Scope.choices)
    scope_region = models.CharField(
        _("provider region"), max_length=10, choices=Provider.Region.choices, blank=True
    )
    scope_models = models.ManyToManyField(
        CatalogModel, blank=True, related_name="+", verbose_name=_("listed models")
    )
    counting = models.CharField(
        _("counting"), max_length=12, choices=Counting.choices, default=Counting.ONE_TO_ONE
    )
    # Weighted counting: a token of each class of each covered model counts as its list price
    # over this reference price. The weights are derived when the terms are saved and frozen
    # with them: {model_id: {"input": "2.5", "cached": "0.5", "cache_write": "2.5",
    # "output": "10"}} (packages.services.derive_weights). A model in scope without a frozen
    # weight (added to the catalog later) counts at the weight of the price it was used at.
    reference_price_per_million = models.DecimalField(
        _("reference price per million tokens"),
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        help_text=_("Weighted counting: the list price, in CNY per million, that counts as 1."),
    )
    weights = models.JSONField(_("weights"), default=dict, blank=True)
    validity_days = models.PositiveIntegerField(
        _("valid for days"), null=True, blank=True, help_text=_("A pack: days from purchase.")
    )
    valid_until = models.DateField(
        _("valid until"), null=True, blank=True, help_text=_("A pack: a calendar end date.")
    )
    purchase_limit = models.PositiveIntegerField(
        _("purchase limit per organization"), null=True, blank=True
    )
    period = models.CharField(_("fee period"), max_length=10, choices=Period.choices, blank=True)
    overage_discount_percent = models.DecimalField(
        _("overage discount %"), max_digits=5, decimal_places=2, default=Decimal(0)
    )
    commitment_months = models.PositiveIntegerField(_("commitment (months)"), default=0)
    renewal_notice_days = models.PositiveIntegerField(_("renewal notice (days)"), default=7)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("offer terms")
        verbose_name_plural = _("offer terms")
        ordering = ["offer", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["offer", "effective_from"],
                name="offer_terms_once_per_start",
                violation_error_message=_("These terms already start at that moment."),
            ),
            models.CheckConstraint(
                condition=models.Q(price_amount__gte=0),
                name="offer_terms_price_not_negative",
                violation_error_message=_("Enter a price of zero or more."),
            ),
            models.CheckConstraint(
                condition=models.Q(overage_discount_percent__gte=0)
                & models.Q(overage_discount_percent__lte=100),
                name="offer_terms_discount_percent",
                violation_error_message=_("Enter a discount between 0 and 100 %."),
            ),
        ]

    def __str__(self):
        return f"{self.offer} ({self.effective_from:%Y-%m-%d})"

    def save(self, *args, **kwargs):
        if self.pk and OfferTerms.objects.filter(pk=self.pk, effective_from__lte=timezone.now()):
            raise ValidationError(STARTED_TERMS)
        super().save(*args, **kwargs)

    @property
    def started(self) -> bool:
        return self.pk is not None and self.effective_from <= timezone.now()

    def clean(self):
        errors = {}
        if self.offer_id and self.offer.kind == Offer.Kind.PACK:
            if not self.token_amount:
                errors["token_amount"] = _("A pack needs its number of tokens.")
            if bool(self.validity_days) == bool(self.valid_until):
                errors["validity_days"] = _("Give either days from purchase or an end date.")
        if self.offer_id and self.offer.kind == Offer.Kind.PLAN:
            if not self.period:
                errors["period"] = _("A plan needs its fee period.")
            if self.token_amount and self.credit_amount:
                errors["credit_amount"] = _("Include tokens or credit, not both.")
        if self.counting == self.Counting.WEIGHTED and not self.reference_price_per_million:
            errors["reference_price_per_million"] = _("Weighted counting needs a reference price.")
        if self.scope == self.Scope.REGION and not self.scope_region:
            errors["scope_region"] = _("Choose the provider region the offer covers.")
        if errors:
            raise ValidationError(errors)

    @property
    def gross_amount(self) -> Decimal:
        """The price with VAT, as customers pay it."""
        return round_money(self.price_amount * (1 + self.vat_rate), self.currency)

    def weights_at(self, version: PriceVersion) -> dict[str, str]:
        """Weighted counting's one formula: what a token of each class counts as at
        `version`'s list price (the standard card) over the reference price."""
        reference = self.reference_price_per_million

        def price(field):  # None: charged at the input price; 0 is free, so it counts 0
            value = getattr(version, field)
            return version.input_price if value is None else value

        return {
            key: str((price(field) / reference).quantize(WEIGHT))
            for key, field in PRICE_CLASSES.items()
        }


class Subscription(models.Model):
    """An organization's plan: its fee period, commitment and renewal. Each fee period
    grants one Entitlement (the month's allowance)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        ENDED = "ended", _("Ended")

    public_id = PublicIdField(prefix="sub")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="subscriptions"
    )
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="subscriptions")
    terms = models.ForeignKey(OfferTerms, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    started_at = models.DateTimeField(_("started at"))
    current_period_start = models.DateTimeField(_("current period from"))
    current_period_end = models.DateTimeField(_("current period until"))
    commitment_ends_at = models.DateTimeField(_("commitment ends"), null=True, blank=True)
    auto_renew = models.BooleanField(_("renews automatically"), default=True)
    # A change chosen by the customer, taking effect at the next period boundary.
    next_terms = models.ForeignKey(
        OfferTerms, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    # Paid fee invoices cover the plan until then: months before it grant their allowance.
    paid_until = models.DateTimeField(_("fees paid until"), null=True, blank=True)
    # The period end whose renewal notice was sent (once per period).
    notice_sent_for = models.DateTimeField(_("renewal notice sent for"), null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(status="active"),
                name="one_active_plan_per_organization",
                violation_error_message=_("The organization already has a plan."),
            )
        ]

    def __str__(self):
        return f"{self.organization} · {self.offer}"


class EntitlementQuerySet(TenantQuerySet):
    def in_force(self, at):
        return self.filter(starts_at__lte=at, expires_at__gt=at, status=Entitlement.Status.ACTIVE)


class Entitlement(models.Model):
    """What an organization may use before paying per call: a bought pack, or one period of
    its plan's allowance. Drawn in order of earliest expiry, packs before the plan."""

    class Source(models.TextChoices):
        PACK = "pack", _("Token pack")
        PLAN = "plan", _("Plan allowance")

    class Unit(models.TextChoices):
        TOKENS = "tokens", _("tokens")
        MONEY = "money", _("CNY")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired")

    public_id = PublicIdField(prefix="ent")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="entitlements"
    )
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="entitlements")
    terms = models.ForeignKey(OfferTerms, on_delete=models.PROTECT, related_name="entitlements")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="periods"
    )
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    unit = models.CharField(_("unit"), max_length=10, choices=Unit.choices)
    # Allocation: keys of this department and the departments below it draw it; none: the
    # whole organization.
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("allocated to"),
    )
    granted = models.DecimalField(_("granted"), max_digits=28, decimal_places=10)
    consumed = models.DecimalField(_("consumed"), max_digits=28, decimal_places=10, default=0)
    starts_at = models.DateTimeField(_("valid from"))
    expires_at = models.DateTimeField(_("expires"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    # What the organization paid for it (before VAT), for deferred revenue.
    price_amount = models.DecimalField(
        _("price before VAT"), max_digits=14, decimal_places=2, default=0
    )
    reference = models.CharField(
        _("purchase reference"), max_length=64, unique=True, null=True, blank=True
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # The highest share used (USAGE_ALERT_PERCENTS) its holders were told of, and when they
    # were told it expires soon: each alert goes out once.
    alerted_percent = models.PositiveSmallIntegerField(_("usage alert sent at %"), default=0)
    expiry_notice_sent_at = models.DateTimeField(_("expiry notice sent"), null=True, blank=True)

    objects = EntitlementQuerySet.as_manager()
    department_field = "department"

    class Meta:
        verbose_name = _("entitlement")
        verbose_name_plural = _("entitlements")
        indexes = [models.Index(fields=["organization", "status", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(consumed__gte=0) & models.Q(consumed__lte=models.F("granted")),
                name="entitlement_consumed_within_granted",
                violation_error_message=_("A pack cannot use more than it was granted."),
            )
        ]

    def __str__(self):
        return f"{self.offer} ({self.public_id})"

    @property
    def remaining(self) -> Decimal:
        return self.granted - self.consumed


class EntitlementEntry(models.Model):
    """The token ledger of an entitlement, append-only: its grant, each draw by a usage event
    (negative units), and the expiry of what was left (breakage). `value_amount` is the
    money value at list price (grant: the price paid)."""

    class Kind(models.TextChoices):
        GRANT = "grant", _("Granted")
        DRAW = "draw", _("Used")
        EXPIRY = "expiry", _("Expired unused")

    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="entries")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # The UsageEvent's id, not a foreign key: raw events are purged after their retention,
    # this ledger stays.
    event_id = models.BigIntegerField(_("usage event"), null=True, blank=True)
    units = models.DecimalField(_("units"), max_digits=28, decimal_places=10)
    value_amount = models.DecimalField(_("value at list price"), max_digits=24, decimal_places=10)
    # A weighted draw of a model its terms froze no weight for (added to the catalog later):
    # the weights it derived from the price the call was priced at, {model_id: {class:
    # weight}} as in OfferTerms.weights, so finance can check its units after the event is
    # purged. Empty for every other entry: the terms' frozen weights, or 1:1, applied.
    derived_weights = models.JSONField(_("weights derived"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("entitlement entry")
        verbose_name_plural = _("entitlement entries")
        constraints = [
            # A usage event draws an entitlement once, however often its batch is retried.
            models.UniqueConstraint(
                fields=["entitlement", "event_id"],
                condition=models.Q(event_id__isnull=False),
                name="entitlement_draw_once_per_event",
                violation_error_message=_("This call was already drawn from the pack."),
            ),
            models.UniqueConstraint(
                fields=["entitlement", "kind"],
                condition=models.Q(kind__in=["grant", "expiry"]),
                name="entitlement_grant_and_expiry_once",
                violation_error_message=_("A pack is granted once and expires once."),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.units}"

    def save(self, *args, **kwargs):
        if self.pk:
            raise ValidationError(_("Entitlement entries are append-only."))
        super().save(*args, **kwargs)


class UsageCoverage(models.Model):
    """What a usage event was charged after entitlements and the plan's overage discount.
    Events without a row were charged their cost. Written once, at ingestion."""

    event_id = models.BigIntegerField(_("usage event"), primary_key=True)  # kept after purges
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    covered_amount = models.DecimalField(
        _("covered by entitlements"), max_digits=24, decimal_places=10
    )
    charged_amount = models.DecimalField(_("charged"), max_digits=24, decimal_places=10)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("usage coverage")
        verbose_name_plural = _("usage coverage")

    def __str__(self):
        return f"{self.event_id}: {self.charged_amount}"
