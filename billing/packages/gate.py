"""What authorize learns of packs and plan allowances, from the cache.

Each organization's entitlements in force are cached as one small snapshot (at most four
queries to build, whatever the number of packs; dropped when a grant, draw, allocation or
expiry commits, else rebuilt after PACKAGE_SNAPSHOT_SECONDS): per entitlement, what is left,
the models it covers (None: all) and the departments whose keys may draw it (None: every
key). The balance check lets a call through on an empty balance when an entitlement covers
it, and the allowed answer's `limits` list what is left of those entitlements. Both read the
snapshot that authorize fetched with the key, so neither adds a round trip.
"""

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.selectors import department_subtrees
from billing.packages.models import Entitlement
from billing.packages.selectors import covered_model_ids


def snapshot_key(org_id: int) -> str:
    return f"ent:{org_id}"


def snapshot_keys(call) -> list[str]:
    return [snapshot_key(call.key["organization_pk"])]


def build_snapshot(org_id: int) -> list[dict]:
    now = timezone.now()
    held = list(
        Entitlement.objects.filter(organization_id=org_id, consumed__lt=F("granted"))
        .in_force(now)
        .select_related("terms")
    )
    # What every entitlement covers and who may draw it, read for all at once: a cold build
    # costs the same few queries whatever the number of packs.
    scoped = covered_model_ids([e.terms for e in held])
    subtrees = department_subtrees(org_id, {e.department_id for e in held if e.department_id})
    entries = []
    for entitlement in held:
        terms = entitlement.terms
        # None: every model. Weighted counting covers its whole scope too, as the draw does
        # (drawdown.covers): a model without a frozen weight counts at its list price's.
        models = scoped.get(terms.pk)
        departments = None
        if entitlement.department_id:
            departments = sorted(subtrees[entitlement.department_id])
        entries.append(
            {
                "id": entitlement.public_id,
                "unit": entitlement.unit,
                "remaining": f"{entitlement.remaining.normalize():f}",
                "expires_at": entitlement.expires_at.isoformat(),
                "models": None if models is None else sorted(models),
                "departments": departments,
                "order": [
                    entitlement.source != Entitlement.Source.PACK,
                    entitlement.expires_at.isoformat(),
                ],
            }
        )
    entries.sort(key=lambda e: e["order"])  # packs first, then by expiry: the draw order
    return entries


def snapshot(org_id: int, found=cache) -> list[dict]:
    """`found`: anything with `get_many(keys)`, the cache or the entries authorize fetched."""
    key = snapshot_key(org_id)
    value = found.get_many([key]).get(key)
    if value is None:
        value = build_snapshot(org_id)
        cache.set(key, value, settings.PACKAGE_SNAPSHOT_SECONDS)
    return value


def covering_entries(call, found) -> list[dict]:
    model_id, department = call.model["model_id"], call.key["department_pk"]
    return [
        entry
        for entry in snapshot(call.key["organization_pk"], found)
        if (entry["models"] is None or model_id in entry["models"])
        and (entry["departments"] is None or department in entry["departments"])
    ]


def covers(call, found) -> bool:
    return bool(covering_entries(call, found))


def describe_limits(call, found) -> dict:
    """authorize's `limits` addition: the entitlements this call would draw, in draw order."""
    entries = covering_entries(call, found)
    if not entries:
        return {}
    return {
        "entitlements": [
            {key: entry[key] for key in ("id", "unit", "remaining", "expires_at")}
            for entry in entries
        ]
    }


describe_limits.cache_keys = snapshot_keys


def invalidate(org_id: int) -> None:
    transaction.on_commit(lambda: cache.delete(snapshot_key(org_id)))
