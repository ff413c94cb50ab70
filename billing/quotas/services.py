"""Quotas: settings changes, consumption (record_usage), the gateway check, alerts, requests.

Consumption. `record_usage(events)` is called by ingestion inside its transaction with the
newly inserted UsageEvents. It adds each event to the current QuotaPeriod row of every
quota that applies (the key's, the project's, those of the department and every ancestor,
the organization's) with F() updates in a fixed order (no deadlocks between batches). A
period's row is created at zero when its first event arrives, so a new period starts at
zero by construction. Tokens count input + output + cached input + cache write: every token
the model read or wrote, each once, since the gateway contract's input_tokens exclude the
cached and cache-write ones (docs/gateway-contract.md).

Usage before the quota. A quota counts the usage of its whole running period, also what was
recorded before it existed: creating a quota, or changing its period or dates, sets the
running period's row to the usage already recorded in it (`_usage_in`) for the quota's
scope (`_recount`, the same scope rule as `record_usage`), alerts at once for the highest
threshold already crossed and publishes the counter after commit, so a blocking quota
created over its limit refuses the next call.

Why every event counts exactly once (PostgreSQL, READ COMMITTED): ingestion inserts its
events and runs `record_usage` while holding the shared INGEST_LOCK until it commits. The
recount first takes the exclusive lock (metering.exclude_ingestion), held to its commit:
- a batch in flight when the lock is asked for commits before the lock is granted; the
  recount's SELECT, a later statement, sees its events, while its `record_usage` ran before
  the quota was committed and so did not see the quota: counted once, by the recount;
- a batch that starts later waits for the shared lock until the recount committed; its
  events are inserted after the recount's SELECT (not in the sum) and its `record_usage`
  reads the quotas after the commit (sees the quota and adds them): counted once, there.
The lock is taken before any row is written or locked, so it cannot deadlock with a batch.
SQLite opens every writing transaction with BEGIN IMMEDIATE (one writer at a time): no
batch is in flight while the recount reads, and later batches see the committed quota.

Enforcement. `check_quota` (projects.authorize.CHECKS) reads only the cache: the
organization's blocking quotas (a compact index, rebuilt in one query after every quota
change, which sets a new stamp) and one real-time counter per quota and period, incremented
after each ingestion commit and raised to the database's value by `reconcile_counters`
(beat). The database rows are the truth; counters may only lag behind them.

Overshoot bound: a call is refused once its quota's counter reaches the limit. What can
still pass is what was authorized before the counter got there and reported after: the calls
in flight between authorize and their usage report (at most one unreported batch per
gateway, up to 5,000 events), plus, after a cache loss, what was used since the last
reconciliation (`QUOTA_RECONCILE_SECONDS`). With N calls in flight of at most C tokens each,
consumption stays below limit + N x C.

Alerts. After commit, ingestion enqueues `evaluate_alerts(period ids)`. Each threshold
reached inserts a QuotaAlert whose unique (period, threshold) constraint makes the alert,
and the notification sent in the same transaction, happen once per period, whatever the
number of workers and concurrent ingestions.
"""

from __future__ import annotations

import math
import secrets
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts import audit
from accounts.audit_trail import Actor, record_actor_event
from accounts.models import Department, Membership, User
from accounts.permissions import PERMISSIONS, Action, Role, can
from billing.metering import services as metering
from billing.metering.models import TOKEN_FIELDS, UsageEvent
from billing.metering.selectors import rollups_plus_tail
from billing.quotas.models import (
    Quota,
    QuotaAlert,
    QuotaIncreaseRequest,
    QuotaPeriod,
    parse_thresholds,
)
from notifications.services import notify
from portal import periods
from projects.authorize import Refusal

MONEY_UNITS = 10_000  # money counters count 1/10,000 CNY: cache counters are integers
INDEX_SECONDS = 3600  # a backstop only: every quota change sets a new stamp


# --- Who may do what ----------------------------------------------------------------------


