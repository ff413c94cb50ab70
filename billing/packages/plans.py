"""Plans: an organization's subscription, its fee periods and its monthly allowances. What
needs no invoice lives here; billing.sales invoices the fees and calls `fee_paid` once an
invoice is paid.

Time is cut in business months (portal/periods.py). A fee period is one month (monthly plan)
or twelve (annual plan) and ends at a month start; the first one runs from the moment of
subscribing to the end of its month (+ 11 months for an annual plan), its fee and first
allowance pro rata to the time left. Each month of a paid fee period grants one allowance
(an Entitlement, source plan) that expires at the month's end. docs/packages.md, "Plans".
"""

import logging
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.audit_trail import Actor, record_actor_event
from billing.packages import services
from billing.packages.models import Entitlement, Offer, OfferTerms, Subscription
from billing.packages.selectors import terms_in_force
from notifications.announce import announce, interpolate_lazy
from portal.lazy_text import by_language, lazy_date
from portal.money import format_money, round_money
from portal.periods import add_months, business_zone, month_bounds, month_of, month_start

logger = logging.getLogger(__name__)
PERIOD_MONTHS = {OfferTerms.Period.MONTH: 1, OfferTerms.Period.YEAR: 12}
# Who invoices a new fee period: fn(subscription, now) for its current period, called in the
# renewal's transaction. billing.sales registers at app ready (it sits above invoicing).
_fee_invoicers = []


def add_fee_invoicer(invoicer) -> None:
    if invoicer not in _fee_invoicers:
        _fee_invoicers.append(invoicer)


# Who learns that a fee period is over, renewed or ended: fn(subscription, now), in the
# roll's transaction (billing.sales voids an upgrade's fee invoice still unpaid).
_period_end_handlers = []


def add_period_end_handler(handler) -> None:
    if handler not in _period_end_handlers:
        _period_end_handlers.append(handler)


MICROSECOND = timedelta(microseconds=1)


