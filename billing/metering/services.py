"""Metering: ingest the gateway's usage batches, roll them up hourly, purge old raw events.

Ingestion (`ingest_usage`) validates a whole batch before writing anything, prices each event
once (billing.catalog.pricing.cost_of with effective_price cached per batch: the path of
pricing.price_event), and inserts with multi-row
`INSERT ... ON CONFLICT (request_id) DO NOTHING RETURNING id`: the unique constraint, not a
lookup, makes a request_id count once forever.

Rollups (`roll_up`) fold events into UsageRollup by event id: a watermark row holds the
highest id already folded. Why it is exact (docs/architecture.md, "Metering"):
- the upper bound of a run is read only after in-flight ingestions committed (PostgreSQL:
  ingestion holds a shared transaction advisory lock, the rollup takes the exclusive one just
  to read max(id); SQLite: one writer at a time, so every committed id is below any id an
  open writer holds), so no id below the bound can appear later;
- each step is one transaction that locks the watermark row (UPDATE ... RETURNING), adds
  the events of (watermark, watermark + step] with INSERT ... SELECT ... GROUP BY ... ON
  CONFLICT DO UPDATE, and moves the watermark: data and watermark commit together or not at
  all, and two runs serialize on the row.
"""

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from prometheus_client.core import GaugeMetricFamily

from billing.catalog.models import CatalogModel, PriceVersion
from billing.catalog.pricing import cost_of, effective_price
from billing.catalog.selectors import resolve_models
from billing.metering.models import WATERMARK, RollupWatermark, UsageEvent, UsageRollup
from billing.metering.selectors import watermark
from portal import ids, metrics
from portal.periods import business_zone, month_of, month_start
from projects.models import ApiKey
from projects.services import record_key_use

MAX_EVENTS = 5000
MAX_TOKENS = 10**12  # per event: far above any context window, far below the column's range
# request_id grammar: 1-128 characters of letters, digits and . _ : -
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The ids an event names, the grammar of each (portal/ids.py) and the error of an unknown one.
ID_FIELDS = (
    ("key_id", ids.is_public_id, gettext_lazy("Unknown API key.")),
    ("model", ids.is_model_id, gettext_lazy("Unknown model.")),
)
TOKEN_INPUTS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens")
REQUIRED_TOKENS = ("input_tokens", "output_tokens")
# How the call went, where the gateway reports it (optional): field -> accepted range.
CALL_FACTS = {"latency_ms": (0, 86_400_000), "status_code": (100, 599)}
# Any constant both sides agree on: ingestion shares it, the rollup's bound read excludes.
INGEST_LOCK = 0x7E7E_0006
INSERT_CHUNK = 1000
COST_SCALE = Decimal("1e-10")  # UsageEvent.cost_amount's decimal places

_EVENT_COLUMNS = (
    "request_id", "organization_id", "department_id", "project_id", "api_key_id", "model_id",
    "price_version_id", *TOKEN_INPUTS, "discount_percent", "cost_amount", "currency",
    "estimated", "occurred_at", "ingested_at", *CALL_FACTS,
)  # fmt: skip
_SUMS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens")


class InvalidBatch(Exception):
    """The batch was refused as a whole; `errors` is a list of {index, field, message}."""

    def __init__(self, errors: list[dict]):
        super().__init__(f"{len(errors)} invalid event(s)")
        self.errors = errors


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    events: list  # the newly inserted UsageEvent instances (ids set), for quotas and ledger


# --- Ingestion ---------------------------------------------------------------------------


# Quotas and invoicing sit above metering: they register at app ready (billing.apps) what
# ingested usage consumes, in the ingestion's transaction (quota counters, then the prepaid
# balance), and how far back raw events must be kept (not a month whose bill is open).
USAGE_CONSUMERS: list[Callable[[list[UsageEvent]], None]] = []
PURGE_LIMITS: list[Callable[[], datetime]] = []


def add_usage_consumer(consume: Callable[[list[UsageEvent]], None]) -> None:
    if consume not in USAGE_CONSUMERS:
        USAGE_CONSUMERS.append(consume)


