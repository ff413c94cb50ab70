"""Usage to bill: `customer()`, an organization with departments, projects and keys, and
helpers that write its usage rollups, usage events and top-ups; `at_once()` runs jobs in
threads started together."""

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connections

from accounts.permissions import Role
from billing.metering.models import UsageEvent, UsageRollup
from tests.factories import (
    ApiKeyFactory,
    CatalogModelFactory,
    DepartmentFactory,
    LedgerEntryFactory,
    MembershipFactory,
    OrganizationFactory,
    PriceVersionFactory,
    ProjectFactory,
    ProviderFactory,
    UsageEventFactory,
    UsageRollupFactory,
)

# November 2026 in Shanghai: [2026-10-31 16:00 UTC, 2026-11-30 16:00 UTC).
NOV = datetime(2026, 11, 1).date()
NOV_FIRST_HOUR = datetime(2026, 10, 31, 16, tzinfo=UTC)
NOV_LAST_HOUR = datetime(2026, 11, 30, 15, tzinfo=UTC)


@dataclass
class Customer:
    organization: object
    owner: object
    departments: dict
    projects: dict
    keys: dict
    models: dict
    price: object


def customer(payment_mode="postpaid", credit_limit=Decimal("50000"), **org) -> Customer:
    """总部 (HQ) > 研发部 (RD); projects 智能客服 (RD), 官网 (HQ), 实验 (no department)."""
    organization = OrganizationFactory(
        name=org.pop("name", "示例科技"),
        legal_name=org.pop("legal_name", "上海示例科技有限公司"),
        payment_mode=payment_mode,
        credit_limit_amount=credit_limit,
        **org,
    )
    owner = MembershipFactory(organization=organization, role=Role.OWNER)
    hq = DepartmentFactory(organization=organization, code="HQ", name="总部")
    rd = DepartmentFactory(organization=organization, code="RD", name="研发部", parent=hq)
    made = {"organization": organization, "created_by": owner.user}
    projects = {
        "service": ProjectFactory(name="智能客服", department=rd, **made),
        "web": ProjectFactory(name="官网", department=hq, **made),
        "lab": ProjectFactory(name="实验", **made),
    }
    keys = {
        name: ApiKeyFactory(project=project, name=name, created_by=owner.user)
        for name, project in projects.items()
    }
    provider = ProviderFactory(slug="deepseek", name="DeepSeek")
    models = {
        "chat": CatalogModelFactory(model_id="deepseek/deepseek-chat", provider=provider),
        "coder": CatalogModelFactory(model_id="deepseek/deepseek-coder", provider=provider),
    }
    prices = [model.prices.first() or PriceVersionFactory(model=model) for model in models.values()]
    return Customer(organization, owner, {"HQ": hq, "RD": rd}, projects, keys, models, prices[0])


def rollup(c: Customer, *, key="service", model="chat", hour=NOV_FIRST_HOUR, cost="1.00",
           requests=1, input_tokens=1000, output_tokens=500) -> UsageRollup:  # fmt: skip
    return UsageRollupFactory(
        hour=hour,
        api_key=c.keys[key],
        model=c.models[model],
        requests=requests,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_amount=Decimal(cost),
    )


def event(
    c: Customer, *, key="service", cost="0.0123456789", occurred_at=NOV_FIRST_HOUR
) -> UsageEvent:
    return UsageEventFactory(
        api_key=c.keys[key],
        model=c.models["chat"],
        price_version=c.price,
        input_tokens=1000,
        output_tokens=200,
        cost_amount=Decimal(cost),
        occurred_at=occurred_at,
    )


def top_up(c: Customer, amount) -> None:
    LedgerEntryFactory(organization=c.organization, amount=Decimal(amount))


def at_once(jobs, refused=()) -> list[Exception]:
    """Run each job in its own thread (its own connection), all released together; the
    errors raised, but for the `refused` exception classes."""
    barrier = threading.Barrier(len(jobs))
    errors = []

    def run(job):
        try:
            barrier.wait()
            job()
        except refused:
            pass
        except Exception as error:  # returned to the test
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