def fraction_left(start: datetime, end: datetime, at: datetime) -> Decimal:
    """The share of [start, end) still ahead at `at`, from 0 to 1, exact to the microsecond."""
    left = min(max(end - at, timedelta(0)), end - start)
    return Decimal(left // MICROSECOND) / Decimal((end - start) // MICROSECOND)


def fee_period_from(terms: OfferTerms, start: datetime) -> tuple[datetime, datetime]:
    """The fee period beginning at `start`: to the start of the month `period` months after
    the month of `start` (a renewal starts on a month start, so it is whole)."""
    return start, month_start(add_months(month_of(start), PERIOD_MONTHS[terms.period]))


def whole_period_start(terms: OfferTerms, end: datetime) -> datetime:
    """Where the whole fee period ending at `end` starts (the first one starts later)."""
    return month_start(add_months(month_of(end), -PERIOD_MONTHS[terms.period]))


def fee_amount(terms: OfferTerms, start: datetime, end: datetime) -> Decimal:
    """The fee before VAT of [start, end): the whole fee for a whole period, pro rata to the
    time of a shorter one (the first)."""
    share = fraction_left(whole_period_start(terms, end), end, start)
    return round_money(terms.price_amount * share, terms.currency)


def allowance_of(terms: OfferTerms) -> tuple[Decimal, str]:
    """A plan's monthly allowance and its unit: included credit (CNY) or tokens."""
    if terms.credit_amount:
        return terms.credit_amount, Entitlement.Unit.MONEY
    return Decimal(terms.token_amount or 0), Entitlement.Unit.TOKENS


def allowance_share(terms: OfferTerms, share: Decimal) -> Decimal:
    """`share` of the monthly allowance: whole tokens rounded down, or CNY to the fen."""
    amount, unit = allowance_of(terms)
    if unit == Entitlement.Unit.MONEY:
        return round_money(amount * share, terms.currency)
    return (amount * share).quantize(Decimal(1), ROUND_DOWN)


def allowance_reference(subscription: Subscription, month: date, suffix: str = "") -> str:
    return f"plan:{subscription.public_id}:{month:%Y-%m}{suffix}"


def allowance_in_force(subscription: Subscription, at: datetime) -> tuple[Decimal, Decimal]:
    """(left, granted) of the plan's allowance in force at `at` (this month's, with an
    upgrade's extra)."""
    held = Entitlement.objects.in_force(at).filter(subscription=subscription)
    granted = sum((e.granted for e in held), Decimal(0))
    return granted - sum((e.consumed for e in held), Decimal(0)), granted


# --- Subscribing, the allowances ------------------------------------------------------------


def plan_terms(offer: Offer, at: datetime) -> OfferTerms:
    terms = terms_in_force(offer, at) if offer.kind == Offer.Kind.PLAN else None
    if terms is None or not terms.period:
        raise ValidationError({"offer": _("This offer is not a plan you can subscribe to.")})
    return terms


def commitment_end(terms: OfferTerms, started_at: datetime) -> datetime | None:
    """`commitment_months` months counted as fee periods are: the month of the start (pro
    rata) is the first, so an annual plan's first period ends with a 12-month commitment."""
    if not terms.commitment_months:
        return None
    return month_start(add_months(month_of(started_at), terms.commitment_months))


def open_subscription(*, actor: Actor, organization, offer: Offer, at: datetime) -> Subscription:
    """Start the organization's plan at `at`: its first fee period (pro rata) begins. Its
    allowance comes once that period's fee is paid (`fee_paid`). One plan per organization."""
    terms = plan_terms(offer, at)
    start, end = fee_period_from(terms, at)
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(
                organization=organization,
                offer=offer,
                terms=terms,
                started_at=at,
                current_period_start=start,
                current_period_end=end,
                commitment_ends_at=commitment_end(terms, at),
            )
    except IntegrityError as error:
        raise ValidationError(
            {"offer": _("Your organization already has a plan: change it instead.")}
        ) from error
    _audit(actor, subscription, "packages.subscribed", {"offer": offer.public_id})
    return subscription


def grant_allowance(subscription: Subscription, month: date) -> Entitlement | None:
    """The allowance of `month`, once (its reference is unique), if its fee is paid. The
    first month's is pro rata to the time left after subscribing."""
    start, end = month_bounds(month)
    paid = subscription.paid_until
    if paid is None or start >= paid or end <= subscription.started_at:
        return None
    if subscription.ended_at and start >= subscription.ended_at:
        return None
    terms = subscription.terms
    starts_at = max(start, subscription.started_at)
    share = fraction_left(start, end, starts_at)
    granted = allowance_share(terms, share)
    if granted <= 0:
        return None
    monthly_fee = terms.price_amount / PERIOD_MONTHS[terms.period]
    return services.grant(
        organization=subscription.organization,
        terms=terms,
        reference=allowance_reference(subscription, month),
        starts_at=starts_at,
        expires_at=end,
        granted=granted,
        unit=allowance_of(terms)[1],
        price_amount=round_money(monthly_fee * share, terms.currency),
        subscription=subscription,
    )


def fee_paid(subscription: Subscription, *, until: datetime, now: datetime | None = None):
    """A fee invoice covering the plan until `until` was paid: this month's allowance now."""
    now = now or timezone.now()
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if subscription.paid_until is None or subscription.paid_until < until:
            subscription.paid_until = until
            subscription.save(update_fields=["paid_until"])
        grant_allowance(subscription, month_of(now))
    return subscription


# --- The period roll ------------------------------------------------------------------------


def renew_or_end(subscription: Subscription, now: datetime) -> bool:
    """Past its fee-period end, the plan renews (auto_renew: the next period, under the terms
    in force then of the chosen plan) or ends at that end. Call inside a transaction with the
    subscription locked. Returns True when a new period began (its fee is to be invoiced)."""
    if subscription.status != Subscription.Status.ACTIVE or now < subscription.current_period_end:
        return False
    boundary = subscription.current_period_end
    if not subscription.auto_renew:
        subscription.status = Subscription.Status.ENDED
        subscription.ended_at = boundary
        subscription.save(update_fields=["status", "ended_at"])
        _audit(Actor.system(), subscription, "packages.plan_ended", {"ended_at": boundary})
        return False
    offer = subscription.next_terms.offer if subscription.next_terms else subscription.offer
    terms = plan_terms(offer, boundary)
    subscription.offer, subscription.terms, subscription.next_terms = offer, terms, None
    subscription.current_period_start, subscription.current_period_end = fee_period_from(
        terms, boundary
    )
    subscription.save(
        update_fields=[
            "offer",
            "terms",
            "next_terms",
            "current_period_start",
            "current_period_end",
        ]
    )
    _audit(Actor.system(), subscription, "packages.plan_renewed", {"offer": offer.public_id})
    return True


def send_renewal_notice(subscription: Subscription, now: datetime) -> bool:
    """`renewal_notice_days` before an automatic renewal, tell the billing members once per
    period: what renews, when, for how much."""
    if subscription.status != Subscription.Status.ACTIVE or not subscription.auto_renew:
        return False
    end = subscription.current_period_end
    if now < end - timedelta(days=subscription.terms.renewal_notice_days) or now >= end:
        return False
    claimed = (
        Subscription.objects.filter(pk=subscription.pk)
        .exclude(notice_sent_for=end)
        .update(notice_sent_for=end)
    )
    if not claimed:
        return False
    offer = subscription.next_terms.offer if subscription.next_terms else subscription.offer
    terms = plan_terms(offer, end)
    fee = fee_amount(terms, *fee_period_from(terms, end))
    gross = round_money(fee * (1 + terms.vat_rate), terms.currency)
    values = {
        "plan": by_language(offer.name_en, offer.name_zh),
        "date": lazy_date(end.astimezone(business_zone()).date()),
        "amount": format_money(gross, terms.currency),
    }
    announce(
        organization=subscription.organization,
        event_type="plan.renewing",
        subject=interpolate_lazy(gettext_lazy("Your plan %(plan)s renews on %(date)s"), values),
        message=interpolate_lazy(
            gettext_lazy(
                "Your plan %(plan)s renews on %(date)s for %(amount)s (VAT included). "
                "Cancel its renewal on the plan page before then if you do not want it."
            ),
            values,
        ),
        data={
            "subscription_id": subscription.public_id,
            "offer_id": offer.public_id,
            "renews_at": end.isoformat(),
            "amount": str(gross),
            "currency": terms.currency,
        },
    )
    return True


def roll(now: datetime | None = None) -> None:
    """The periodic roll, safe to run as often as wanted: expire what ended (the last month's
    allowance: breakage), renew or end plans past their period (each renewal's fee invoiced),
    grant this month's allowance where paid, send renewal notices that are due."""
    now = now or timezone.now()
    services.expire_due(now)
    active = Subscription.objects.filter(status=Subscription.Status.ACTIVE)
    for pk in active.values_list("pk", flat=True):
        try:
            _roll_one(pk, now)
        except ValidationError:  # e.g. the plan has no terms in force any more: staff look
            logger.exception("plan roll: subscription %s left as it is", pk)


def _roll_one(pk: int, now: datetime) -> None:
    # Under the subscription's lock, like fee_paid and apply_upgrade: one grant at a time.
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=pk)
        period_over = now >= subscription.current_period_end
        while renew_or_end(subscription, now):  # a missed period catches up
            for invoicer in _fee_invoicers:
                invoicer(subscription, now)
        if period_over:
            for handler in _period_end_handlers:
                handler(subscription, now)
        subscription.refresh_from_db()
        if subscription.status == Subscription.Status.ACTIVE:
            grant_allowance(subscription, month_of(now))
            send_renewal_notice(subscription, now)