def add_purge_limit(limit: Callable[[], datetime]) -> None:
    """`limit()` is a moment before which raw events may be purged as far as it knows."""
    if limit not in PURGE_LIMITS:
        PURGE_LIMITS.append(limit)


def ingest_usage(*, events, now: datetime | None = None) -> IngestResult:
    """Validate, price and store a gateway batch; all or nothing. Raises InvalidBatch."""
    now = now or timezone.now()
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        message = _("A list of 1 to %(max)d events is required.") % {"max": MAX_EVENTS}
        raise InvalidBatch([{"index": None, "field": "events", "message": message}])
    errors: list[dict] = []
    parsed = [_parse_event(index, event, now, errors) for index, event in enumerate(events)]
    # Keys and models are looked up for every event that names them, so one response lists
    # every problem of the batch.
    keys = ApiKey.objects.select_related("project__organization").in_bulk(
        {e["key_id"] for e in parsed if "key_id" in e}, field_name="public_id"
    )
    models = resolve_models({e["model"] for e in parsed if "model" in e})
    prices = _BatchPrices({m.pk for m in models.values()}, now)
    rows = []
    for index, event in enumerate(parsed):
        key, model = keys.get(event.get("key_id")), models.get(event.get("model"))
        if "key_id" in event and key is None:
            errors.append(_error(index, "key_id", _("Unknown API key.")))
        if "model" in event and model is None:
            errors.append(_error(index, "model", _("Unknown model.")))
        if key is None or model is None or not event["valid"]:
            continue
        price = prices.get(key.project.organization, model, event["occurred_at"])
        if price is None:
            errors.append(_error(index, "occurred_at", _("The model has no price at that time.")))
            continue
        rows.append(_row(event, key, model, price, now))
    if errors:
        raise InvalidBatch(errors)
    return _insert(rows)


def _error(index, field, message):
    return {"index": index, "field": field, "message": str(message)}


def _parse_event(index: int, event, now: datetime, errors: list) -> dict:
    """The event's valid values and whether it is valid as a whole; appends its errors."""
    if not isinstance(event, dict):
        errors.append(_error(index, "", _("Each event must be an object.")))
        return {"valid": False}
    before = len(errors)
    parsed = {"estimated": event.get("estimated", False)}
    request_id = event.get("request_id")
    if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
        errors.append(_error(index, "request_id", _("1 to 128 of A-Z a-z 0-9 . _ : -.")))
    for field, is_id, unknown in ID_FIELDS:
        value = event.get(field)
        if not isinstance(value, str) or not value:
            errors.append(_error(index, field, _("A non-empty string is required.")))
        elif not is_id(value):  # outside the id grammar: unknown, and never queried
            errors.append(_error(index, field, unknown))
        else:
            parsed[field] = value
    for field in TOKEN_INPUTS:
        value = event.get(field, None if field in REQUIRED_TOKENS else 0)
        if type(value) is not int or not 0 <= value <= MAX_TOKENS:
            message = _("An integer from 0 to %(max)d is required.") % {"max": MAX_TOKENS}
            errors.append(_error(index, field, message))
        parsed[field] = value
    for field, (low, high) in CALL_FACTS.items():
        value = event.get(field)
        if value is not None and (type(value) is not int or not low <= value <= high):
            message = _("An integer from %(low)d to %(high)d, or null.") % {
                "low": low,
                "high": high,
            }
            errors.append(_error(index, field, message))
        parsed[field] = value
    if not isinstance(parsed["estimated"], bool):
        errors.append(_error(index, "estimated", _("A boolean is required.")))
    occurred_at = event.get("occurred_at")
    at = parse_datetime(occurred_at) if isinstance(occurred_at, str) else None
    if at is None or at.tzinfo is None:
        errors.append(_error(index, "occurred_at", _("An ISO 8601 time with a UTC offset.")))
    elif at < now - timedelta(days=settings.USAGE_ACCEPTANCE_WINDOW_DAYS):
        errors.append(_error(index, "occurred_at", _("Older than the acceptance window.")))
    elif at > now + timedelta(seconds=settings.USAGE_CLOCK_SKEW_SECONDS):
        errors.append(_error(index, "occurred_at", _("In the future.")))
    else:
        parsed["occurred_at"] = at
    parsed["request_id"] = request_id
    parsed["valid"] = len(errors) == before
    return parsed


