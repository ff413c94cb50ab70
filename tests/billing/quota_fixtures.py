"""Fixtures of the quota, notification and webhook tests (imported by tests/billing/conftest.py).

They build on `organization`, `owner`, `viewer`, `outsider` and `priced_model` there.
"""

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone

from accounts.models import Department
from accounts.permissions import Role
from billing.catalog.models import PriceVersion
from billing.invoicing.models import LedgerEntry
from billing.metering.models import UsageEvent
from billing.quotas import services as quotas
from billing.quotas.models import Quota
from projects import authorize as authorization
from projects import services
from tests.factories import MembershipFactory, department_tree

_request_ids = count()


@pytest.fixture
def gateway_credential(db, owner):
    """The gateway's credential for authorize() below; the organization gets money on its
    prepaid balance, so that insufficient_balance stays out of the way."""
    LedgerEntry.objects.create(
        organization=owner.organization, kind="top_up", amount=1_000_000, currency="CNY"
    )
    _, token = services.create_gateway_credential(actor=services.Actor(user=owner.user), name="gw")
    return token


@pytest.fixture
def authorize(gateway_credential):
    """authorize(plaintext key) -> "allowed" or the refusal reason, as the gateway asks."""

    def call(plaintext):
        allowed, body = authorization.authorize(
            credential=gateway_credential,
            api_key=plaintext,
            model="deepseek/deepseek-chat",
            client_ip="203.0.113.7",
        )
        return "allowed" if allowed else body["reason"]

    return call


def as_actor(membership):
    return services.Actor(user=membership.user, membership=membership)


@pytest.fixture
def deps(organization):
    """ROOT > (A > A1), B."""
    return department_tree(organization)


@pytest.fixture
def admin(organization):
    return MembershipFactory(organization=organization, role=Role.ADMIN)


@pytest.fixture
def developer(organization, deps):
    """A developer of department A1."""
    return MembershipFactory(organization=organization, role=Role.DEVELOPER, department=deps["A1"])


@pytest.fixture
def manager(organization, deps):
    """A viewer who manages department A (so also A1)."""
    membership = MembershipFactory(organization=organization, role=Role.VIEWER)
    Department.objects.get(pk=deps["A"].pk).managers.add(membership.user)
    return membership


@pytest.fixture
def project_a1(owner, deps):
    return services.create_project(actor=as_actor(owner), name="Search", department=deps["A1"])


@pytest.fixture
def project_b(owner, deps):
    return services.create_project(actor=as_actor(owner), name="Ledger", department=deps["B"])


@pytest.fixture
def key_a1(owner, project_a1, priced_model):
    """(ApiKey, plaintext) in project A1."""
    return services.create_api_key(actor=as_actor(owner), project=project_a1, name="A1 key")


@pytest.fixture
def key_b(owner, project_b, priced_model):
    return services.create_api_key(actor=as_actor(owner), project=project_b, name="B key")


@pytest.fixture
def usage(priced_model):
    """usage(key, tokens=..., cost=..., at=...) -> a new UsageEvent (not yet recorded)."""
    price = PriceVersion.objects.filter(model=priced_model).first()

    def make(key, *, tokens=1000, cost="0.01", at=None, **counts):
        project = key.project
        return UsageEvent.objects.create(
            request_id=f"req-{next(_request_ids)}-{timezone.now().timestamp()}",
            organization_id=project.organization_id,
            department_id=project.department_id,
            project=project,
            api_key=key,
            model=priced_model,
            price_version=price,
            input_tokens=counts.get("input_tokens", tokens),
            output_tokens=counts.get("output_tokens", 0),
            cached_input_tokens=counts.get("cached_input_tokens", 0),
            cache_write_tokens=counts.get("cache_write_tokens", 0),
            cost_amount=Decimal(cost),
            currency="CNY",
            occurred_at=at or timezone.now(),
        )

    return make


@pytest.fixture
def make_quota(owner):
    """make_quota(scope, target, limit=..., made_at=None, **settings) -> Quota, created by
    the owner; `made_at` dates it back, for usage of periods that ended before today (a
    quota counts no period that had ended before it was made)."""

    def make(scope, target=None, *, limit=1000, made_at=None, **values):
        values.setdefault("on_exceed", Quota.OnExceed.BLOCK)
        quota = quotas.create_quota(
            actor=as_actor(owner), scope=scope, target=target, limit=Decimal(limit), **values
        )
        if made_at is not None:
            Quota.objects.filter(pk=quota.pk).update(created_at=made_at, counts_from=made_at)
            quota.refresh_from_db()
        return quota

    return make


NOV_15 = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)
