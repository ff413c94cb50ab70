"""The staff dashboard (admin index): live figures from usage ingested, rolled up, invoiced
and notified through the real services."""

from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.audit_trail import Actor
from accounts.models import Organization
from billing import dashboard
from billing.catalog.models import ModelAlias
from billing.dashboard import staff_dashboard
from billing.invoicing import services as invoicing
from billing.invoicing.models import InvoiceLine
from billing.metering import services as metering
from billing.packages import services as packages
from billing.packages.models import OfferTerms
from billing.payments.models import PaymentRefund
from billing.sales.models import PlanFee
from notifications import services as notifications
from notifications import webhooks
from portal.periods import month_of, month_start
from tests.billing.invoicing_data import customer, rollup
from tests.billing.metering_world import build_world
from tests.billing.test_packages_drawdown import pack
from tests.conftest import closed_port
from tests.factories import OrganizationFactory, as_actor

pytestmark = pytest.mark.django_db
CLOSED_PORT = closed_port()  # nothing listens here: deliveries to it fail


def _event(world, now, key, model):
    at = max(now - timedelta(minutes=1), month_start(month_of(now)).astimezone(UTC))
    return world.event(key, model, at=at, input_tokens=1_000_000, output_tokens=500_000)


@pytest.fixture
def platform(settings):
    """Alpha and Beta used models this month; one organization waits for review; last
    month's invoice of a third is overdue; a webhook of Alpha failed; one event is waiting."""
    settings.INVOICE_PAYMENT_TERMS_DAYS = 0
    settings.WEBHOOK_RETRY_DELAYS = []
    now = timezone.now()
    alpha = build_world(OrganizationFactory(name="Alpha 科技"))
    beta = build_world(OrganizationFactory(name="Beta 政务"))
    # chat-1: 2 + 8 per million; chat-2: 1 + 3 per million (input, output).
    metering.ingest_usage(
        events=[
            _event(alpha, now, "a", "chat-1"),
            _event(alpha, now, "b", "chat-1"),
            _event(alpha, now, "a", "chat-2"),
            _event(beta, now, "a", "chat-1"),
        ]
    )
    metering.roll_up()
    metering.ingest_usage(events=[_event(beta, now, "n", "chat-2")])  # not rolled up yet

    OrganizationFactory(name="待审单位", status=Organization.Status.PENDING)

    late = customer(name="Late Payer")
    last_month = (month_start(month_of(now)) - timedelta(days=1)).date().replace(day=1)
    rollup(late, hour=(month_start(month_of(now)) - timedelta(days=5)).astimezone(UTC), cost="100")
    [draft] = invoicing.close_month(month=last_month)
    overdue = invoicing.issue_invoice(actor=Actor.system(), invoice=draft)

    webhooks.create_endpoint(
        actor=as_actor(alpha.members["owner"]),
        url=f"http://127.0.0.1:{CLOSED_PORT}/hooks",
        event_types=["quota.threshold_reached"],
    )
    with transaction.atomic():
        notifications.notify(
            organization=alpha.org, event_type="quota.threshold_reached", subject="Quota",
            message="Half used.", data={"threshold": 50}, recipients=[],
        )  # fmt: skip
    for public_id in webhooks.due_deliveries():
        webhooks.deliver(public_id)
    return alpha, beta, overdue


def test_the_figures_come_from_the_real_pipeline(platform):
    alpha, _beta, overdue = platform
    d = staff_dashboard()
    assert d.pending_reviews == 1 and d.oldest_pending[0].name == "待审单位"
    assert d.overdue_count == 1 and d.overdue[0].pk == overdue.pk
    assert [(m.amount, m.currency) for m in d.overdue_totals] == [
        (overdue.total_amount, overdue.currency)
    ]
    # Alpha: 2 x chat-1 (2 + 4) + chat-2 (1 + 1.5) = 14.50; Beta: chat-1 = 6.00.
    assert [(m.amount, m.currency) for m in d.revenue] == [(Decimal("20.50"), "CNY")]
    assert d.tokens == 4 * 1_500_000 and d.requests == 4
    assert [(r["label"], r["cost"].amount, r["tokens"]) for r in d.top_customers] == [
        ("Alpha 科技", Decimal("14.50"), 4_500_000),
        ("Beta 政务", Decimal("6.00"), 1_500_000),
    ]
    assert [(r["key"], r["cost"].amount, r["requests"]) for r in d.by_model] == [
        ("chat-1", Decimal("18.00"), 3),
        ("chat-2", Decimal("2.50"), 1),
    ]
    assert d.lag.pending_events == 1
    assert d.failed_deliveries_count == 1
    assert d.failed_deliveries[0].endpoint.organization == alpha.org