def _require_member(actor: Actor, organization_id: int) -> None:
    if actor.membership is None or actor.membership.organization_id != organization_id:
        raise PermissionDenied


# --- Quota settings -----------------------------------------------------------------------

SETTINGS = ("metric", "period", "start_date", "end_date", "limit", "thresholds", "on_exceed")
# Settings that change which usage a period counts. (Both metrics are kept on every row.)
RECOUNTED = {"period", "start_date", "end_date"}


def follow_project(project) -> None:
    """A project moved department: its quotas and its keys' quotas now belong to the new one
    (whose managers manage them; the old department's no longer do)."""
    Quota.objects.filter(Q(project=project) | Q(api_key__project=project)).update(
        owner_department=project.department
    )


def _target_fields(organization, scope: str, target) -> dict:
    fields = {"department": None, "project": None, "api_key": None, "owner_department": None}
    if scope == Quota.Scope.ORGANIZATION:
        return fields
    if target is None:
        raise ValidationError({"target": _("Choose what the quota applies to.")})
    if scope == Quota.Scope.DEPARTMENT:
        organization_id, owner = target.organization_id, target
    elif scope == Quota.Scope.PROJECT:
        organization_id, owner = target.organization_id, target.department
    else:
        organization_id, owner = target.project.organization_id, target.project.department
    if organization_id != organization.pk:
        raise ValidationError({"target": _("Choose something of this organization.")})
    return {**fields, scope: target, "owner_department": owner}


def _clean(quota: Quota) -> None:
    quota.thresholds = parse_thresholds(quota.thresholds)
    quota.limit = Decimal(str(quota.limit))
    if quota.metric == Quota.Metric.TOKENS and quota.limit != quota.limit.to_integral_value():
        raise ValidationError({"limit": _("A token limit is a whole number.")})
    if quota.period != Quota.Period.RANGE:
        quota.start_date = quota.end_date = None
    elif not quota.start_date or not quota.end_date or quota.end_date < quota.start_date:
        raise ValidationError({"end_date": _("Enter a first and a last day, in order.")})
    quota.full_clean(exclude=["watchers"])


def _watchers(organization, users) -> list:
    users = list(users or ())
    members = set(
        Membership.objects.for_org(organization)
        .filter(user__in=users)
        .values_list("user_id", flat=True)
    )
    if any(user.pk not in members for user in users):
        raise ValidationError({"watchers": _("Watchers must be members of the organization.")})
    return users


@transaction.atomic
def create_quota(*, actor: Actor, scope: str, target=None, watchers=(), **values) -> Quota:
    """A new quota counts the usage already recorded in its running period (module doc)."""
    organization = actor.organization
    if organization is None:
        raise PermissionDenied
    quota = Quota(
        organization=organization, scope=scope, created_by=actor.user,
        **_target_fields(organization, scope, target),
        **{field: value for field, value in values.items() if field in SETTINGS},
    )  # fmt: skip
    if not can(actor.membership, quota.setting_action, quota.owner_department_id):
        raise PermissionDenied
    _clean(quota)
    _exclude_ingestion()
    quota.save()
    quota.watchers.set(_watchers(organization, watchers))
    record_actor_event(
        actor=actor, action="quota.created", target=quota,
        changes={"after": {field: _jsonable(getattr(quota, field)) for field in SETTINGS}},
    )  # fmt: skip
    _settle(quota, _recount(quota))
    invalidate(organization.pk)
    return quota


def _jsonable(value):
    return str(value) if isinstance(value, Decimal | date) else value


