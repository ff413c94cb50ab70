"""Webhook endpoints and their deliveries, in the Standard Webhooks format.

Signing needs the endpoint's secret itself (HMAC-SHA256 over id.timestamp.body), so it
cannot be kept as a one-way digest like API keys: it is stored encrypted (portal.crypto),
and shown to the customer once, at creation.

A delivery is claimed with a conditional UPDATE (pending and due -> sending) before it is
sent, so two workers never send the same attempt. A failed attempt is retried after
settings.WEBHOOK_RETRY_DELAYS (seconds; by default 1 min, 5 min, 30 min, 2 h, 6 h, 12 h,
24 h: eight attempts over about 45 hours), by the beat task that sends due deliveries.

A customer's URL is a request our servers make: unless WEBHOOK_ALLOW_PRIVATE_NETWORKS is on
(development and tests), an endpoint must resolve to plain global unicast addresses only
(is_public; an IPv6 address that embeds an IPv4 one is judged by the IPv4 one), checked when
it is saved and again at every delivery, which then connects to the address it checked (the
host name still goes in the Host header and TLS SNI), so DNS cannot be switched in between.
A delivery whose name now resolves to such an address fails at once, without connecting.
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
    "fapiao.issued",
    "pack.usage",
    "pack.expiring",
    "pack.credited",
    "plan.renewing",
    "plan.changed",
    "plan.ended",
]


def signing_secret(endpoint: WebhookEndpoint) -> str:
    return crypto.decrypt(endpoint.secret_encrypted)


class UnsafeDestination(Exception):
    """A webhook URL that does not lead to the public internet. `final`: sending to it
    again cannot help (unlike a name that does not resolve right now)."""

    final = True


class Unresolved(UnsafeDestination):
    final = False


def _networks(*cidrs: str) -> tuple:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# IPv4 special-purpose blocks (IANA registry) that are no destination on the internet, listed
# here so that the verdict does not depend on the Python version's is_global.
NOT_GLOBAL_V4 = _networks(
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)  # fmt: skip
GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
# Inside 2000::/3 but not global unicast: IETF protocol assignments (benchmarking, ORCHID,
# Teredo's 2001::/32 aside), documentation.
NOT_GLOBAL_V6 = _networks("2001::/23", "2001:db8::/32", "3fff::/20")
# IPv6 forms whose last 32 bits are an IPv4 address: IPv4-mapped, IPv4-compatible,
# IPv4-translated (RFC 2765), NAT64 (RFC 6052).
IPV4_IN_LOW_BITS = _networks("::ffff:0:0/96", "::/96", "::ffff:0:0:0/96", "64:ff9b::/96")
# Local-use NAT64 (RFC 8215): translates into the operator's own network, whatever it embeds.
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses that an IPv6 address leads to (translation and tunnel forms); []
    for a plain IPv6 address."""
    if any(address in network for network in IPV4_IN_LOW_BITS):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:  # 2002::/16
        return [address.sixtofour]
    if address.teredo is not None:  # 2001::/32: the relay server and the client behind it
        return list(address.teredo)
    return []


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Plain global unicast. An IPv6 address that embeds IPv4 addresses is judged by them
    (Python calls 64:ff9b::a00:1, NAT64 of 10.0.0.1, global)."""
    if address.version == 4:
        return address.is_global and not any(address in net for net in NOT_GLOBAL_V4)
    if address in LOCAL_NAT64:
        return False
    if inner := embedded_ipv4(address):
        return all(is_public(ipv4) for ipv4 in inner)
    return (
        address in GLOBAL_UNICAST_V6
        and address.is_global
        and not any(address in network for network in NOT_GLOBAL_V6)
    )


def public_address(url: str) -> str | None:
    """The public address to connect to for `url`, or None when private networks are allowed.
    Raises UnsafeDestination for anything else: a host that does not resolve (Unresolved),
    or resolves to any address that is not plain global unicast (is_public)."""
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return None
    parsed = httpx.URL(url)
    if parsed.scheme != "https":
        raise UnsafeDestination(_("Webhook URLs must use https."))
    try:
        found = socket.getaddrinfo(parsed.host, parsed.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Unresolved(_("The host name does not resolve.")) from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    if not addresses:
        raise Unresolved(_("The host name does not resolve."))
    if not all(is_public(address) for address in addresses):
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
    final = False
    try:  # checked at every attempt: the name may resolve elsewhere since it was saved
        address = public_address(delivery.endpoint.url)
    except UnsafeDestination as refused:
        code, error, latency_ms, final = None, f"refused: {refused}", None, refused.final
    else:
        code, error, latency_ms = _post(delivery, address)
    attempts = delivery.attempts + 1
    delays = settings.WEBHOOK_RETRY_DELAYS
    if code is not None and 200 <= code < 300:
        status, next_attempt_at = Status.SUCCEEDED, None
    elif attempts <= len(delays) and not final:
        status = Status.PENDING
        next_attempt_at = timezone.now() + timedelta(seconds=delays[attempts - 1])
    else:
        status, next_attempt_at = Status.FAILED, None
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status, attempts=attempts, response_code=code, latency_ms=latency_ms,
        last_error=error[:300], next_attempt_at=next_attempt_at,
    )  # fmt: skip
    return status


def _post(delivery: WebhookDelivery, address: str | None) -> tuple[int | None, str, int]:
    """(response code or None, error text, latency in ms) of one signed POST, sent to
    `address` (checked by public_address) when there is one."""
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
    if address is not None:  # connect to the address checked; TLS still verifies the name
        headers["host"] = url.netloc.decode("ascii")
        extensions["sni_hostname"] = url.host
        url = url.copy_with(host=address)
    try:
        # No proxy from the environment, no redirects: the connection goes where was checked.
        with httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS, trust_env=False) as http:
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
