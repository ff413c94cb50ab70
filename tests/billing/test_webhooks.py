"""Webhook endpoints and deliveries: signed, retried, logged, resent; a real receiver."""

import contextlib
import json
import socket

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from notifications import services as notifications
from notifications import webhooks
from notifications.models import WebhookDelivery, WebhookEndpoint
from portal import settings as portal_settings
from tests.billing.webhook_receiver import receiver
from tests.factories import as_actor

pytestmark = pytest.mark.django_db(transaction=True)
Status = WebhookDelivery.Status


@pytest.fixture
def endpoint(admin, server_port):
    return webhooks.create_endpoint(
        actor=as_actor(admin), url=f"http://127.0.0.1:{server_port}/hooks",
        event_types=["quota.threshold_reached"],
    )  # fmt: skip


@pytest.fixture(autouse=True)
def fast(settings):
    settings.WEBHOOK_RETRY_DELAYS = [0, 0, 0]
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5


def announce(organization, event_type="quota.threshold_reached"):
    with transaction.atomic():
        return notifications.notify(
            organization=organization, event_type=event_type, subject="Quota at 50 %",
            message="Half used.", data={"quota_id": "quo_x", "threshold": 50}, recipients=[],
        )  # fmt: skip


def retry_due():
    for public_id in webhooks.due_deliveries():
        webhooks.deliver(public_id)


def test_the_production_schedule_retries_for_more_than_a_day():
    """The module's settings are faster (fixture); the defaults are the production ones."""
    delays = [60, 300, 1800, 7200, 21600, 43200, 86400]
    assert delays == portal_settings.WEBHOOK_RETRY_DELAYS
    assert sum(delays) >= 24 * 3600


def test_the_secret_is_stored_encrypted_and_returned_once(endpoint):
    endpoint, secret = endpoint
    stored = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert secret.startswith("whsec_") and secret not in stored.secret_encrypted
    assert webhooks.signing_secret(stored) == secret


def test_a_delivery_is_signed_and_verified_by_the_receiver(org, endpoint, server_port):
    endpoint, secret = endpoint
    with receiver(server_port, lambda: secret) as received:
        event_id = announce(org)
    ((headers, body, verified),) = received
    assert verified
    assert headers["webhook-id"] == event_id
    assert json.loads(body)["type"] == "quota.threshold_reached"
    assert json.loads(body)["data"]["threshold"] == 50
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (
        Status.SUCCEEDED,
        1,
        204,
    )
    assert delivery.latency_ms is not None


def test_other_events_and_organizations_are_not_sent(org, endpoint, outsider):
    announce(org, "quota.period_reset")
    announce(outsider.organization)
    assert not WebhookDelivery.objects.exists()


def test_500s_are_retried_until_delivered_with_the_same_id(org, endpoint, server_port):
    endpoint, secret = endpoint
    with receiver(server_port, lambda: secret, plan=[500, 503]) as received:
        announce(org)
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.response_code) == (Status.PENDING, 500)
        retry_due()
        retry_due()
    assert [verified for _, _, verified in received] == [True, True, True]
    assert len({headers["webhook-id"] for headers, _, _ in received}) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (
        Status.SUCCEEDED,
        3,
        204,
    )


def test_a_timeout_is_retried(org, endpoint, server_port):
    endpoint, secret = endpoint
    with receiver(server_port, lambda: secret, plan=["slow"]) as received:
        announce(org)
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.last_error) == (Status.PENDING, "timeout")
        retry_due()
    delivery.refresh_from_db()
    assert delivery.status == Status.SUCCEEDED and len(received) == 2


def test_after_the_schedule_the_delivery_fails_and_can_be_resent(org, endpoint, admin, server_port):
    endpoint, secret = endpoint
    with receiver(server_port, lambda: secret, plan=[500, 500, 500, 500]) as received:
        announce(org)
        for _ in range(5):
            retry_due()
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts) == (Status.FAILED, 4)
        webhooks.resend(actor=as_actor(admin), delivery=delivery)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.SUCCEEDED, 5)
    assert len(received) == 5


