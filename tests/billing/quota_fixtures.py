"""The quota world: fixtures of the quota, notification and webhook tests (imported by
tests/billing/conftest.py). Members placed in `departments` (ROOT > (A > A1), B), projects
and keys in A1 and B, usage events, quotas made by the owner, and the gateway's authorize.

They build on the root conftest's `org`, `owner`, `member`, `departments`, `gateway_token`,
`prepaid_balance` and on `priced_model` in tests/billing/conftest.py.
"""

from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Department
from accounts.permissions import Role
from billing.quotas import services as quotas
from billing.quotas.models import Quota
from projects import authorize as authorization
from projects import services
from tests.factories import UsageEventFactory, as_actor


@pytest.fixture
def authorize(gateway_token, prepaid_balance):
    """authorize(plaintext key) -> "allowed" or the refusal reason, as the gateway asks; `org`
    has money on its balance."""

    def call(plaintext):
        allowed, body = authorization.authorize(
            credential=gateway_token,
            api_key=plaintext,
            model="deepseek/deepseek-chat",
            client_ip="203.0.113.7",
        )
        return "allowed" if allowed else body["reason"]

    return call


@pytest.fixture
def developer_in_a1(member, departments):
    """A developer of department A1."""
    return member(Role.DEVELOPER, department=departments["A1"])


@pytest.fixture
def manager_of_a(member, departments):
    """A viewer who manages department A (so also A1)."""
    membership = member(Role.VIEWER)
    Department.objects.get(pk=departments["A"].pk).managers.add(membership.user)
    return membership


@pytest.fixture
def project_a1(owner, departments):
    return services.create_project(
        actor=as_actor(owner), name="Search", department=departments["A1"]
    )


@pytest.fixture
def project_b(owner, departments):
    return services.create_project(
        actor=as_actor(owner), name="Ledger", department=departments["B"]
    )


@pytest.fixture
def key_a1(owner, project_a1, priced_model):
    """(ApiKey, plaintext) in project A1."""
    return services.create_api_key(actor=as_actor(owner), project=project_a1, name="A1 key")


@pytest.fixture
def key_b(owner, project_b, priced_model):
    return services.create_api_key(actor=as_actor(owner), project=project_b, name="B key")


@pytest.fixture
def usage(priced_model):
    """usage(key, tokens=..., cost=..., at=..., **counts) -> a new UsageEvent of the key and
    the priced model (not yet recorded); `tokens` are input tokens."""

    def make(key, *, tokens=1000, cost="0.01", at=None, **counts):
        return UsageEventFactory(
            api_key=key,
            model=priced_model,
            input_tokens=counts.pop("input_tokens", tokens),
            cost_amount=Decimal(cost),
            occurred_at=at or timezone.now(),
            **counts,
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
