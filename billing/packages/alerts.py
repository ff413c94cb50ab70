"""Telling an organization about its packs and plan allowance, each alert once, through
billing's one voice (owners and billing members: bell, email, webhooks): a pack 80 % and
100 % used, a pack expiring within PACKAGE_EXPIRY_NOTICE_DAYS."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.packages.models import Entitlement
from notifications.announce import announce, interpolate_lazy
from portal.lazy_text import by_language, lazy_date

USAGE_ALERT_PERCENTS = (80, 100)


def _facts(entitlement: Entitlement) -> dict:
    return {
        "entitlement_id": entitlement.public_id,
        "offer": entitlement.offer.name_en,
        "unit": entitlement.unit,
        "granted": f"{entitlement.granted.normalize():f}",
        "remaining": f"{entitlement.remaining.normalize():f}",
        "expires_at": entitlement.expires_at.isoformat(),
    }


def _names(entitlement: Entitlement) -> dict:
    """The alert's parameters, the pack's name in the reader's language."""
    offer = entitlement.offer
    return {
        "pack": by_language(offer.name_en, offer.name_zh),
        "remaining": f"{entitlement.remaining:,.0f}",
        "granted": f"{entitlement.granted:,.0f}",
    }


def announce_usage(entitlement_ids) -> int:
    """After draws commit: each entitlement that crossed 80 % or 100 % used since its last
    alert is announced once (a conditional update decides who sends it). Returns how many."""
    sent = 0
    for entitlement in Entitlement.objects.filter(pk__in=entitlement_ids).select_related("offer"):
        used = 100 * entitlement.consumed / entitlement.granted if entitlement.granted else 0
        crossed = max((p for p in USAGE_ALERT_PERCENTS if used >= p), default=0)
        if crossed <= entitlement.alerted_percent:
            continue
        claimed = Entitlement.objects.filter(pk=entitlement.pk, alerted_percent__lt=crossed)
        if not claimed.update(alerted_percent=crossed):
            continue  # another worker announced it
        values = {**_names(entitlement), "percent": crossed}
        if crossed >= 100:
            subject = _("Your token pack %(pack)s is used up")
            message = _(
                "%(pack)s has no tokens left: calls it covered are now paid from your balance "
                "or credit."
            )
        else:
            subject = _("Your token pack %(pack)s is %(percent)s %% used")
            message = _("%(pack)s is %(percent)s %% used: %(remaining)s of %(granted)s left.")
        announce(
            organization=entitlement.organization,
            event_type="pack.usage",
            subject=interpolate_lazy(subject, values),
            message=interpolate_lazy(message, values),
            data={**_facts(entitlement), "percent": crossed},
        )
        sent += 1
    return sent


def announce_expiring(now: datetime | None = None) -> int:
    """Packs with something left that expire within PACKAGE_EXPIRY_NOTICE_DAYS: once each."""
    now = now or timezone.now()
    soon = now + timedelta(days=settings.PACKAGE_EXPIRY_NOTICE_DAYS)
    due = Entitlement.objects.filter(
        source=Entitlement.Source.PACK,
        status=Entitlement.Status.ACTIVE,
        expires_at__gt=now,
        expires_at__lte=soon,
        consumed__lt=F("granted"),
        expiry_notice_sent_at__isnull=True,
    ).select_related("offer")
    sent = 0
    for entitlement in due:
        claimed = Entitlement.objects.filter(pk=entitlement.pk, expiry_notice_sent_at__isnull=True)
        if not claimed.update(expiry_notice_sent_at=now):
            continue
        values = {
            **_names(entitlement),
            "date": lazy_date(timezone.localtime(entitlement.expires_at).date()),
        }
        announce(
            organization=entitlement.organization,
            event_type="pack.expiring",
            subject=interpolate_lazy(_("Your token pack %(pack)s expires on %(date)s"), values),
            message=interpolate_lazy(
                _("%(pack)s: %(remaining)s of %(granted)s tokens left, expiring on %(date)s."),
                values,
            ),
            data=_facts(entitlement),
        )
        sent += 1
    return sent


def announce_credited(entitlement: Entitlement, *, left, number: str, total: str) -> None:
    """A pack's unused tokens refunded (credit note `number` of `total` with VAT, formatted)
    and revoked: its holders learn it is over."""
    values = {**_names(entitlement), "left": f"{left:,.0f}", "number": number, "total": total}
    announce(
        organization=entitlement.organization,
        event_type="pack.credited",
        subject=interpolate_lazy(_("Your token pack %(pack)s was credited"), values),
        message=interpolate_lazy(
            _(
                "Credit note %(number)s credits %(total)s for the %(left)s tokens %(pack)s had "
                "left; those tokens are revoked and the pack no longer covers calls."
            ),
            values,
        ),
        data={
            **_facts(entitlement),
            "remaining": "0",
            "revoked": f"{left.normalize():f}",
            "credit_note": number,
        },
    )