def test_a_retry_is_claimed_once(org, endpoint, server_port):
    endpoint, secret = endpoint
    with receiver(server_port, lambda: secret, plan=[500]) as received:
        announce(org)
        delivery = WebhookDelivery.objects.get()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() + timezone.timedelta(hours=1)
        )
        assert webhooks.deliver(delivery.public_id) is None  # not due yet
        assert len(received) == 1


def test_a_delivery_left_sending_by_a_dead_worker_is_sent_again(org, endpoint, server_port):
    endpoint, secret = endpoint
    with receiver(server_port, lambda: secret) as received:
        announce(org)
        delivery = WebhookDelivery.objects.get()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=Status.SENDING, last_attempt_at=timezone.now() - timezone.timedelta(hours=1)
        )
        retry_due()
    delivery.refresh_from_db()
    assert delivery.status == Status.SUCCEEDED and len(received) == 2


# --- Where webhooks may go (production: public https addresses only) ----------------------

# IPv6 addresses that carry a private IPv4 address (finding 2 of issue 20): Python's
# is_global calls them global.
EMBEDDING_PRIVATE_IPV4 = [
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
    "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215), whatever it embeds
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
    "::ffff:192.168.0.1",  # IPv4-mapped
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1 (bits inverted)
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo, client 192.0.2.45 (documentation)
    "2001:0:a00:1:8000:63bf:a247:27dd",  # Teredo, server 10.0.0.1, public client
]
NOT_GLOBAL_UNICAST = [
    "127.0.0.1", "10.1.2.3", "169.254.169.254", "100.64.0.1", "192.0.0.8", "192.0.2.1",
    "198.18.0.1", "198.51.100.7", "203.0.113.9", "224.0.0.1", "240.0.0.1", "0.0.0.0",  # noqa: S104 (a refused address)
    "[::1]", "[::]", "[fe80::1]", "[fec0::1]", "[fd00::1]", "[ff02::1]", "[2001:db8::1]",
    "[3fff::1]", "[2001:2::1]", "[4000::1]",
]  # fmt: skip
PUBLIC = [
    ("93.184.216.34", "93.184.216.34"),
    ("[2606:4700:4700::1111]", "2606:4700:4700::1111"),
    ("[::ffff:93.184.216.34]", "::ffff:5db8:d822"),  # mapped public IPv4
    ("[64:ff9b::5db8:d822]", "64:ff9b::5db8:d822"),  # NAT64 of 93.184.216.34
    ("[2002:5db8:d822::1]", "2002:5db8:d822::1"),  # 6to4 of 93.184.216.34
    ("[2001:0:4136:e378:8000:63bf:a247:27dd]", "2001:0:4136:e378:8000:63bf:a247:27dd"),
]


@pytest.fixture
def production(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False


@pytest.fixture
def resolver(monkeypatch):
    """The test's DNS: names under .invalid resolve to the address this dict gives them (a
    KeyError: they do not resolve); every other name resolves as usual."""
    names, real = {}, socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".invalid"):
            if host not in names:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            host = names[host]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


@pytest.fixture
def listener(server_port):
    """A bare TCP socket on 127.0.0.1: connections() tells whether anything connected."""
    sock = socket.create_server(("127.0.0.1", server_port))
    sock.setblocking(False)

    def connections() -> int:
        count = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                sock.accept()[0].close()
                count += 1
        return count

    yield connections
    sock.close()


@pytest.mark.parametrize(
    "host",
    [
        *NOT_GLOBAL_UNICAST,
        *(f"[{address}]" for address in EMBEDDING_PRIVATE_IPV4),
        "localhost",
        "2130706433",  # 127.0.0.1 as one number
    ],
)
def test_production_refuses_webhook_urls_that_do_not_lead_to_the_public_internet(
    production, admin, host
):
    with pytest.raises(ValidationError) as refused:
        webhooks.create_endpoint(
            actor=as_actor(admin), url=f"https://{host}/hook", event_types=["quota.exceeded"]
        )
    assert refused.value.message_dict == {
        "url": ["The URL must lead to a public internet address."]
    }
    assert not WebhookEndpoint.objects.exists()


