"""The metering world: one organization with departments ROOT > A, B, projects and keys in
each (and one without a department), members by role and two priced models, with `event()`
to build what the gateway reports; `metering_world` is the fixture, `build_world()` makes
another."""

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.cache import cache

from accounts.models import Department
from accounts.permissions import Role
from billing.metering.models import UsageEvent, UsageRollup
from projects import services
from tests.factories import (
    CatalogModelFactory,
    DepartmentFactory,
    MembershipFactory,
    ModelAliasFactory,
    OrganizationFactory,
    PriceVersionFactory,
    as_actor,
)

PRICED_FROM = datetime(2026, 1, 1, tzinfo=UTC)
_ids = itertools.count()


@dataclass
class World:
    org: object
    deps: dict
    projects: dict
    keys: dict
    models: dict
    members: dict = field(default_factory=dict)

    def event(self, key="a", model="chat-1", at=None, request_id=None, **tokens):
        return {
            "request_id": request_id or f"req-{next(_ids)}",
            "key_id": self.keys[key].public_id,
            "model": model,
            "input_tokens": tokens.get("input_tokens", 1000),
            "output_tokens": tokens.get("output_tokens", 200),
            "cached_input_tokens": tokens.get("cached_input_tokens", 0),
            "occurred_at": (at or datetime.now(UTC)).isoformat(),
        }


def build_world(org=None) -> World:
    org = org or OrganizationFactory()
    root = DepartmentFactory(organization=org, code="ROOT")
    a = DepartmentFactory(organization=org, code="A", parent=root)
    b = DepartmentFactory(organization=org, code="B", parent=root)
    owner = MembershipFactory(organization=org, role=Role.OWNER)
    actor = as_actor(owner)
    chat1 = CatalogModelFactory(model_id="chat-1")
    ModelAliasFactory(alias="chat-latest", model=chat1)
    chat2 = CatalogModelFactory(model_id="chat-2")
    for model, (inp, out) in ((chat1, ("2", "8")), (chat2, ("1", "3"))):
        if not model.prices.exists():
            PriceVersionFactory(
                model=model,
                effective_from=PRICED_FROM,
                input_price=Decimal(inp),
                output_price=Decimal(out),
                cached_input_price=Decimal("0.5"),
            )
    projects = {
        "a": services.create_project(actor=actor, name="Project A", department=a),
        "b": services.create_project(actor=actor, name="Project B", department=b),
        "n": services.create_project(actor=actor, name="No department"),
    }
    keys = {
        name: services.create_api_key(actor=actor, project=project, name=f"key {name}")[0]
        for name, project in projects.items()
    }
    # A developer placed in B who manages B (a viewer's role is organization-wide).
    manager = MembershipFactory(organization=org, role=Role.DEVELOPER, department=b)
    Department.objects.get(pk=b.pk).managers.add(manager.user)
    members = {
        "owner": owner,
        "viewer": MembershipFactory(organization=org, role=Role.VIEWER),
        "manager_b": manager,
        "developer_a": MembershipFactory(organization=org, role=Role.DEVELOPER, department=a),
    }
    return World(
        org=org,
        deps={"ROOT": root, "A": a, "B": b},
        projects=projects,
        keys=keys,
        models={"chat-1": chat1, "chat-2": chat2},
        members=members,
    )


@pytest.fixture
def metering_world(db):
    cache.clear()
    return build_world()


def raw_totals(**filters) -> dict:
    """Per rollup group: (requests, tokens..., cost) summed from raw events, in Python."""
    totals: dict = {}
    for e in UsageEvent.objects.filter(**filters):
        hour = e.occurred_at.replace(minute=0, second=0, microsecond=0)
        group = (hour, e.organization_id, e.department_id, e.project_id, e.api_key_id, e.model_id)
        t = totals.setdefault(group, [0, 0, 0, 0, Decimal(0)])
        t[0] += 1
        t[1] += e.input_tokens
        t[2] += e.output_tokens
        t[3] += e.cached_input_tokens
        t[4] += e.cost_amount
    return totals


def rollup_totals(**filters) -> dict:
    return {
        (r.hour, r.organization_id, r.department_id, r.project_id, r.api_key_id, r.model_id): [
            r.requests,
            r.input_tokens,
            r.output_tokens,
            r.cached_input_tokens,
            r.cost_amount,
        ]
        for r in UsageRollup.objects.filter(**filters)
    }
