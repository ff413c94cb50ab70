"""Webhook endpoints and their deliveries, in the Standard Webhooks format.

Signing needs the endpoint's secret itself (HMAC-SHA256 over id.timestamp.body), so it
cannot be kept as a one-way digest like API keys: it is stored encrypted (portal.crypto),
and shown to the customer once, at creation.

A delivery is claimed with a conditional UPDATE (pending and due -> sending) before it is
sent, so two workers never send the same attempt. A failed attempt is retried after
settings.WEBHOOK_RETRY_DELAYS (seconds; by default 1 min, 5 min, 30 min, 2 h, 6 h, 12 h,
24 h: eight attempts over about 45 hours), by the beat task that sends due deliveries.

A customer's URL is a request our servers make: unless WEBHOOK_ALLOW_PRIVATE_NETWORKS is on
(development and tests), an endpoint must resolve to public addresses only, checked when it
is saved and again at every delivery, which then connects to the address it checked (the
host name still goes in the Host header and TLS SNI), so DNS cannot be switched in between.
"""

import base64
import ipaddress
import json
import secrets
import socket
import time
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from standardwebhooks.webhooks import Webhook

from accounts.audit_trail import record_actor_event
from notifications.models import WebhookDelivery, WebhookEndpoint
from portal import crypto

Status = WebhookDelivery.Status

# Event types customers may subscribe to. Invoicing adds its own at merge.
EVENT_TYPES = [
    "quota.threshold_reached",
    "quota.exceeded",
    "quota.period_reset",
    "balance.low",
    "invoice.issued",
    "invoice.due_soon",
    "invoice.overdue",
    "invoice.paid",
]


def signing_secret(endpoint: WebhookEndpoint) -> str:
    return crypto.decrypt(endpoint.secret_encrypted)


class UnsafeDestination(Exception):
    """A webhook URL that does not lead to the public internet."""


def public_address(url: str) -> str | None:
    """The public address to connect to for `url`, or None when private networks are allowed.
    Raises UnsafeDestination for anything else: a host that does not resolve, or resolves to
    any loopback, private, link-local or otherwise non-global address."""
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return None
    parsed = httpx.URL(url)
    if parsed.scheme != "https":
        raise UnsafeDestination(_("Webhook URLs must use https."))
    try:
        found = socket.getaddrinfo(parsed.host, parsed.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeDestination(_("The host name does not resolve.")) from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    if not all(address.is_global for address in addresses):
        raise UnsafeDestination(_("The URL must lead to a public internet address."))
    return str(addresses[0])


def _clean_url(url: str) -> str:
    try:
        public_address(url)
    except UnsafeDestination as error:
        raise ValidationError({"url": str(error)}) from None
    return url


def _clean_event_types(event_types) -> list[str]:
    chosen = [event for event in EVENT_TYPES if event in set(event_types or ())]
    if not chosen or len(chosen) != len(set(event_types)):
        raise ValidationError(
            {"event_types": _("Choose one or more of: %s.") % ", ".join(EVENT_TYPES)}
        )
    return chosen


@transaction.atomic
def create_endpoint(*, actor, url: str, event_types, description: str = ""):
    """(endpoint, secret): the secret ("whsec_...") is returned this once."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    endpoint = WebhookEndpoint(
        organization=actor.organization,
        url=_clean_url(url),
        description=description,
        event_types=_clean_event_types(event_types),
        secret_encrypted=crypto.encrypt(secret),
    )
    endpoint.full_clean()
    endpoint.save()
    record_actor_event(actor=actor, action="webhook_endpoint.created", target=endpoint)
    return endpoint, secret


@transaction.atomic
def delete_endpoint(*, actor, endpoint) -> None:
    record_actor_event(actor=actor, action="webhook_endpoint.deleted", target=endpoint)
    endpoint.delete()


def send_after_commit(public_ids: list[str]) -> None:
    from notifications.tasks import deliver_webhook  # tasks import this module

    def enqueue():
        for public_id in public_ids:
            deliver_webhook.delay(public_id)

    transaction.on_commit(enqueue)


@transaction.atomic
def resend(*, actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, with the same event id (receivers deduplicate on it)."""
    if delivery.status == Status.SENDING:
        raise ValidationError(_("This delivery is being sent right now."))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.PENDING, next_attempt_at=timezone.now()
    )
    record_actor_event(actor=actor, action="webhook_delivery.resent", target=delivery)
    send_after_commit([delivery.public_id])
    delivery.refresh_from_db()
    return delivery


def deliver(public_id: str) -> str | None:
    """Attempt one due delivery; returns its new status, or None if it was not ours to send."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        public_id=public_id, status=Status.PENDING, next_attempt_at__lte=now
    ).update(status=Status.SENDING, next_attempt_at=None, last_attempt_at=now)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(public_id=public_id)
    code, error, latency_ms = _post(delivery)
    attempts = delivery.attempts + 1
    delays = settings.WEBHOOK_RETRY_DELAYS
    if code is not None and 200 <= code < 300:
        status, next_attempt_at = Status.SUCCEEDED, None
    elif attempts <= len(delays):
        status = Status.PENDING
        next_attempt_at = timezone.now() + timedelta(seconds=delays[attempts - 1])
    else:
        status, next_attempt_at = Status.FAILED, None
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status, attempts=attempts, response_code=code, latency_ms=latency_ms,
        last_error=error[:300], next_attempt_at=next_attempt_at,
    )  # fmt: skip
    return status


def _post(delivery: WebhookDelivery) -> tuple[int | None, str, int]:
    """(response code or None, error text, latency in ms) of one signed POST."""
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":"))
    timestamp = timezone.now()
    signature = Webhook(signing_secret(delivery.endpoint)).sign(delivery.event_id, timestamp, body)
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
        "user-agent": "TokenPortal-Webhooks/1",
    }
    started = time.monotonic()
    url, extensions = httpx.URL(delivery.endpoint.url), {}
    try:
        address = public_address(str(url))
    except UnsafeDestination as error:
        return None, f"refused: {error}", _elapsed(started)
    if address is not None:  # connect to the address checked; TLS still verifies the name
        headers["host"] = url.netloc.decode("ascii")
        extensions["sni_hostname"] = url.host
        url = url.copy_with(host=address)
    try:
        with httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as http:
            response = http.post(url, content=body.encode(), headers=headers, extensions=extensions)
    except httpx.TimeoutException:
        return None, "timeout", _elapsed(started)
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}: {error}", _elapsed(started)
    error = "" if response.is_success else f"HTTP {response.status_code}"
    return response.status_code, error, _elapsed(started)


def _elapsed(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def due_deliveries(limit: int = 500) -> list[str]:
    """Deliveries to attempt now. One left "sending" by a worker that died is due again."""
    stuck = timezone.now() - timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 300)
    WebhookDelivery.objects.filter(status=Status.SENDING, last_attempt_at__lt=stuck).update(
        status=Status.PENDING, next_attempt_at=timezone.now()
    )
    return list(
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("public_id", flat=True)[:limit]
    )