class _BatchPrices:
    """effective_price() once per (organization, model, business day, price version).

    The versions of every model in the batch are read in one query; which one is in force at
    an event's time is the same rule as pricing.price_in_force (latest effective_from <= at).
    """

    def __init__(self, model_pks: set[int], now: datetime):
        self.starts: dict[int, list] = {}
        versions = PriceVersion.objects.filter(model__in=model_pks, effective_from__lte=now)
        for version in versions.order_by("effective_from").only("pk", "model", "effective_from"):
            starts = self.starts.setdefault(version.model_id, [])
            starts.append((version.effective_from, version.pk))
        self.cache: dict[tuple, object] = {}

    def get(self, organization, model: CatalogModel, at: datetime):
        starts = self.starts.get(model.pk, [])
        position = bisect_right(starts, (at, float("inf")))
        if position == 0:
            return None
        version_pk = starts[position - 1][1]
        day = at.astimezone(business_zone()).date()
        key = (organization.pk, model.pk, day, version_pk)
        if key not in self.cache:
            self.cache[key] = effective_price(organization=organization, model=model, at=at)
        return self.cache[key]


def _row(event, key, model, price, now) -> dict:
    tokens = {field: event[field] for field in TOKEN_INPUTS}
    return {
        "request_id": event["request_id"],
        "organization_id": key.project.organization_id,
        "department_id": key.project.department_id,
        "project_id": key.project_id,
        "api_key_id": key.pk,
        "model_id": model.pk,
        "price_version_id": price.price_version.pk,
        **tokens,
        "discount_percent": price.discount_percent,
        # At the column's scale, so the ledger charges exactly what the rollups will sum.
        "cost_amount": cost_of(price=price, at=event["occurred_at"], **tokens).quantize(
            COST_SCALE, ROUND_HALF_UP
        ),
        "currency": price.currency,
        "estimated": event.get("estimated", False),
        "occurred_at": event["occurred_at"],
        "ingested_at": now,
        **{field: event[field] for field in CALL_FACTS},
    }


_PG_TYPES = {
    "request_id": "text", "discount_percent": "numeric", "cost_amount": "numeric",
    "currency": "text", "estimated": "boolean", "occurred_at": "timestamptz",
    "ingested_at": "timestamptz",
}  # fmt: skip


def _insert_chunk(cursor, chunk: list[dict]) -> list[tuple]:
    """INSERT ... ON CONFLICT (request_id) DO NOTHING RETURNING id, request_id."""
    table = connection.ops.quote_name(UsageEvent._meta.db_table)
    columns = ", ".join(_EVENT_COLUMNS)
    conflict = "ON CONFLICT (request_id) DO NOTHING RETURNING id, request_id"
    if connection.vendor == "postgresql":
        # One array per column: 17 parameters whatever the chunk size, bound fast.
        arrays = ", ".join(f"%s::{_PG_TYPES.get(c, 'bigint')}[]" for c in _EVENT_COLUMNS)
        params = [[row[c] for row in chunk] for c in _EVENT_COLUMNS]
        sql = f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) {conflict}"  # noqa: S608
    else:
        fields = {f.attname: f for f in UsageEvent._meta.concrete_fields}
        one = "(" + ", ".join(["%s"] * len(_EVENT_COLUMNS)) + ")"
        params = [
            fields[c].get_db_prep_save(row[c], connection) for row in chunk for c in _EVENT_COLUMNS
        ]
        sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(chunk))} {conflict}"  # noqa: S608
    cursor.execute(sql, params)
    return cursor.fetchall()