# --- What customers change ------------------------------------------------------------------


def set_auto_renew(
    *, actor: Actor, subscription: Subscription, auto_renew: bool, by_staff: bool = False
) -> Subscription:
    """Cancel (no renewal at the period's end) or resume the renewal. A plan inside its
    commitment cannot be cancelled before its last committed period, except by staff (the
    commitment binds the customer); a change by staff is announced to the billing members."""
    if subscription.status != Subscription.Status.ACTIVE:
        raise ValidationError({"auto_renew": _("This plan has ended.")})
    commitment = None if by_staff else subscription.commitment_ends_at
    if not auto_renew and commitment and subscription.current_period_end < commitment:
        raise ValidationError(
            {
                "auto_renew": _(
                    "Your plan is committed until %(date)s: you can cancel its renewal from "
                    "the fee period that ends then."
                )
                % {"date": f"{commitment.astimezone(business_zone()):%Y-%m-%d}"}
            }
        )
    subscription.auto_renew = auto_renew
    subscription.save(update_fields=["auto_renew"])
    _audit(
        actor,
        subscription,
        "packages.plan_auto_renew",
        {"auto_renew": auto_renew, **({"by_staff": True} if by_staff else {})},
    )
    if by_staff:
        message = (
            gettext_lazy("Your plan %(plan)s renews automatically on %(date)s.")
            if auto_renew
            else gettext_lazy("Your plan %(plan)s will not renew: it ends on %(date)s.")
        )
        _announce(
            subscription,
            "plan.changed",
            subject=gettext_lazy("Your plan %(plan)s was changed"),
            message=message,
            at=subscription.current_period_end,
            data={"auto_renew": auto_renew},
        )
    return subscription