@transaction.atomic
def update_quota(*, actor: Actor, quota: Quota, watchers=None, **values) -> Quota:
    """A new period or new dates recount the running period from the usage recorded in it;
    any change alerts at once for the highest threshold newly crossed (module doc)."""
    _require_member(actor, quota.organization_id)
    if not can(actor.membership, quota.setting_action, quota.owner_department_id):
        raise PermissionDenied
    recount = bool(RECOUNTED.intersection(values))
    if recount:  # before locking the row: a batch creating a period row waits for the row
        _exclude_ingestion()
    quota = Quota.objects.select_for_update().get(pk=quota.pk)
    before = {field: _jsonable(getattr(quota, field)) for field in SETTINGS}
    for field, value in values.items():
        if field in SETTINGS:
            setattr(quota, field, value)
    _clean(quota)
    changes = audit.diff(before, {field: _jsonable(getattr(quota, field)) for field in SETTINGS})
    recounted = recount and bool(RECOUNTED.intersection(changes.get("after", ())))
    if recounted:
        quota.counts_from = timezone.now()
    quota.save()
    if watchers is not None:
        quota.watchers.set(_watchers(quota.organization, watchers))
    record_actor_event(actor=actor, action="quota.updated", target=quota, changes=changes)
    period = _recount(quota) if recounted else current_periods([quota]).get(quota.pk)
    _settle(quota, period)
    invalidate(quota.organization_id)
    return quota


@transaction.atomic
def delete_quota(*, actor: Actor, quota: Quota) -> None:
    _require_member(actor, quota.organization_id)
    if not can(actor.membership, quota.setting_action, quota.owner_department_id):
        raise PermissionDenied
    record_actor_event(actor=actor, action="quota.deleted", target=quota)
    invalidate(quota.organization_id)
    quota.delete()


# --- The gateway check --------------------------------------------------------------------


def _index_key(organization_id: int) -> str:
    return f"quota:index:{organization_id}"


def _stamp_key(organization_id: int) -> str:
    return f"quota:stamp:{organization_id}"


def counter_key(quota_id: int, metric: str, period_start: datetime) -> str:
    """The metric is part of the key: a quota switched to another metric never reads a
    counter kept in the other metric's units."""
    return f"quota:used:{quota_id}:{metric}:{int(period_start.timestamp())}"


def invalidate(organization_id: int) -> None:
    """After commit, make every process rebuild the organization's blocking-quota index.

    Call it after anything that changes which calls a quota covers (quotas themselves; a
    department moved in the tree)."""
    key = _stamp_key(organization_id)
    transaction.on_commit(lambda: cache.set(key, secrets.token_hex(8), timeout=None))


def _units(metric: str, tokens: int, amount: Decimal) -> int:
    if metric == Quota.Metric.TOKENS:
        return int(tokens)
    return math.ceil(amount * MONEY_UNITS)


def _subtree(children: dict, root: int) -> list[int]:
    found, stack = [], [root]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(children.get(node, ()))
    return found


def _load_index(organization_id: int, stamp) -> dict:
    """The organization's blocking quotas, compact; cached under `stamp` (1 or 2 queries)."""
    quotas = list(
        Quota.objects.filter(
            organization_id=organization_id, on_exceed=Quota.OnExceed.BLOCK
        ).select_related("project")
    )
    children: dict[int, list[int]] = defaultdict(list)
    if any(quota.department_id for quota in quotas):
        tree = Department.objects.filter(organization_id=organization_id)
        for department_id, parent_id in tree.values_list("id", "parent_id"):
            children[parent_id].append(department_id)
    entries = []
    for quota in quotas:
        entry = {
            "id": quota.pk,
            "metric": quota.metric,
            "period": quota.period,
            "range": None,
            "limit": _units(quota.metric, quota.limit, quota.limit),
            "key": quota.api_key_id,
            "project": quota.project.public_id if quota.project_id else None,
            "departments": _subtree(children, quota.department_id) if quota.department_id else None,
        }
        if quota.period == Quota.Period.RANGE:
            start, end = periods.date_range_bounds(quota.start_date, quota.end_date)
            entry["range"] = [start.timestamp(), end.timestamp()]
        entries.append(entry)
    index = {"stamp": stamp, "quotas": entries}
    cache.set(_index_key(organization_id), index, INDEX_SECONDS)
    return index


def _covers(entry: dict, key: dict) -> bool:
    if entry["key"] is not None:
        return entry["key"] == key["pk"]
    if entry["project"] is not None:
        return entry["project"] == key["body"]["project_id"]
    if entry["departments"] is not None:
        return key["department_pk"] in entry["departments"]
    return True