def _insert(rows: list[dict]) -> IngestResult:
    unique: dict[str, dict] = {}
    for row in rows:
        unique.setdefault(row["request_id"], row)
    # Inserted in request id order: batches that share ids (a gateway's retries racing) take
    # their unique-index locks in one global order, so they wait for each other, never deadlock.
    batch = sorted(unique.values(), key=lambda row: row["request_id"])
    new: list[UsageEvent] = []
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Held to commit: the rollup's bound read waits for this batch (docs: "Metering").
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [INGEST_LOCK])
        for start in range(0, len(batch), INSERT_CHUNK):
            inserted = _insert_chunk(cursor, batch[start : start + INSERT_CHUNK])
            new.extend(UsageEvent(id=pk, **unique[request_id]) for pk, request_id in inserted)
        # What the new events consume, in the same transaction: nothing counted twice or lost.
        for consume in USAGE_CONSUMERS:
            consume(new)
        record_key_use(last_used=_latest_call_per_key(new))
    result = IngestResult(accepted=len(new), duplicates=len(rows) - len(new), events=new)
    metrics.record_ingestion(result)
    return result


def _latest_call_per_key(events: list[UsageEvent]) -> dict[int, datetime]:
    latest: dict[int, datetime] = {}
    for event in events:
        known = latest.get(event.api_key_id)
        if known is None or event.occurred_at > known:
            latest[event.api_key_id] = event.occurred_at
    return latest


# --- Rollups ------------------------------------------------------------------------------


def _hour_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    return f"strftime('%%Y-%%m-%%d %%H:00:00', {column})"


def _rollup_sql(where: str) -> str:
    """INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE over the events in `where`."""
    groups = "organization_id, department_id, project_id, api_key_id, model_id"
    sums = ", ".join(f"SUM({c})" for c in _SUMS)
    updates = ", ".join(
        f"{c} = billing_usagerollup.{c} + EXCLUDED.{c}" for c in ("requests", *_SUMS, "cost_amount")
    )
    return (
        f"INSERT INTO billing_usagerollup (hour, {groups}, requests, {', '.join(_SUMS)}, "  # noqa: S608
        "cost_amount, currency) "
        f"SELECT {_hour_sql('occurred_at')}, {groups}, COUNT(*), {sums}, SUM(cost_amount), "
        f"MAX(currency) FROM billing_usageevent WHERE {where} "
        f"GROUP BY {_hour_sql('occurred_at')}, {groups} "
        "ON CONFLICT (hour, organization_id, COALESCE(department_id, 0), project_id, api_key_id, "
        f"model_id) DO UPDATE SET {updates}"
    )


def _ensure_watermark() -> None:
    RollupWatermark.objects.bulk_create([RollupWatermark(name=WATERMARK)], ignore_conflicts=True)


def _lock_watermark(cursor) -> int:
    """Lock the watermark row until the end of the transaction; its committed value."""
    cursor.execute(
        "UPDATE billing_rollupwatermark SET updated_at = %s WHERE name = %s "
        "RETURNING last_event_id",
        [connection.ops.adapt_datetimefield_value(timezone.now()), WATERMARK],
    )
    return cursor.fetchone()[0]


def exclude_ingestion(cursor) -> None:
    """Until the current transaction ends, no ingestion batch is in flight: waits for every
    batch holding the shared lock to commit, and makes new batches wait for this commit.

    PostgreSQL only: on SQLite there is one writer at a time, so a transaction that has
    written excludes ingestion already."""
    if connection.vendor == "postgresql":
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [INGEST_LOCK])


def safe_upper_bound() -> int:
    """The highest event id below which no event can still be committed."""
    with transaction.atomic(), connection.cursor() as cursor:
        exclude_ingestion(cursor)
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM billing_usageevent")
        return cursor.fetchone()[0]


