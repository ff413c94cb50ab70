"""Entitlements: granting a sold pack or a plan period, allocating it, expiring it, and the
reconciliation finance relies on (granted = consumed + expired + remaining)."""

from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit_trail import Actor, record_actor_event
from billing.catalog.models import PriceVersion
from billing.packages import gate
from billing.packages.models import (
    Entitlement,
    EntitlementEntry,
    Offer,
    OfferTerms,
    UsageCoverage,
)
from billing.packages.selectors import covered_models
from portal.money import minor_unit
from portal.periods import business_zone


def derive_weights(terms: OfferTerms) -> dict:
    """Each covered model's weight per token class (`OfferTerms.weights_at` its list price
    at the terms' start). Saved with the terms and frozen with them."""
    weights = {}
    for model in covered_models(terms):
        version = (
            PriceVersion.objects.filter(model=model, effective_from__lte=terms.effective_from)
            .order_by("-effective_from")
            .first()
        )
        if version is not None:
            weights[model.model_id] = terms.weights_at(version)
    return weights


def save_terms(*, actor: Actor, terms: OfferTerms, scope_models=()) -> OfferTerms:
    """Validate and save new terms (weights derived for weighted counting), audited."""
    terms.full_clean(exclude=["weights"])
    with transaction.atomic():
        terms.weights = {}
        terms.save()
        terms.scope_models.set(scope_models)
        if terms.counting == OfferTerms.Counting.WEIGHTED:
            terms.weights = derive_weights(terms)
            OfferTerms.objects.filter(pk=terms.pk).update(weights=terms.weights)
        record_actor_event(
            actor=actor,
            organization=None,
            action="packages.terms_added",
            target=terms,
            changes={
                "after": {
                    "offer": terms.offer.public_id,
                    "effective_from": terms.effective_from,
                    "price_amount": terms.price_amount,
                    "token_amount": terms.token_amount,
                }
            },
        )
    return terms


def pack_expiry(terms: OfferTerms, starts_at: datetime) -> datetime:
    """A pack bought at `starts_at` ends `validity_days` later, or at the end of its calendar
    date in the business zone."""
    if terms.validity_days:
        return starts_at + timedelta(days=terms.validity_days)
    end = datetime.combine(terms.valid_until + timedelta(days=1), datetime.min.time())
    return end.replace(tzinfo=business_zone())


def grant(
    *,
    organization,
    terms: OfferTerms,
    reference: str,
    starts_at: datetime,
    expires_at: datetime,
    granted: Decimal,
    unit: str,
    price_amount: Decimal = Decimal(0),
    subscription=None,
    department=None,
) -> Entitlement:
    """Grant an entitlement once per `reference` (a purchase, a plan period): calling it again
    returns the first one."""
    existing = Entitlement.objects.filter(reference=reference).first()
    if existing:
        return existing
    with transaction.atomic():
        entitlement = Entitlement.objects.create(
            organization=organization,
            offer=terms.offer,
            terms=terms,
            subscription=subscription,
            source=Entitlement.Source.PLAN if subscription else Entitlement.Source.PACK,
            unit=unit,
            department=department,
            granted=granted,
            starts_at=starts_at,
            expires_at=expires_at,
            price_amount=price_amount,
            reference=reference,
        )
        EntitlementEntry.objects.create(
            entitlement=entitlement,
            organization=organization,
            kind=EntitlementEntry.Kind.GRANT,
            units=granted,
            value_amount=price_amount,
        )
        gate.invalidate(organization.pk)
    return entitlement


def grant_pack(
    *, organization, terms: OfferTerms, reference: str, at: datetime | None = None, department=None
) -> Entitlement:
    """A sold pack: its tokens from `at` until its expiry, at the price of its terms."""
    at = at or timezone.now()
    if terms.offer.kind != Offer.Kind.PACK:
        raise ValidationError({"offer": _("This offer is not a token pack.")})
    return grant(
        organization=organization,
        terms=terms,
        reference=reference,
        starts_at=at,
        expires_at=pack_expiry(terms, at),
        granted=Decimal(terms.token_amount),
        unit=Entitlement.Unit.TOKENS,
        price_amount=terms.price_amount,
        department=department,
    )


def allocate(*, actor: Actor, entitlement: Entitlement, department) -> Entitlement:
    """Give the entitlement to a department subtree (None: the whole organization)."""
    if department is not None and department.organization_id != entitlement.organization_id:
        raise ValidationError({"department": _("Choose a department of your organization.")})
    before = entitlement.department.public_id if entitlement.department else None
    with transaction.atomic():
        Entitlement.objects.filter(pk=entitlement.pk).update(department=department)
        entitlement.department = department
        gate.invalidate(entitlement.organization_id)
        record_actor_event(
            actor=actor,
            organization=entitlement.organization,
            action="packages.allocated",
            target=entitlement,
            changes={
                "before": {"department": before},
                "after": {"department": department.public_id if department else None},
            },
        )
    return entitlement