def _period_start(entry: dict, at: datetime) -> datetime | None:
    if entry["range"] is None:
        return periods.period_bounds(entry["period"], at)[0]
    start, end = entry["range"]
    return datetime.fromtimestamp(start, UTC) if start <= at.timestamp() < end else None


def quota_cache_keys(call) -> list[str]:
    organization_id = call.key["organization_pk"]
    return [_index_key(organization_id), _stamp_key(organization_id)]


def check_quota(call, found=cache) -> str | None:
    """quota_exceeded when any blocking quota covering the call is used up. Cache only:
    the index, then the counters of the quotas that apply (none without). `found` is
    anything with `get_many(keys)`: the cache, or the gateway's entries, which hold both
    when warm (the counters' keys come from the index: the gateway remembers them)."""
    organization_id = call.key["organization_pk"]
    index_key, stamp_key = quota_cache_keys(call)
    entries = found.get_many([index_key, stamp_key])
    index, stamp = entries.get(index_key), entries.get(stamp_key)
    if index is None or index["stamp"] != stamp:
        index = _load_index(organization_id, stamp)
    at = datetime.fromtimestamp(call.now, UTC)
    limits = {}
    for entry in index["quotas"]:
        if _covers(entry, call.key) and (start := _period_start(entry, at)) is not None:
            limits[counter_key(entry["id"], entry["metric"], start)] = entry["limit"]
    if not limits:
        return None
    used = found.get_many(list(limits))
    return Refusal.QUOTA_EXCEEDED if any(used.get(k, 0) >= v for k, v in limits.items()) else None


check_quota.cache_keys = quota_cache_keys


def _counter_timeout(period_end: datetime) -> int:
    return max(int((period_end - timezone.now()).total_seconds()) + 86_400, 3600)


def _bump_counter(key: str, total: int, delta: int, period_end: datetime) -> None:
    timeout = _counter_timeout(period_end)
    if not cache.add(key, total, timeout):
        try:
            cache.incr(key, delta)
        except ValueError:  # expired between add and incr
            cache.add(key, total, timeout)


# --- Consumption --------------------------------------------------------------------------


def _ancestors(parents: dict, department_id: int | None) -> set[int]:
    chain = set()
    while department_id is not None and department_id not in chain:
        chain.add(department_id)
        department_id = parents.get(department_id)
    return chain


def _applies(quota: Quota, event, chain: set[int]) -> bool:
    if quota.scope == Quota.Scope.API_KEY:
        return quota.api_key_id == event.api_key_id
    if quota.scope == Quota.Scope.PROJECT:
        return quota.project_id == event.project_id
    if quota.scope == Quota.Scope.DEPARTMENT:
        return quota.department_id in chain
    return True


def _counted_period(quota: Quota, event) -> tuple[datetime, datetime] | None:
    """The bounds of the quota's period the event falls in, unless that period had ended
    before the quota was made or given its period (`counts_from`): nothing of it was ever
    counted, so a late event would start a row holding only itself (and alert on it)."""
    bounds = quota.bounds_at(event.occurred_at)
    return bounds if bounds is not None and bounds[1] > quota.counts_from else None


