"""Usage and cost reads: time buckets in the business time zone, grouped and filtered.

Reads that count every event so far (these pages and API, quotas, the billing summary and
the ledger's headroom) go through `rollups_plus_tail`: the hourly rollups plus the events
the rollup has not reached yet, in one SQL statement. Rollup hours are UTC hours; a business
time zone with a whole-hour offset (Asia/Shanghai) cuts days and months on hour boundaries,
so day and month buckets are exact.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Trunc

from accounts.permissions import Action
from billing.metering.models import WATERMARK, RollupWatermark, UsageEvent, UsageRollup
from portal.periods import add_months, business_zone, month_start

# API name -> path on UsageRollup / UsageEvent (public identifiers only).
GROUPS = {
    "project_id": "project__public_id",
    "department_id": "department__public_id",
    "api_key_id": "api_key__public_id",
    "model": "model__model_id",
}
FILTERS = {
    "project_ids": "project_id",
    "department_ids": "department_id",
    "api_key_ids": "api_key_id",
    "models": "model",
}
WIDTHS = {"1h": "hour", "1d": "day", "1mo": "month"}
TOKENS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens")


@dataclass
class Selection:
    """Which usage: [start, end) cut into `width` buckets, grouped and filtered."""

    start: datetime
    end: datetime
    width: str = "1d"
    group_by: list[str] = field(default_factory=list)
    filters: dict[str, list[str]] = field(default_factory=dict)
    by_currency: bool = False


def watermark() -> int:
    """The id of the last event folded into the rollups (0 before the first run)."""
    return (
        RollupWatermark.objects.filter(name=WATERMARK)
        .values_list("last_event_id", flat=True)
        .first()
        or 0
    )


def rollups_plus_tail(shape) -> QuerySet:
    """Usage rows from the hourly rollups plus the events above the watermark, as ONE SQL
    statement (UNION ALL, the watermark a subquery): both halves come from one snapshot, so
    an event is counted either in its rollup or in the tail, never both, never none.

    `shape(rows, time_field, requests)` filters and groups one half into a values()
    queryset, with the same columns for both halves: `rows` holds UsageRollup or UsageEvent
    rows, `time_field` is "hour" or "occurred_at", `requests` counts calls (Sum("requests")
    or Count("id")). A group may appear in both halves: the caller adds up equal keys."""
    mark = RollupWatermark.objects.filter(name=WATERMARK).values("last_event_id")
    # The subquery decides (same snapshot as the rollups); the value read just before is a
    # lower bound of it (the watermark only moves forward) that lets the planner walk the
    # primary key instead of the period's events.
    tail = UsageEvent.objects.filter(id__gt=watermark()).filter(
        id__gt=Coalesce(Subquery(mark), Value(0))
    )
    rolled = shape(UsageRollup.objects.all(), "hour", Sum("requests"))
    return rolled.union(shape(tail, "occurred_at", Count("id")), all=True)


def monthly_usage(organization, start: datetime, end: datetime, *, through_event_id=None):
    """The organization's usage of [start, end) per (business month, department, project,
    model, currency), from the rollups plus the tail (`rollups_plus_tail`), the tail cut at
    `through_event_id` when given (the rollups must not reach past it: invoicing locks the
    watermark). Rows: month (the local datetime of its first instant), the group, n (calls),
    sum_<token class>, cost; a group may come twice (once per half): the caller adds them
    up."""

    def shaped(rows, time_field, requests):
        if time_field == "occurred_at" and through_event_id is not None:
            rows = rows.filter(id__lte=through_event_id)
        return (
            rows.for_org(organization)
            .filter(**{f"{time_field}__gte": start, f"{time_field}__lt": end})
            .values(
                "department_id",
                "project_id",
                "model_id",
                "currency",
                month=Trunc(time_field, "month", tzinfo=business_zone()),
            )
            .annotate(n=requests, **{f"sum_{t}": Sum(t) for t in TOKENS}, cost=Sum("cost_amount"))
        )

    return list(rollups_plus_tail(shaped))


def locked_watermark() -> int:
    """The rollup watermark, its row locked until the caller's transaction ends: no rollup
    step (nor rebuild) commits meanwhile, so the rollups read in it stay those of this
    watermark; two callers take turns (invoicing's closes)."""
    RollupWatermark.objects.get_or_create(name=WATERMARK)
    row = RollupWatermark.objects.select_for_update().get(name=WATERMARK)
    return row.last_event_id


def floor_bucket(at: datetime, width: str) -> datetime:
    local = at.astimezone(business_zone()).replace(minute=0, second=0, microsecond=0)
    if width in ("1d", "1mo"):
        local = local.replace(hour=0)
    if width == "1mo":
        local = local.replace(day=1)
    return local


def next_bucket(start: datetime, width: str) -> datetime:
    """The start of the bucket after `start` (an aligned bucket start)."""
    if width == "1h":
        return (start + timedelta(hours=1)).astimezone(business_zone())
    if width == "1d":
        # Wall-clock arithmetic, then back to the zone: a day is a calendar day.
        return (start.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=business_zone())
    return month_start(add_months(start.date(), 1))


def bucket_starts(start: datetime, end: datetime, width: str, limit: int) -> list[datetime]:
    """Up to `limit` + 1 bucket starts from the bucket holding `start`, before `end`."""
    starts, at = [], floor_bucket(start, width)
    while at < end and len(starts) <= limit:
        starts.append(at)
        at = next_bucket(at, width)
    return starts


def usage_rows(membership, selection: Selection) -> list[dict]:
    """Totals per (bucket, group): requests, token sums, cost_amount (and currency)."""
    kind = WIDTHS[selection.width]
    keys = [f"g_{name}" for name in selection.group_by]
    if selection.by_currency:
        keys.append("currency")

    def shaped(queryset, time_field, requests):
        scoped = queryset.for_member(membership, Action.VIEW_USAGE).filter(
            **{f"{time_field}__gte": selection.start, f"{time_field}__lt": selection.end},
            **{
                f"{GROUPS[FILTERS[name]]}__in": values
                for name, values in selection.filters.items()
                if values
            },
        )
        return scoped.values(
            *(["currency"] if selection.by_currency else []),
            bucket=Trunc(time_field, kind, tzinfo=business_zone()),
            **{f"g_{name}": F(GROUPS[name]) for name in selection.group_by},
        ).annotate(
            n=requests,
            **{f"sum_{t}": Sum(t) for t in TOKENS},
            cost=Sum("cost_amount"),
        )

    merged: dict[tuple, dict] = {}
    for row in rollups_plus_tail(shaped):
        group = (row["bucket"], *(row[k] for k in keys))
        total = merged.setdefault(
            group,
            {"bucket": row["bucket"], **{k: row[k] for k in keys}, "requests": 0,
             **dict.fromkeys(TOKENS, 0), "cost_amount": Decimal(0)},
        )  # fmt: skip
        total["requests"] += row["n"]
        for t in TOKENS:
            total[t] += row[f"sum_{t}"]
        total["cost_amount"] += row["cost"]
    return [
        {
            **{k: v for k, v in row.items() if not k.startswith("g_")},
            "group": {name: row[f"g_{name}"] for name in selection.group_by},
        }
        for row in merged.values()
    ]


# --- The usage pages and the overview -------------------------------------------------------

DIMENSIONS = ("model", "project_id", "department_id")
LONGEST_PERIOD = 366  # days a usage page may cover


@dataclass
class PeriodTotals:
    """Tokens and cost per currency of [start, end)."""

    start: datetime
    end: datetime
    tokens: int
    costs: dict  # currency -> Decimal


@dataclass
class PeriodReport:
    """A period's usage for the usage pages: totals, the previous period, daily rows by
    `by`, the top models and keys."""

    start: datetime
    end: datetime
    days: list  # business dates of the period, up to now
    tokens: int
    costs: dict  # currency -> Decimal
    forecast: dict  # currency -> Decimal; only for the running month (linear_forecast)
    previous: PeriodTotals
    chart: dict  # {"by", "days": ["2026-11-05", ...], "series": [{"name", "tokens", "cost"}]}
    daily: list  # rows: day (date), name, tokens, cost (Decimal), currency
    top_models: list  # rows: id, requests, tokens, cost, currency
    top_keys: list

    @property
    def cost_comparison(self) -> list[dict]:
        """Per currency: amount, before (the previous period) and change (%, or None)."""
        zero = Decimal(0)
        rows = []
        for currency in sorted(set(self.costs) | set(self.previous.costs)):
            amount = self.costs.get(currency, zero)
            before = self.previous.costs.get(currency, zero)
            rows.append(
                {"currency": currency, "amount": amount, "before": before,
                 "change": change_percent(amount, before)}
            )  # fmt: skip
        return rows

    @property
    def tokens_change(self):
        return change_percent(self.tokens, self.previous.tokens)


def change_percent(now, before):
    """(now - before) / before in percent, as a Decimal; None when before is zero."""
    if not before:
        return None
    return (Decimal(now) - Decimal(before)) * 100 / Decimal(before)


def _tokens(row) -> int:
    return sum(row[t] for t in TOKENS)


def linear_forecast(costs: dict, start: datetime, end: datetime, now: datetime) -> dict:
    """Cost so far / days elapsed (fractional) x days in [start, end): nothing cleverer, and
    the pages say so. The usage pages and the overview forecast the month with it."""
    elapsed = (now - start) / timedelta(days=1)
    if elapsed <= 0:
        return {}
    length = (end - start) / timedelta(days=1)
    return {c: amount / Decimal(elapsed) * Decimal(length) for c, amount in costs.items()}


def previous_period(start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The period to compare [start, end) with: as long as its part up to `now`, starting a
    calendar month earlier when the period starts on a month's first day (month over month:
    1-4 December against 1-4 November), else just before it."""
    length = min(end, now) - start
    local = start.astimezone(business_zone())
    if local == floor_bucket(local, "1mo"):
        earlier = month_start(add_months(local.date(), -1))
        return earlier, min(earlier + length, start)
    return start - length, start


def period_totals(membership, start: datetime, end: datetime, filters=None) -> PeriodTotals:
    rows = usage_rows(membership, Selection(start, end, "1mo", [], filters or {}, True))
    costs: dict = {}
    for row in rows:
        costs[row["currency"]] = costs.get(row["currency"], Decimal(0)) + row["cost_amount"]
    return PeriodTotals(start, end, sum(_tokens(row) for row in rows), costs)


def period_report(
    membership, *, start, end, now, by="model", filters=None, names=None
) -> PeriodReport:
    """The usage of [start, end) (business-zone bounds) seen by `membership`."""
    filters = filters or {}
    names = names or {}
    daily = usage_rows(membership, Selection(start, end, "1d", [by], filters, by_currency=True))
    days = bucket_starts(start, min(end, now), "1d", LONGEST_PERIOD)
    costs: dict = {}
    for row in daily:
        costs[row["currency"]] = costs.get(row["currency"], Decimal(0)) + row["cost_amount"]
    running_month = start == floor_bucket(now, "1mo") and end == next_bucket(start, "1mo")
    series: dict = {}
    index = {day: i for i, day in enumerate(days)}
    for row in daily:
        name = row["group"][by]
        line = series.setdefault(name, {"tokens": [0] * len(days), "cost": [0.0] * len(days)})
        i = index.get(row["bucket"])
        if i is not None:  # (an event inside the clock skew may be dated tomorrow)
            line["tokens"][i] += _tokens(row)
            line["cost"][i] += float(row["cost_amount"])  # the chart only; tables stay Decimal
    chart = {
        "by": by,
        "days": [day.date().isoformat() for day in days],
        "series": [
            {"name": names.get(name, name) or "—", **values}
            for name, values in sorted(series.items(), key=lambda item: str(item[0]))
        ],
    }
    rows = sorted(daily, key=lambda row: (row["bucket"], str(row["group"][by])))
    return PeriodReport(
        start=start,
        end=end,
        days=days,
        tokens=sum(_tokens(row) for row in daily),
        costs=costs,
        forecast=linear_forecast(costs, start, end, now) if running_month else {},
        previous=period_totals(membership, *previous_period(start, end, now), filters),
        chart=chart,
        daily=[
            {
                "day": row["bucket"].date(),
                "name": names.get(row["group"][by], row["group"][by]) or "—",
                "tokens": _tokens(row),
                "cost": row["cost_amount"],
                "currency": row["currency"],
            }
            for row in rows
        ],
        top_models=top_usage(membership, start, end, "model", filters),
        top_keys=top_usage(membership, start, end, "api_key_id", filters),
    )


def month_report(membership, *, now, by="model", filters=None, names=None) -> PeriodReport:
    """The business month of `now`, to date."""
    start = floor_bucket(now, "1mo")
    return period_report(
        membership,
        start=start,
        end=next_bucket(start, "1mo"),
        now=now,
        by=by,
        filters=filters,
        names=names,
    )


def top_usage(membership, start, end, group, filters=None, limit=10) -> list:
    """The `limit` biggest `group`s (a GROUPS name) of [start, end) by cost."""
    selection = Selection(start, end, "1mo", [group], filters or {}, by_currency=True)
    totals: dict = {}
    for row in usage_rows(membership, selection):  # a period may span several months
        key = (row["group"][group], row["currency"])
        total = totals.setdefault(
            key, {"id": key[0], "requests": 0, "tokens": 0, "cost": Decimal(0), "currency": key[1]}
        )
        total["requests"] += row["requests"]
        total["tokens"] += _tokens(row)
        total["cost"] += row["cost_amount"]
    return sorted(totals.values(), key=lambda row: row["cost"], reverse=True)[:limit]


# --- The call log ---------------------------------------------------------------------------


def calls() -> QuerySet:
    """Usage events as the call log shows them: one per call, with its project, key and
    model (scope it with for_member)."""
    return UsageEvent.objects.select_related("project", "api_key", "model")


def calls_after(events, position: tuple | None, *, size: int, newer: bool = False):
    """Up to `size` events in log order (newest first, by (occurred_at, id)) after `position`
    = (occurred_at, id); with newer=True the `size` before it instead, oldest first.

    `occurred_at <= t` (>=) bounds the index range, the OR then drops the ties at t up to
    the id: an index on (..., occurred_at, id) reads about `size` rows, however deep."""
    if position is not None:
        at, pk = position
        if newer:
            events = events.filter(occurred_at__gte=at).filter(Q(occurred_at__gt=at) | Q(id__gt=pk))
        else:
            events = events.filter(occurred_at__lte=at).filter(Q(occurred_at__lt=at) | Q(id__lt=pk))
    order = ("occurred_at", "id") if newer else ("-occurred_at", "-id")
    return events.order_by(*order)[:size]
