"""End to end: an admin sets a 1,000,000-token monthly blocking quota on a
department; usage (recorded as ingestion does) triggers the 50 % and 80 % alerts once each
by email, bell and signed webhook, and the next authorize after 100 % is quota_exceeded."""

import json

import pytest
from django.core import mail
from django.db import transaction

from billing.quotas import services as quotas
from billing.quotas.models import Quota
from notifications.models import Notification, WebhookDelivery, WebhookEndpoint
from tests.billing.webhook_receiver import receiver


@pytest.mark.django_db(transaction=True)
def test_a_department_quota_alerts_at_50_and_80_percent_then_blocks(
    client, admin, manager_of_a, departments, key_a1, usage, settings, authorize, server_port
):
    settings.WEBHOOK_RETRY_DELAYS = [0]
    key, plaintext = key_a1
    client.force_login(admin.user)

    # The admin registers a webhook endpoint and keeps the secret shown once.
    response = client.post(
        "/organization/webhooks/new/",
        {"url": f"http://127.0.0.1:{server_port}/hooks",
         "event_types": ["quota.threshold_reached", "quota.exceeded"]},
    )  # fmt: skip
    secret = response.context["secret"]
    assert WebhookEndpoint.objects.count() == 1

    # ... and sets a 1,000,000-token monthly blocking quota on department A.
    response = client.post(
        "/organization/quotas/new/",
        {"scope": "department", "department": departments["A"].public_id, "metric": "tokens",
         "period": "month", "limit": "1000000", "thresholds": "50, 80, 100",
         "on_exceed": "block"},
    )  # fmt: skip
    assert response.status_code == 302
    quota = Quota.objects.get()

    def ingest(tokens):
        with transaction.atomic():
            quotas.record_usage([usage(key, tokens=tokens)])

    with receiver(server_port, lambda: secret) as received:
        assert authorize(plaintext) == "allowed"
        for _ in range(5):
            ingest(110_000)  # 550,000: 50 %
        ingest(100_000)  # 650,000: nothing new
        assert authorize(plaintext) == "allowed"
        ingest(200_000)  # 850,000: 80 %
        ingest(10_000)
        assert authorize(plaintext) == "allowed"
        ingest(150_000)  # 1,010,000: 100 %

        assert authorize(plaintext) == "quota_exceeded"

    alerts = list(quota.periods.get().alerts.order_by("threshold"))
    assert [a.threshold for a in alerts] == [50, 80, 100]

    # Bell: the admin and A's manager each got 50 %, 80 % and 100 %, once.
    for member in (admin, manager_of_a):
        subjects = list(
            Notification.objects.filter(user=member.user)
            .order_by("id")
            .values_list("sent_subject", flat=True)
        )
        assert len(subjects) == 3
        assert "50 %" in subjects[0] and "80 %" in subjects[1] and "exceeded" in subjects[2]

    # Email: one per alert and recipient.
    to_admin = [m.subject for m in mail.outbox if m.to == [admin.user.email]]
    assert len(to_admin) == 3 and sum("Quota at 50 %" in s for s in to_admin) == 1

    # Webhook: three deliveries, each verified by the receiver with the secret.
    assert [verified for _, _, verified in received] == [True, True, True]
    bodies = [json.loads(body) for _, body, _ in received]
    assert [(b["type"], b["data"]["threshold"]) for b in bodies] == [
        ("quota.threshold_reached", 50), ("quota.threshold_reached", 80),
        ("quota.exceeded", 100),
    ]  # fmt: skip
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