def roll_up(*, step: int | None = None) -> int:
    """Fold every committed event above the watermark into the rollups, `step` events per
    transaction; returns the watermark reached."""
    step = step or settings.USAGE_ROLLUP_STEP
    _ensure_watermark()
    upper = safe_upper_bound()
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            low = _lock_watermark(cursor)
            if low >= upper:
                return low
            # The id `step` events further on (ids have gaps: rolled-back batches, purges).
            cursor.execute(
                "SELECT COALESCE((SELECT id FROM billing_usageevent WHERE id > %s AND id <= %s "
                "ORDER BY id LIMIT 1 OFFSET %s), %s)",
                [low, upper, step - 1, upper],
            )
            high = cursor.fetchone()[0]
            cursor.execute(_rollup_sql("id > %s AND id <= %s"), [low, high])
            cursor.execute(
                "UPDATE billing_rollupwatermark SET last_event_id = %s WHERE name = %s",
                [high, WATERMARK],
            )


@dataclass(frozen=True)
class IngestionLag:
    """How far the rollups trail ingestion: the events not yet rolled up, and the time between
    the newest ingested event and the oldest one still waiting (zero when caught up)."""

    pending_events: int
    seconds: float


def ingestion_lag(now: datetime | None = None) -> IngestionLag:
    now = now or timezone.now()
    waiting = UsageEvent.objects.filter(id__gt=watermark())
    oldest_waiting = waiting.order_by("id").values_list("ingested_at", flat=True).first()
    if oldest_waiting is None:
        return IngestionLag(pending_events=0, seconds=0.0)
    return IngestionLag(
        pending_events=waiting.count(),
        seconds=max((now - oldest_waiting).total_seconds(), 0.0),
    )


class RollupLagCollector:
    """How far the rollups trail ingestion, read from the database when scraped."""

    def collect(self):
        lag = ingestion_lag()
        yield GaugeMetricFamily(
            "portal_usage_rollup_lag_seconds",
            "Age of the oldest ingested usage event not yet rolled up (0 when caught up).",
            value=lag.seconds,
        )
        yield GaugeMetricFamily(
            "portal_usage_rollup_pending_events",
            "Ingested usage events not yet rolled up.",
            value=lag.pending_events,
        )


def rebuild_rollups(*, organization=None, since: datetime | None = None) -> int:
    """Recompute the rollups of the selection from raw events, in one transaction that holds
    the watermark lock (so no incremental step runs meanwhile). Rows deleted and rewritten."""
    floor = retention_cutoff()
    # Whole hours only, and never before the oldest month whose raw events are all kept.
    since = max(since, floor) if since else floor
    since = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    _ensure_watermark()
    with transaction.atomic(), connection.cursor() as cursor:
        mark = _lock_watermark(cursor)
        rollups = UsageRollup.objects.filter(hour__gte=since)
        where = "id <= %s AND occurred_at >= %s"
        params = [mark, connection.ops.adapt_datetimefield_value(since)]
        if organization is not None:
            rollups = rollups.filter(organization=organization)
            where += " AND organization_id = %s"
            params.append(organization.pk)
        rollups.delete()
        cursor.execute(_rollup_sql(where), params)
        return cursor.rowcount


# --- Retention ----------------------------------------------------------------------------


def retention_cutoff(now: datetime | None = None) -> datetime:
    """Start of the business month holding now - USAGE_RETENTION_DAYS: raw events from there
    on are always kept, so rollups can be rebuilt from there."""
    now = now or timezone.now()
    return month_start(month_of(now - timedelta(days=settings.USAGE_RETENTION_DAYS)))


def purge_horizon(now: datetime | None = None) -> datetime:
    """Raw events strictly before this may be purged: the retention cutoff, but never a month
    that still has events not rolled up, nor one a PURGE_LIMITS registrant keeps (invoicing:
    a month whose invoice is not issued)."""
    horizon = min([retention_cutoff(now), *(limit() for limit in PURGE_LIMITS)])
    oldest_open = (
        UsageEvent.objects.filter(id__gt=watermark())
        .order_by("occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )
    if oldest_open is not None:
        horizon = min(horizon, month_start(month_of(oldest_open)))
    return horizon


def purge_events(now: datetime | None = None) -> int:
    """Delete raw events before purge_horizon(); their rollups stay. Returns how many."""
    deleted, _per_model = UsageEvent.objects.filter(occurred_at__lt=purge_horizon(now)).delete()
    return deleted