def test_usage_a_pack_covered_is_pack_revenue_not_usage_revenue(
    platform, client, staff_user, monkeypatch
):
    _alpha, beta, _overdue = platform
    terms = pack(2 * 1_500_000)  # two chat-1 calls: 1,000,000 in + 500,000 out each
    packages.grant_pack(organization=beta.org, terms=terms, reference="dash-pack",
                        at=timezone.now() - timedelta(days=1))  # fmt: skip
    now = timezone.now()
    metering.ingest_usage(
        events=[_event(beta, now, "a", "chat-1"), _event(beta, now, "b", "chat-1")]
    )
    metering.roll_up()  # with Beta's waiting chat-2 call (2.50)
    d = staff_dashboard()
    # The covered calls' 12.00 is in the rollups and taken off again: pack revenue.
    assert [(m.amount, m.currency) for m in d.revenue] == [(Decimal("23.00"), "CNY")]
    assert (d.packs_used.amount, d.packs_used.currency) == (Decimal("12.00"), "CNY")
    assert d.tokens == 7 * 1_500_000
    # Beta's usage cost 20.50, more than Alpha's, but it was charged 8.50.
    assert [(r["label"], r["cost"].amount, r["requests"]) for r in d.top_customers] == [
        ("Alpha 科技", Decimal("14.50"), 3),
        ("Beta 政务", Decimal("8.50"), 4),
    ]
    assert [(r["key"], r["cost"].amount, r["requests"]) for r in d.by_model] == [
        ("chat-1", Decimal("18.00"), 5),
        ("chat-2", Decimal("5.00"), 2),
    ]
    page = client.get("/admin/").content.decode()
    assert "¥23.00" in page and "Packs used: ¥12.00 at list price." in page
    monkeypatch.setattr(dashboard, "TOP", 1)  # the first by cost is not the first charged
    assert [r["label"] for r in staff_dashboard().top_customers] == ["Alpha 科技"]


def test_the_admin_index_shows_the_dashboard(
    client, staff_user, platform, django_assert_max_num_queries
):
    with django_assert_max_num_queries(30):
        response = client.get("/admin/")
    page = response.content.decode()
    assert response.status_code == 200
    for figure in ("待审单位", "Alpha 科技", "Beta 政务", "¥20.50", "¥14.50", "chat-1",
                   "?status__exact=pending", "?overdue=yes", "?status__exact=failed"):  # fmt: skip
        assert figure in page, figure
    assert platform[2].number in page


def test_the_query_count_does_not_grow_with_the_data(platform, django_assert_max_num_queries):
    for _ in range(3):
        build_world(OrganizationFactory())
    with django_assert_max_num_queries(17):
        staff_dashboard()


def test_an_empty_platform_shows_zeros(client, staff_user):
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "No usage this month yet." in response.content.decode()


def test_every_model_of_ours_is_listed_filtered_searchable_and_shown(client, staff_user, platform):
    # Every app of this repository (an app added later is checked too).
    ours = {c.label for c in apps.get_app_configs() if Path(c.path).parent == settings.BASE_DIR}
    registered = {model: model_admin for model, model_admin in admin.site._registry.items()}
    for model in apps.get_models():
        if model._meta.app_label not in ours or model._meta.auto_created:
            continue
        # Shown inline on their model, invoice, offer, payment or subscription.
        inline = model in (ModelAlias, InvoiceLine, OfferTerms, PaymentRefund, PlanFee)
        assert model in registered or inline, f"{model._meta.label} is not in the console"
    for model, model_admin in registered.items():
        if model._meta.app_label not in ours:
            continue
        label = model._meta.label
        assert model_admin.list_filter and model_admin.search_fields, label
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        response = client.get(reverse(f"{prefix}_changelist"), {"q": "a"})
        assert response.status_code == 200, label
        obj = model._default_manager.first()
        if obj is not None:
            page = client.get(reverse(f"{prefix}_change", args=[obj.pk]))
            assert page.status_code == 200, label