def record_usage(events) -> list[int]:
    """Add newly inserted UsageEvents to their quotas' periods; returns the period ids.

    Runs inside the caller's (ingestion's) transaction: 2 queries + 1 UPDATE per touched
    period. Counters and the alert evaluation follow the commit."""
    org_ids = {event.organization_id for event in events}
    quotas_by_org = defaultdict(list)
    for quota in Quota.objects.filter(organization_id__in=org_ids):
        quotas_by_org[quota.organization_id].append(quota)
    if not quotas_by_org:
        return []
    parents = dict(
        Department.objects.filter(organization_id__in=list(quotas_by_org)).values_list(
            "id", "parent_id"
        )
    )
    deltas: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0)])
    quotas = {}
    for event in events:
        chain = _ancestors(parents, event.department_id)
        tokens = sum(getattr(event, field) for field in TOKEN_FIELDS)
        for quota in quotas_by_org.get(event.organization_id, ()):
            if _applies(quota, event, chain) and (bounds := _counted_period(quota, event)):
                delta = deltas[(quota.pk, *bounds)]
                delta[0] += tokens
                delta[1] += event.cost_amount
                quotas[quota.pk] = quota
    if not deltas:
        return []
    QuotaPeriod.objects.bulk_create(
        [QuotaPeriod(quota_id=q, period_start=s, period_end=e) for q, s, e in deltas],
        ignore_conflicts=True,
    )
    for (quota_id, start, _end), (tokens, amount) in sorted(deltas.items()):
        QuotaPeriod.objects.filter(quota_id=quota_id, period_start=start).update(
            consumed_tokens=F("consumed_tokens") + tokens,
            consumed_amount=F("consumed_amount") + amount,
        )
    touched = Q()
    for quota_id, start, _end in deltas:
        touched |= Q(quota_id=quota_id, period_start=start)
    rows = list(QuotaPeriod.objects.filter(touched))
    bumps = []
    for row in rows:
        quota = quotas[row.quota_id]
        if quota.blocks:
            tokens, amount = deltas[(row.quota_id, row.period_start, row.period_end)]
            bumps.append(
                (
                    counter_key(quota.pk, quota.metric, row.period_start),
                    _units(quota.metric, row.consumed_tokens, row.consumed_amount),
                    _units(quota.metric, tokens, amount),
                    row.period_end,
                )
            )
    period_ids = [row.pk for row in rows]

    def after_commit():
        from billing.quotas.tasks import evaluate_quota_alerts  # tasks import this module

        for bump in bumps:
            _bump_counter(*bump)
        evaluate_quota_alerts.delay(period_ids)

    transaction.on_commit(after_commit)
    return period_ids


def reconcile_counters() -> int:
    """Raise every current blocking counter to its period's consumption (the truth).

    Only raises: a counter ahead of the database holds increments of batches that just
    committed. Returns how many counters were corrected."""
    now = timezone.now()
    rows = QuotaPeriod.objects.filter(
        quota__on_exceed=Quota.OnExceed.BLOCK, period_start__lte=now, period_end__gt=now
    ).select_related("quota")
    wanted = {
        counter_key(row.quota_id, row.quota.metric, row.period_start): (
            _units(row.quota.metric, row.consumed_tokens, row.consumed_amount),
            row.period_end,
        )
        for row in rows
    }
    cached = cache.get_many(list(wanted))
    corrected = 0
    for key, (units, period_end) in wanted.items():
        if cached.get(key, -1) < units:
            cache.set(key, units, _counter_timeout(period_end))
            corrected += 1
    return corrected


def _exclude_ingestion() -> None:
    with connection.cursor() as cursor:
        metering.exclude_ingestion(cursor)


def _scope_filter(quota: Quota) -> Q:
    """The events `_applies` adds to the quota (a department quota: its subtree's)."""
    if quota.scope == Quota.Scope.API_KEY:
        return Q(api_key_id=quota.api_key_id)
    if quota.scope == Quota.Scope.PROJECT:
        return Q(project_id=quota.project_id)
    if quota.scope == Quota.Scope.DEPARTMENT:
        children: dict[int, list[int]] = defaultdict(list)
        tree = Department.objects.filter(organization_id=quota.organization_id)
        for department_id, parent_id in tree.values_list("id", "parent_id"):
            children[parent_id].append(department_id)
        return Q(department_id__in=_subtree(children, quota.department_id))
    return Q()


