"""The one shape of `AuditEvent.changes`, for writers and readers.

Writers (every service, through `accounts.audit_trail.record_actor_event`) record
``{"before": {field: old}, "after": {field: new}}`` with only the fields that matter; a side
with nothing in it is left out (a creation has only "after", a deletion only "before"), and
facts of an event that are not a field's change (an amount paid, a reason) are "after"
values. `diff()` and `apply()` build it; record_audit_event refuses any other shape.

Rows are append-only, so rows written before this rule keep their older shapes. Every reader
(the audit page, the API, the CSV downloads, the staff console) goes through
`normalize_changes()`, which reads them all:

- ``{"before": {...}, "after": {...}}`` (accounts, model catalog, relay channels): as is;
- ``{field: [old, new], ...}`` (projects, API keys, quotas, gateway credentials);
- ``{field: value, ...}`` (billing, exports, support sessions, the staff console's
  ``{"admin": <Django change message>}``): values are "after" values.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format

SIDES = ("before", "after")
_MISSING = object()


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict:
    """The changes between two {field: value} snapshots: only the fields whose value differs
    (a field in one snapshot only counts as changed)."""
    fields = [*before, *(field for field in after if field not in before)]
    changed = [f for f in fields if before.get(f, _MISSING) != after.get(f, _MISSING)]
    return changes(
        before={f: before[f] for f in changed if f in before},
        after={f: after[f] for f in changed if f in after},
    )


def changes(*, before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None):
    """{"before": ..., "after": ...} without the empty sides; {} when both are empty."""
    sides = {"before": before, "after": after}
    return {side: dict(values) for side, values in sides.items() if values}


def apply(instance: models.Model, data: Mapping[str, Any]) -> dict:
    """Set `data` on `instance`; return the changes of the fields whose value changed
    (related objects recorded by their public id)."""
    before, after = {}, {}
    for field, value in data.items():
        old = getattr(instance, field)
        if old != value:
            before[field], after[field] = plain(old), plain(value)
            setattr(instance, field, value)
    return changes(before=before, after=after)


def plain(value):
    """Related objects are recorded by their public id."""
    if isinstance(value, models.Model):
        return getattr(value, "public_id", value.pk)
    return value


def is_canonical(value) -> bool:
    """Whether `value` is in the shape writers must use."""
    return isinstance(value, Mapping) and all(
        side in SIDES and isinstance(part, Mapping) for side, part in value.items()
    )


# --- Readers -----------------------------------------------------------------------------


def normalize_changes(stored) -> dict[str, dict[str, Any]]:
    """Any stored `changes` (see the module doc) as {"before": {...}, "after": {...}}, both
    keys always present. Readers use this, never the stored value."""
    if not stored or not isinstance(stored, Mapping):
        return {"before": {}, "after": {}}
    if _is_before_after(stored):
        return {side: dict(stored.get(side) or {}) for side in SIDES}
    if _is_pairs(stored):
        return {
            "before": {field: pair[0] for field, pair in stored.items()},
            "after": {field: pair[1] for field, pair in stored.items()},
        }
    return {"before": {}, "after": dict(stored)}


def _is_before_after(stored: Mapping) -> bool:
    return set(stored) <= set(SIDES) and all(isinstance(v, Mapping) for v in stored.values())


def _is_pairs(stored: Mapping) -> bool:
    # The staff console's {"admin": [message parts]} is a fact, even with two parts.
    return set(stored) != {"admin"} and all(
        isinstance(value, list) and len(value) == 2 for value in stored.values()
    )


@dataclass(frozen=True)
class FieldChange:
    """One line of an event's changes as display text ("" where no value was recorded)."""

    field: str
    before: str
    after: str


def change_rows(stored) -> list[FieldChange]:
    """The fields of normalize_changes(stored), in the order they were recorded, with their
    values as display text."""
    normalized = normalize_changes(stored)
    before, after = normalized["before"], normalized["after"]
    fields = [*before, *(field for field in after if field not in before)]
    return [
        FieldChange(
            field=field,
            before=display_value(before.get(field)),
            after=display_value(after.get(field)),
        )
        for field in fields
    ]


def display_value(value) -> str:
    """A recorded value as text: strings as they are, but a recorded moment (an ISO time, kept
    in UTC or any offset) in the reader's time zone, as the page's times; None as "", the rest
    as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        moment = _moment(value)
        if moment is None:
            return value
        return date_format(timezone.localtime(moment), "Y-m-d H:i:s")
    return json.dumps(value, ensure_ascii=False)


def _moment(value: str):
    """The aware datetime an ISO text with a time and an offset names, else None."""
    if "T" not in value[:11]:
        return None
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    return moment if moment is not None and timezone.is_aware(moment) else None


def changes_text(stored) -> str:
    """normalize_changes(stored) as one JSON text for CSV cells; "" when nothing changed."""
    normalized = normalize_changes(stored)
    if not any(normalized.values()):
        return ""
    return json.dumps(normalized, ensure_ascii=False)