def test_production_refuses_plain_http_and_names_that_do_not_resolve(production, admin):
    for url, message in [
        ("http://hooks.plain.invalid/hook", "Webhook URLs must use https."),
        ("https://nowhere.invalid/hook", "The host name does not resolve."),
    ]:
        with pytest.raises(ValidationError) as refused:
            webhooks.create_endpoint(actor=as_actor(admin), url=url, event_types=["quota.exceeded"])
        assert refused.value.message_dict == {"url": [message]}
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(("host", "address"), PUBLIC)
def test_a_public_address_is_the_one_connected_to(production, host, address):
    """Checked only: nothing connects, nothing is stored."""
    assert webhooks.public_address(f"https://{host}:8443/hook") == address


def test_with_private_networks_allowed_nothing_is_checked_or_pinned(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    assert webhooks.public_address("http://127.0.0.1/hook") is None


@pytest.mark.parametrize("rebound_to", ["127.0.0.1", "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe"])
def test_a_name_rebound_to_a_private_address_is_refused_at_delivery_without_connecting(
    production, org, admin, resolver, listener, server_port, rebound_to
):
    """Saved while its name resolved to a public address; by the delivery, DNS answers with
    an internal one: the delivery fails at once, with the reason, and connects nowhere."""
    resolver["hooks.rebind.invalid"] = "93.184.216.34"
    webhooks.create_endpoint(
        actor=as_actor(admin), url=f"https://hooks.rebind.invalid:{server_port}/in",
        event_types=["quota.threshold_reached"],
    )  # fmt: skip
    resolver["hooks.rebind.invalid"] = rebound_to
    announce(org)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (Status.FAILED, 1, None)
    assert delivery.last_error == "refused: The URL must lead to a public internet address."
    assert listener() == 0
    assert webhooks.due_deliveries() == []  # not retried


def test_a_name_that_stops_resolving_is_retried(production, org, admin, resolver):
    resolver["hooks.gone.invalid"] = "93.184.216.34"
    webhooks.create_endpoint(
        actor=as_actor(admin), url="https://hooks.gone.invalid/in",
        event_types=["quota.threshold_reached"],
    )  # fmt: skip
    del resolver["hooks.gone.invalid"]
    announce(org)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_error) == (
        Status.PENDING,
        "refused: The host name does not resolve.",
    )


def test_a_delivery_to_a_url_saved_while_private_networks_were_allowed_fails(
    settings, org, endpoint, listener
):
    """The check runs again at delivery, whatever was allowed when the URL was saved."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    announce(org)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_error) == (
        Status.FAILED,
        "refused: Webhook URLs must use https.",
    )
    assert listener() == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://[64:ff9b::a00:1]/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://[2002:7f00:1::]/",
        "https://[::127.0.0.1]/",
        "https://[::ffff:0:7f00:1]/",
        "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    ],
)
def test_the_form_and_the_api_answer_an_unsafe_url_with_a_field_error(
    production, client, admin, url
):
    client.force_login(admin.user)
    data = {"url": url, "event_types": ["quota.exceeded"]}
    page = client.post("/organization/webhooks/new/", data)
    assert page.status_code == 200
    assert "url" in page.context["form"].errors
    api = client.post("/api/v1/webhook-endpoints", data, content_type="application/json")
    assert api.status_code == 400
    assert api.json()["error"]["fields"]["url"] == [
        "The URL must lead to a public internet address."
    ]
    assert not WebhookEndpoint.objects.exists()


def test_resending_a_delivery_being_sent_is_refused_on_the_page_and_the_api(
    org, endpoint, admin, client_of
):
    endpoint, _secret = endpoint
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_id="evt_sending", event_type="quota.threshold_reached",
        payload={}, status=Status.SENDING,
    )  # fmt: skip
    client = client_of(admin)
    page = client.post(
        f"/organization/webhooks/{endpoint.public_id}/deliveries/{delivery.public_id}/resend/",
        follow=True,
    )
    assert page.status_code == 200
    assert "This delivery is being sent right now." in page.content.decode()
    api = client.post(f"/api/v1/webhook-deliveries/{delivery.public_id}/resend")
    assert api.status_code == 400, api.content
    delivery.refresh_from_db()
    assert delivery.status == Status.SENDING