def _usage_in(quota: Quota, start: datetime, end: datetime) -> tuple[int, Decimal]:
    """Tokens and cost of the quota's scope in [start, end), exact.

    Whole UTC hours (every period of a whole-hour business zone): the hourly rollups plus
    the events not rolled up yet, in one snapshot (metering.selectors.rollups_plus_tail);
    bounded by the rollup rows and the unrolled tail, and exact also where old raw events
    were purged. Otherwise (a zone with a half-hour offset) the raw events."""
    scope = Q(organization_id=quota.organization_id) & _scope_filter(quota)
    tokens = Sum(sum((F(field) for field in TOKEN_FIELDS[1:]), F(TOKEN_FIELDS[0])))

    def totals(queryset, time_field, requests=None):
        return (
            queryset.filter(scope, **{f"{time_field}__gte": start, f"{time_field}__lt": end})
            .order_by()
            .values("organization_id")
            .annotate(tokens=tokens, amount=Sum("cost_amount"))
            .values_list("tokens", "amount")
        )

    if all(at.timestamp() % 3600 == 0 for at in (start, end)):
        rows = rollups_plus_tail(totals)
    else:
        rows = totals(UsageEvent.objects.all(), "occurred_at")
    found = list(rows)
    return sum(t for t, _a in found), sum((a for _t, a in found), Decimal(0))


def _recount(quota: Quota, now: datetime | None = None) -> QuotaPeriod | None:
    """Set the running period's consumption to the usage recorded in it (`_usage_in`).
    The caller holds `_exclude_ingestion()` (module doc). None when the quota does not run
    now (a date range) or nothing was used yet (no row)."""
    bounds = quota.bounds_at(now or timezone.now())
    if bounds is None:
        return None
    start, end = bounds
    tokens, amount = _usage_in(quota, start, end)
    if tokens or amount:  # else, as ever, the first event creates the row
        QuotaPeriod.objects.bulk_create(
            [QuotaPeriod(quota=quota, period_start=start, period_end=end)], ignore_conflicts=True
        )
    rows = QuotaPeriod.objects.filter(quota=quota, period_start=start)
    rows.update(period_end=end, consumed_tokens=tokens, consumed_amount=amount)
    return rows.first()


def _settle(quota: Quota, period: QuotaPeriod | None) -> None:
    """After a quota's settings or consumption were set: alert for the thresholds already
    crossed, and, after commit, bring a blocking quota's counter up to the period's row."""
    if period is None:
        return
    period.quota = quota
    _alert_crossed(period, highest_only=True)
    if not quota.blocks:
        return
    key = counter_key(quota.pk, quota.metric, period.period_start)

    def publish():
        row = QuotaPeriod.objects.filter(pk=period.pk).first()
        if row is None:
            return
        units = _units(quota.metric, row.consumed_tokens, row.consumed_amount)
        # Raise only, like reconcile_counters: a higher counter holds increments of batches
        # committed since; a lower one (or none) would let calls through.
        if cache.get(key, -1) < units:
            cache.set(key, units, _counter_timeout(row.period_end))

    transaction.on_commit(publish)


# --- Alerts -------------------------------------------------------------------------------


def recipients_for(quota: Quota) -> list[User]:
    """Owners and admins, the managers of the quota's department, and its watchers."""
    admins = Q(
        memberships__organization_id=quota.organization_id,
        memberships__role__in=[Role.OWNER, Role.ADMIN],
    )
    wanted = admins | Q(watched_quotas=quota)
    if quota.owner_department_id:
        wanted |= Q(
            managed_departments=quota.owner_department_id,
            memberships__organization_id=quota.organization_id,
        )
    return list(User.objects.filter(wanted, is_active=True).distinct())


def _quota_data(quota: Quota, period: QuotaPeriod) -> dict:
    return {
        "quota_id": quota.public_id,
        "scope": quota.scope,
        "target": str(quota.target),
        "metric": quota.metric,
        "limit": str(quota.limit),
        "consumed": str(period.consumed),
        "period_start": period.period_start.isoformat(),
        "period_end": period.period_end.isoformat(),
    }


def quota_link(quota: Quota) -> str:
    return reverse("billing:quota-detail", kwargs={"quota": quota.public_id})