def expire_due(now: datetime | None = None) -> int:
    """Close every entitlement past its expiry: what was left is posted as expired (breakage),
    once. Returns how many were closed."""
    now = now or timezone.now()
    closed = 0
    due = Entitlement.objects.filter(status=Entitlement.Status.ACTIVE, expires_at__lte=now)
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            entitlement = Entitlement.objects.select_for_update().get(pk=pk)
            if entitlement.status != Entitlement.Status.ACTIVE:
                continue
            left = entitlement.remaining
            EntitlementEntry.objects.create(
                entitlement=entitlement,
                organization_id=entitlement.organization_id,
                kind=EntitlementEntry.Kind.EXPIRY,
                units=-left,
                value_amount=_unused_value(entitlement, left),
                created_at=entitlement.expires_at,
            )
            entitlement.status = Entitlement.Status.EXPIRED
            entitlement.save(update_fields=["status"])
            gate.invalidate(entitlement.organization_id)
            closed += 1
    return closed


def _unused_value(entitlement: Entitlement, left: Decimal) -> Decimal:
    """The part of the price paid that expired unused (breakage), pro rata."""
    if not entitlement.granted:
        return Decimal(0)
    return (entitlement.price_amount * left / entitlement.granted).quantize(Decimal("0.0000000001"))


def refund_of(entitlement: Entitlement) -> tuple[Decimal, Decimal]:
    """(units left, their refund): the share of the price paid (before VAT) the units left
    stand for, rounded down to the minor unit, so a refund never exceeds the unused share;
    the fraction of a fen below it stays breakage."""
    left = entitlement.remaining
    unused = _unused_value(entitlement, left)
    return left, unused.quantize(minor_unit(entitlement.terms.currency), rounding=ROUND_DOWN)


def revoke(*, entitlement: Entitlement) -> tuple[Decimal, Decimal]:
    """End an active entitlement now because what is left of it is refunded: its expiry entry
    closes the units left (so granted = consumed + expired holds, as at expiry), valued at
    the breakage the refund leaves (under a fen). Returns refund_of() at that moment; refused
    when nothing is left (used up, or ended)."""
    now = timezone.now()
    with transaction.atomic():
        entitlement = (
            Entitlement.objects.select_for_update().select_related("terms").get(pk=entitlement.pk)
        )
        if (
            entitlement.status != Entitlement.Status.ACTIVE
            or entitlement.expires_at <= now
            or entitlement.remaining <= 0
        ):
            raise ValidationError(_("Nothing is left of this pack: it is used up or has ended."))
        left, refund = refund_of(entitlement)
        EntitlementEntry.objects.create(
            entitlement=entitlement,
            organization_id=entitlement.organization_id,
            kind=EntitlementEntry.Kind.EXPIRY,
            units=-left,
            value_amount=_unused_value(entitlement, left) - refund,
            created_at=now,
        )
        Entitlement.objects.filter(pk=entitlement.pk).update(
            status=Entitlement.Status.EXPIRED, expires_at=now
        )
        gate.invalidate(entitlement.organization_id)
    return left, refund


def unreconciled_entitlements() -> list[tuple[Entitlement, Decimal, Decimal]]:
    """Entitlements whose entries disagree with their figures: (entitlement, granted by the
    entries, consumed by the entries). For each: granted = consumed + expired + remaining."""
    sums = Entitlement.objects.annotate(
        entries_granted=Sum("entries__units", filter=Q(entries__kind=EntitlementEntry.Kind.GRANT)),
        entries_drawn=Sum("entries__units", filter=Q(entries__kind=EntitlementEntry.Kind.DRAW)),
        entries_expired=Sum("entries__units", filter=Q(entries__kind=EntitlementEntry.Kind.EXPIRY)),
    )
    wrong = []
    for entitlement in sums:
        granted = entitlement.entries_granted or Decimal(0)
        consumed = -(entitlement.entries_drawn or Decimal(0))
        expired = -(entitlement.entries_expired or Decimal(0))
        remaining = (
            Decimal(0)
            if entitlement.status == Entitlement.Status.EXPIRED
            else (entitlement.remaining)
        )
        if (
            granted != entitlement.granted
            or consumed != entitlement.consumed
            or granted != consumed + expired + remaining
        ):
            wrong.append((entitlement, granted, consumed))
    return wrong


def unmatched_coverage() -> list[tuple[int, Decimal | None, int]]:
    """(event id, amount covered by its coverage row (None: no row), draw entries) wherever
    they disagree: an event that drew an entitlement has a coverage row, and an event whose
    row says entitlements covered part of its cost drew one. Two anti-joins in the database:
    only the disagreeing events come back."""
    draws = EntitlementEntry.objects.filter(kind=EntitlementEntry.Kind.DRAW)
    uncovered = (
        draws.filter(~Exists(UsageCoverage.objects.filter(event_id=OuterRef("event_id"))))
        .values("event_id")
        .annotate(draws=Count("id"))
        .values_list("event_id", "draws")
    )
    undrawn = (
        UsageCoverage.objects.exclude(covered_amount=0)
        .filter(~Exists(draws.filter(event_id=OuterRef("event_id"))))
        .values_list("event_id", "covered_amount")
    )
    wrong = [(event_id, None, count) for event_id, count in uncovered]
    wrong += [(event_id, covered, 0) for event_id, covered in undrawn]
    return sorted(wrong, key=lambda row: row[0])