def schedule_change(*, actor: Actor, subscription: Subscription, offer: Offer) -> Subscription:
    """Change to another plan at the next period boundary (a downgrade, or an upgrade the
    customer does not want now). The offer's terms in force at the boundary will apply."""
    now = timezone.now()
    terms = plan_terms(offer, now)
    subscription.next_terms = None if offer.pk == subscription.offer_id else terms
    subscription.save(update_fields=["next_terms"])
    _audit(actor, subscription, "packages.plan_change_scheduled", {"offer": offer.public_id})
    return subscription


def upgrade_figures(subscription: Subscription, terms: OfferTerms, at: datetime):
    """An upgrade now: (fee difference before VAT for the rest of the fee period, extra
    allowance for the rest of this month). Refused unless the new plan costs more, has the
    same fee period and counts its allowance in the same unit."""
    current = subscription.terms
    if (
        terms.period != current.period
        or allowance_of(terms)[1] != allowance_of(current)[1]
        or terms.price_amount <= current.price_amount
    ):
        raise ValidationError(
            {
                "offer": _(
                    "Only a dearer plan with the same fee period and allowance unit can start "
                    "now; choose it from the next period instead."
                )
            }
        )
    end = subscription.current_period_end
    fee_share = fraction_left(whole_period_start(current, end), end, at)
    month_share = fraction_left(*month_bounds(month_of(at)), at)
    fee = round_money((terms.price_amount - current.price_amount) * fee_share, terms.currency)
    extra = max(allowance_share(terms, month_share) - allowance_share(current, month_share), 0)
    return fee, extra