def evaluate_alerts(period_ids) -> list[QuotaAlert]:
    """Create (once) and announce the alerts of every threshold these periods reached."""
    fired = []
    rows = QuotaPeriod.objects.filter(id__in=period_ids).select_related(
        "quota__organization", "quota__department", "quota__project", "quota__api_key__project"
    )
    for period in rows:
        fired.extend(_alert_crossed(period))
    return fired


def _alert_crossed(period: QuotaPeriod, *, highest_only: bool = False) -> list[QuotaAlert]:
    """Record (once) every threshold the period reached; announce each new one, or, with
    `highest_only` (a quota created or changed past several thresholds at once), only the
    highest new one: the lower ones are recorded silently, so they never fire later."""
    quota = period.quota
    new = []
    for threshold in quota.thresholds:
        if period.percent < threshold:
            break
        with transaction.atomic():
            alert, created = QuotaAlert.objects.get_or_create(
                quota_period=period, threshold=threshold, defaults={"consumed": period.consumed}
            )
            if created and not highest_only:
                _announce(alert, quota, period)
        if created:
            new.append(alert)
    if highest_only and new:
        _announce(new[-1], quota, period)
        return new[-1:]
    return new


def _announce(alert: QuotaAlert, quota: Quota, period: QuotaPeriod) -> None:
    exceeded = alert.threshold >= 100
    subject = format_lazy(
        _("Quota exceeded: {target}") if exceeded else _("Quota at {percent} %: {target}"),
        target=quota.target_label,
        percent=alert.threshold,
    )
    message = format_lazy(
        _("{target} has used {consumed} of its limit of {limit} this period ({percent} %)."),
        target=quota.target_label,
        consumed=quota.measure_display(period.consumed),
        limit=quota.limit_display,
        percent=alert.threshold,
    )
    notify(
        organization=quota.organization,
        event_type="quota.exceeded" if exceeded else "quota.threshold_reached",
        subject=subject,
        message=message,
        data={**_quota_data(quota, period), "threshold": alert.threshold},
        recipients=recipients_for(quota),
        link=quota_link(quota),
    )


def announce_period_resets() -> int:
    """quota.period_reset, once per quota and new period, when the previous period alerted.

    Run by beat (every few minutes): the first run after a period boundary creates the new
    period's row (at zero) and claims its announcement with a conditional UPDATE."""
    now = timezone.now()
    announced = 0
    alerted = Quota.objects.exclude(period=Quota.Period.RANGE).filter(periods__alerts__isnull=False)
    for quota in alerted.distinct().select_related(
        "organization", "department", "project", "api_key__project"
    ):
        start, end = quota.bounds_at(now)
        previous = quota.periods.filter(period_start__lt=start).first()  # newest first
        if previous is None or not previous.alerts.exists():
            continue
        with transaction.atomic():
            period, _created = QuotaPeriod.objects.get_or_create(
                quota=quota, period_start=start, defaults={"period_end": end}
            )
            claimed = QuotaPeriod.objects.filter(pk=period.pk, reset_announced_at=None).update(
                reset_announced_at=now
            )
            if not claimed:
                continue
            notify(
                organization=quota.organization,
                event_type="quota.period_reset",
                subject=format_lazy(_("New quota period: {target}"), target=quota.target_label),
                message=format_lazy(
                    _("A new period started for {target}: its consumption starts again at zero."),
                    target=quota.target_label,
                ),
                data=_quota_data(quota, period),
                recipients=recipients_for(quota),
                link=quota_link(quota),
            )
            announced += 1
    return announced


# --- Reading ------------------------------------------------------------------------------


def current_periods(quotas, now: datetime | None = None) -> dict[int, QuotaPeriod]:
    """The running period of each quota that has consumption in it, in one query."""
    now = now or timezone.now()
    rows = QuotaPeriod.objects.filter(
        quota__in=list(quotas), period_start__lte=now, period_end__gt=now
    )
    return {row.quota_id: row for row in rows}


