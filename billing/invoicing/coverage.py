"""What packs and plans took off the usage an invoice bills (docs/packages.md, "Money
documents").

Per line group (month, department, project, model) and over exactly the events a close reads
(up to its event bound): what entitlements covered (UsageCoverage.covered_amount), the plan's
overage discount (cost - covered - charged) and each entitlement's draws (units, value at
list price). The close bills the group's cost less both, and lists the entitlements at 0.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from billing.metering.models import UsageEvent
from billing.packages.models import Entitlement, EntitlementEntry, UsageCoverage
from portal.periods import month_of

ZERO = Decimal(0)


@dataclass
class GroupCoverage:
    covered: Decimal = ZERO  # by entitlements, at the organization's price
    discount: Decimal = ZERO  # the plan's overage discount
    # entitlement public id -> [units drawn, value at list price]
    draws: dict[str, list[Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: [ZERO, ZERO])
    )


NOTHING = GroupCoverage()


def usage_coverage(
    organization, start: datetime, end: datetime, *, through_event_id: int | None = None
) -> tuple[dict[tuple, GroupCoverage], dict[str, Entitlement]]:
    """Coverage of the organization's events of [start, end) up to `through_event_id`, per
    (month, department, project, model), and the entitlements that drew, by public id. Reads
    the raw events (kept until their month is billed): the rollups do not know coverage.
    Summed in Python, exactly."""
    events = UsageEvent.objects.for_org(organization).filter(
        occurred_at__gte=start,
        occurred_at__lt=end,
        id__in=UsageCoverage.objects.for_org(organization).values("event_id"),
    )
    if through_event_id is not None:
        events = events.filter(id__lte=through_event_id)
    groups = {
        pk: (month_of(at), department, project, model, cost)
        for pk, at, department, project, model, cost in events.values_list(
            "id", "occurred_at", "department_id", "project_id", "model_id", "cost_amount"
        ).iterator(chunk_size=5000)
    }
    found: dict[tuple, GroupCoverage] = {}
    if not groups:
        return found, {}
    ids = events.values("id")
    rows = UsageCoverage.objects.for_org(organization).filter(event_id__in=ids)
    for event_id, covered, charged in rows.values_list(
        "event_id", "covered_amount", "charged_amount"
    ).iterator(chunk_size=5000):
        *key, cost = groups[event_id]
        group = found.setdefault(tuple(key), GroupCoverage())
        group.covered += covered
        group.discount += cost - covered - charged
    draws = EntitlementEntry.objects.for_org(organization).filter(
        kind=EntitlementEntry.Kind.DRAW, event_id__in=ids
    )
    drawn = defaultdict(list)
    for event_id, entitlement_id, units, value in draws.values_list(
        "event_id", "entitlement_id", "units", "value_amount"
    ).iterator(chunk_size=5000):
        drawn[entitlement_id].append((groups[event_id][:4], -units, value))
    entitlements = Entitlement.objects.select_related("offer").in_bulk(list(drawn))
    for entitlement_id, rows in drawn.items():
        public_id = entitlements[entitlement_id].public_id
        for key, units, value in rows:
            total = found[key].draws[public_id]
            total[0] += units
            total[1] += value
    return found, {e.public_id: e for e in entitlements.values()}


def billed_draws(lines) -> dict[tuple, dict[str, list[Decimal]]]:
    """What `lines` (InvoiceLine rows) list as covered, per (month, department, project,
    model) and entitlement public id: [units, value]."""
    billed: dict[tuple, dict] = defaultdict(lambda: defaultdict(lambda: [ZERO, ZERO]))
    for *key, coverage in lines.exclude(coverage=[]).values_list(
        "service_month", "department_id", "project_id", "model_id", "coverage"
    ):
        for item in coverage:
            total = billed[tuple(key)][item["entitlement"]]
            total[0] += Decimal(item["units"])
            total[1] += Decimal(item["value"])
    return billed


def line_coverage(group: GroupCoverage, before: dict, entitlements: dict) -> list[dict]:
    """The `coverage` of a line: each entitlement's draws in the group less what other lines
    listed (`before`), with what names it on the documents."""
    listed = []
    for public_id, (units, value) in sorted(group.draws.items()):
        billed_units, billed_value = before.get(public_id, (ZERO, ZERO))
        if units == billed_units and value == billed_value:
            continue
        entitlement = entitlements[public_id]
        listed.append({
            "entitlement": public_id,
            "reference": entitlement.reference or "",
            "name_en": entitlement.offer.name_en,
            "name_zh": entitlement.offer.name_zh,
            "unit": entitlement.unit,
            "units": str(units - billed_units),
            "value": str(value - billed_value),
        })  # fmt: skip
    return listed