def apply_upgrade(subscription: Subscription, *, terms: OfferTerms, at: datetime, extra: Decimal):
    """The upgrade's invoice was paid: the new terms from `at` (overage discount included)
    and this month's extra allowance (its own reference, so once), valued at the monthly fee
    difference for the rest of the month."""
    old = subscription.terms
    months = PERIOD_MONTHS[terms.period]
    month_share = fraction_left(*month_bounds(month_of(at)), at)
    price_amount = round_money(
        (terms.price_amount - old.price_amount) / months * month_share, terms.currency
    )
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        subscription.offer, subscription.terms, subscription.next_terms = terms.offer, terms, None
        subscription.save(update_fields=["offer", "terms", "next_terms"])
        month = month_of(at)
        if extra > 0 and subscription.paid_until and at < subscription.paid_until:
            services.grant(
                organization=subscription.organization,
                terms=terms,
                reference=allowance_reference(subscription, month, f":up{terms.pk}"),
                starts_at=at,
                expires_at=month_bounds(month)[1],
                granted=extra,
                unit=allowance_of(terms)[1],
                price_amount=price_amount,
                subscription=subscription,
            )
        _audit(
            Actor.system(), subscription, "packages.plan_upgraded", {"offer": terms.offer.public_id}
        )
    return subscription


# --- Ending early, dropping an upgrade (staff, or a fee invoice voided unpaid) ---------------


def end_subscription(
    *, actor: Actor, subscription: Subscription, at: datetime, message, data: dict
) -> Subscription:
    """End the plan at `at` (now, or the start of a fee period that will never be paid): no
    renewal, no allowance from `at` on; an allowance in force at `at` ends then (what was
    left expires as breakage). Billing members are told `message` (lazy, with %(plan)s,
    %(date)s and `data`). Whatever invoices the fees voids the open ones (billing.sales)."""
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if subscription.status != Subscription.Status.ACTIVE:
            raise ValidationError(_("This plan has ended."))
        subscription.status, subscription.ended_at = Subscription.Status.ENDED, at
        subscription.auto_renew, subscription.next_terms = False, None
        subscription.save(update_fields=["status", "ended_at", "auto_renew", "next_terms"])
        Entitlement.objects.filter(
            subscription=subscription, status=Entitlement.Status.ACTIVE, expires_at__gt=at
        ).update(expires_at=at)
        services.expire_due(timezone.now())
        _audit(actor, subscription, "packages.plan_ended", {"ended_at": at, **data})
        _announce(
            subscription,
            "plan.ended",
            subject=gettext_lazy("Your plan %(plan)s has ended"),
            message=message,
            at=at,
            data=data,
        )
    return subscription


def drop_upgrade(*, actor: Actor, subscription: Subscription, terms: OfferTerms, data: dict):
    """An upgrade to `terms` will never be paid (its invoice was voided): the plan stays as it
    is (an upgrade applies only once paid); the billing members are told."""
    _audit(
        actor,
        subscription,
        "packages.plan_upgrade_dropped",
        {"offer": terms.offer.public_id, **data},
    )
    _announce(
        subscription,
        "plan.changed",
        subject=gettext_lazy("The upgrade of your plan %(plan)s was cancelled"),
        message=gettext_lazy(
            "The upgrade to %(offer)s will not take place: its fee invoice was voided unpaid. "
            "Your plan stays %(plan)s."
        ),
        at=timezone.now(),
        data={"offer_id": terms.offer.public_id, **data},
        offer=by_language(terms.offer.name_en, terms.offer.name_zh),
    )


def _announce(subscription: Subscription, event_type: str, *, subject, message, at, data, **values):
    """Tell the billing members; `subject` and `message` may name %(plan)s, %(date)s (`at`,
    business zone), `data` and `values`."""
    values = {
        **data,
        **values,
        "plan": by_language(subscription.offer.name_en, subscription.offer.name_zh),
        "date": lazy_date(at.astimezone(business_zone()).date()),
    }
    announce(
        organization=subscription.organization,
        event_type=event_type,
        subject=interpolate_lazy(subject, values),
        message=interpolate_lazy(message, values),
        data={"subscription_id": subscription.public_id, "date": at.isoformat(), **data},
    )


def _audit(actor: Actor, subscription: Subscription, action: str, after: dict) -> None:
    record_actor_event(
        actor=actor,
        organization=subscription.organization,
        action=action,
        target=subscription,
        changes={"after": after},
    )