def forecast(quota: Quota, period: QuotaPeriod | None, now: datetime | None = None):
    """The business-zone date the quota runs out at the current period's average rate;
    None without consumption or when it lasts the period."""
    now = now or timezone.now()
    if period is None or not period.consumed:
        return None
    remaining = float(quota.limit) - float(period.consumed)
    if remaining <= 0:
        return now.astimezone(periods.business_zone()).date()
    elapsed = max((now - period.period_start).total_seconds(), 1.0)
    runs_out = now + timedelta(seconds=remaining * elapsed / float(period.consumed))
    if runs_out >= period.period_end:
        return None
    return runs_out.astimezone(periods.business_zone()).date()


# --- Increase requests --------------------------------------------------------------------


def _deciders(organization_id: int) -> list[User]:
    return list(
        User.objects.filter(
            memberships__organization_id=organization_id,
            memberships__role__in=PERMISSIONS[Action.DECIDE_QUOTA_REQUESTS],
            is_active=True,
        )
    )


@transaction.atomic
def request_increase(*, actor: Actor, quota: Quota, new_limit: Decimal, reason: str):
    _require_member(actor, quota.organization_id)
    if not can(actor.membership, Action.REQUEST_QUOTA, quota.owner_department_id):
        raise PermissionDenied
    if new_limit <= quota.limit:
        raise ValidationError({"new_limit": _("Ask for more than the current limit.")})
    if not reason.strip():
        raise ValidationError({"reason": _("Say why more is needed.")})
    request = QuotaIncreaseRequest.objects.create(
        quota=quota, requested_by=actor.user, new_limit=new_limit, reason=reason.strip()
    )
    record_actor_event(
        actor=actor, action="quota_request.created", target=request,
        changes={"before": {"limit": str(quota.limit)}, "after": {"limit": str(new_limit)}},
    )  # fmt: skip
    notify(
        organization=quota.organization,
        event_type="quota_request.created",
        subject=format_lazy(_("Quota increase requested: {target}"), target=quota.target_label),
        message=format_lazy(
            _("{user} asks to raise the limit from {old} to {new}: {reason}"),
            user=actor.user, old=quota.limit_display, new=quota.measure_display(new_limit),
            reason=request.reason,
        ),
        data={"request_id": request.public_id, "quota_id": quota.public_id},
        recipients=_deciders(quota.organization_id),
        link=reverse("billing:quota-requests"),
    )  # fmt: skip
    return request


@transaction.atomic
def decide_increase(*, actor: Actor, increase: QuotaIncreaseRequest, approve: bool, comment=""):
    """Approve (the new limit applies at once) or reject; the requester hears either way."""
    quota = increase.quota
    _require_member(actor, quota.organization_id)
    if not can(actor.membership, Action.DECIDE_QUOTA_REQUESTS):
        raise PermissionDenied
    status = (
        QuotaIncreaseRequest.Status.APPROVED if approve else QuotaIncreaseRequest.Status.REJECTED
    )
    decided = QuotaIncreaseRequest.objects.filter(
        pk=increase.pk, status=QuotaIncreaseRequest.Status.PENDING
    ).update(
        status=status, decided_by=actor.user, decision_comment=comment, decided_at=timezone.now()
    )
    if not decided:
        raise ValidationError(_("This request has already been decided."))
    increase.refresh_from_db()
    if approve:
        update_quota(actor=actor, quota=quota, limit=increase.new_limit)
    record_actor_event(
        actor=actor, action=f"quota_request.{status}", target=increase,
        changes={"after": {"comment": comment}},
    )  # fmt: skip
    verdict = _("approved") if approve else _("rejected")
    notify(
        organization=quota.organization,
        event_type=f"quota_request.{status}",
        subject=format_lazy(
            _("Quota increase {verdict}: {target}"), verdict=verdict, target=quota.target_label
        ),
        message=format_lazy(
            _("Your request to raise the limit to {new} was {verdict}. {comment}"),
            new=quota.measure_display(increase.new_limit), verdict=verdict, comment=comment,
        ),
        data={"request_id": increase.public_id, "quota_id": quota.public_id, "status": status},
        recipients=[increase.requested_by],
        link=quota_link(quota),
    )  # fmt: skip
    return increase
