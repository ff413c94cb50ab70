"""Webhook endpoints and deliveries: signed, retried, logged, resent; a real receiver."""

import json

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


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://[::1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "http://93.184.216.34/hook",  # public, but not https
    ],
)
def test_production_refuses_webhook_urls_that_do_not_lead_to_the_public_internet(
    settings, admin, url
):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(ValidationError) as refused:
        webhooks.create_endpoint(actor=as_actor(admin), url=url, event_types=["quota.exceeded"])
    assert "url" in refused.value.message_dict
    assert not WebhookEndpoint.objects.exists()


def test_a_public_address_is_the_one_connected_to(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    assert webhooks.public_address("https://93.184.216.34:8443/hook") == "93.184.216.34"
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    assert webhooks.public_address("http://127.0.0.1/hook") is None  # no check, no pinning


def test_a_delivery_to_an_address_that_became_private_is_refused_and_retried(
    settings, org, endpoint, server_port
):
    """The check runs again at delivery: DNS may now answer with an internal address."""
    endpoint, secret = endpoint
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    with receiver(server_port, lambda: secret) as received:
        announce(org)
    assert received == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING
    assert delivery.last_error.startswith("refused:")


def test_the_form_and_the_api_answer_an_unsafe_url_with_a_field_error(settings, client, admin):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    client.force_login(admin.user)
    data = {"url": "https://127.0.0.1/hook", "event_types": ["quota.exceeded"]}
    page = client.post("/organization/webhooks/new/", data)
    assert page.status_code == 200
    assert "url" in page.context["form"].errors
    api = client.post("/api/v1/webhook-endpoints", data, content_type="application/json")
    assert api.status_code == 400
    assert "url" in api.json()["error"]["fields"]
    assert not WebhookEndpoint.objects.exists()
