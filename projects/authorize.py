"""The gateway's hot path: is this credential ours, and may this key call this model from here?

Cost. Everything the decision needs is cached in compact snapshots, fetched with ONE cache
round trip (get_many) when warm: the gateway credential's and the key's snapshots, stamps and
last-used markers, the catalog entry of the requested model and the catalog stamp, and what
the checks read (policy, quota index and counters, balance headroom). A check declares its
entries from the Call (`check.cache_keys(call)`), which needs the key's snapshot, so they
cannot be named before the first read: the process remembers, per key prefix, what the
checks read last time and fetches it up front with the rest. The first decision for a key
in a process, or one whose entries changed (a new period, another department), costs one
or two more round trips; a check reads through `found.get_many`, which fetches only what
was not fetched yet, and falls back to its loading path on a miss. A hit
runs no query; a key miss runs one (key + project + organization + department in one
select_related query). The catalog is loaded whole, in one query, only after it changed.
last_used_at is written at most once a minute per key: a cache marker, then a conditional
UPDATE.

Unknown prefixes. Anyone can make a well-formed token (the checksum is no secret), so a
prefix that names nothing must not cost an entry each: "no such prefix" is remembered in one
of NEGATIVE_SLOTS fixed cache entries (the slot is a hash of the prefix; a newer miss
replaces an older one), so probes add at most that many entries however many they are. A
refusal for an unknown prefix runs the same digest and constant-time comparison as one for
a known prefix with a wrong secret (against a dummy digest): the same path, whatever exists.

Freshness. Each snapshot remembers the stamp of its prefix as read BEFORE the database. A
service that changes anything a snapshot holds sets a new stamp after commit
(`invalidate()`), so the next call in every process sees a mismatch and reloads, and a
reload that raced with the change is never believed. Time-based expiry needs nothing: the
snapshot holds the times.

The decision runs CHECKS in order; the first reason wins. Billing adds its checks.
A prefetched entry is as fresh as one read by the check itself: the same stamps, versions
and counters are compared, only read a little earlier in the same call.
"""

import ipaddress
import secrets
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization
from portal import metrics
from projects import tokens
from projects.models import ApiKey, GatewayCredential

SNAPSHOT_SECONDS = 300  # a backstop only: invalidation is explicit
CATALOG_SECONDS = 3600
TOUCH_EVERY_SECONDS = 60
CATALOG_STAMP = "gw:catalog:stamp"
REMEMBERED_KEYS = 10_000  # key prefixes whose checks' cache entries a process remembers
NEGATIVE_SLOTS = 1024  # cache entries, per kind of secret, that remember unknown prefixes

Snapshot = dict[str, Any]
MISSING: Snapshot = {"missing": True}  # what a prefix that names nothing reads as


class Refusal(StrEnum):
    """Why authorize says no: the contract's `reason` values (docs/gateway-contract.md)."""

    INVALID_KEY = "invalid_key"
    KEY_REVOKED = "key_revoked"
    KEY_EXPIRED = "key_expired"
    MODEL_NOT_ALLOWED = "model_not_allowed"
    IP_NOT_ALLOWED = "ip_not_allowed"
    QUOTA_EXCEEDED = "quota_exceeded"
    PROJECT_ARCHIVED = "project_archived"
    ORGANIZATION_UNVERIFIED = "organization_unverified"
    ORGANIZATION_SUSPENDED = "organization_suspended"
    INSUFFICIENT_BALANCE = "insufficient_balance"

    @classmethod
    def choices(cls) -> list[str]:
        return [reason.value for reason in cls]


class SecretCache:
    """Cached snapshots of one kind of hashed secret, keyed by its public prefix."""

    def __init__(self, kind: str, model, load):
        self.kind, self.model, self.load = kind, model, load

    def keys(self, prefix: str) -> tuple[str, str, str, str]:
        """The snapshot's, its stamp's, its last-use marker's, and its slot among the unknown."""
        slot = zlib.crc32(prefix.encode()) % NEGATIVE_SLOTS
        return (
            f"gw:{self.kind}:{prefix}",
            f"gw:{self.kind}:stamp:{prefix}",
            f"gw:{self.kind}:used:{prefix}",
            f"gw:{self.kind}:unknown:{slot}",
        )

    def fetch(self, prefix: str, *extra: str) -> tuple[Snapshot, dict]:
        """(snapshot, everything fetched) in one round trip; the snapshot is reloaded if stale."""
        found = cache.get_many([*self.keys(prefix), *extra])
        return self.snapshot_in(prefix, found), found

    def snapshot_in(self, prefix: str, found: dict) -> Snapshot:
        """The snapshot among entries fetched from the cache, reloaded if missing or stale."""
        snapshot_key, stamp_key, _, slot_key = self.keys(prefix)
        snapshot, stamp = found.get(snapshot_key), found.get(stamp_key)
        if snapshot is not None and snapshot["stamp"] == stamp:
            return snapshot
        # Known to be unknown (the stamp changes when a key with this prefix is made).
        if found.get(slot_key) == (prefix, stamp):
            return MISSING
        row = self.load(prefix)
        if row is None:
            cache.set(slot_key, (prefix, stamp), SNAPSHOT_SECONDS)
            return MISSING
        snapshot = {"stamp": stamp, **self.snapshot(row)}
        cache.set(snapshot_key, snapshot, SNAPSHOT_SECONDS)
        return snapshot

    def verify(self, token: str, snapshot: Snapshot) -> bool:
        """Constant-time; an unknown prefix is compared with a dummy digest, so that every
        refusal of a well-formed token takes this same path."""
        pepper_id = snapshot.get("pepper_id", tokens.current_pepper_id())
        matched = tokens.matches(token, pepper_id, snapshot.get("digest", _NO_DIGEST))
        return matched and snapshot is not MISSING

    def touch(self, prefix: str, snapshot: Snapshot, found: dict) -> None:
        """Record use at most once a minute, whatever the number of processes."""
        used_key = self.keys(prefix)[2]
        if used_key in found or not cache.add(used_key, 1, TOUCH_EVERY_SECONDS):
            return
        self.model.mark_used({snapshot["pk"]: timezone.now()})

    def invalidate(self, prefixes) -> None:
        """After commit, make every cached snapshot of these prefixes stale everywhere."""
        stamps = {self.keys(prefix)[1]: secrets.token_hex(8) for prefix in prefixes}
        if stamps:
            transaction.on_commit(lambda: cache.set_many(stamps, timeout=None))


_NO_DIGEST = "0" * 64  # no HMAC-SHA256 hex digest of a token is this in practice


def _epoch(moment) -> float | None:
    return moment.timestamp() if moment else None


class ApiKeyCache(SecretCache):
    @staticmethod
    def snapshot(key: ApiKey) -> Snapshot:
        project, organization = key.project, key.project.organization
        department = project.department
        return {
            "pk": key.pk,
            "digest": key.digest,
            "pepper_id": key.pepper_id,
            "revoked_at": _epoch(key.revoked_at),
            "expires_at": _epoch(key.expires_at),
            "project_archived": project.is_archived,
            "organization_status": organization.status,
            "organization_pk": organization.pk,
            "department_pk": project.department_id,
            "allowed_models": key.allowed_models,
            "ip_allowlist": key.ip_allowlist,
            "body": {
                "allowed": True,
                "key_id": key.public_id,
                "project_id": project.public_id,
                "organization_id": organization.public_id,
                "department_id": department.public_id if department else None,
                "limits": {"rpm": key.rpm_limit, "tpm": key.tpm_limit},
            },
        }


class CredentialCache(SecretCache):
    @staticmethod
    def snapshot(credential: GatewayCredential) -> Snapshot:
        return {
            "pk": credential.pk,
            "digest": credential.digest,
            "pepper_id": credential.pepper_id,
            "revoked": credential.revoked_at is not None,
            "name": credential.name,
        }


API_KEYS = ApiKeyCache(
    "key",
    ApiKey,
    lambda prefix: (
        ApiKey.objects.select_related("project__organization", "project__department")
        .filter(prefix=prefix)
        .first()
    ),
)
CREDENTIALS = CredentialCache(
    "cred",
    GatewayCredential,
    lambda prefix: GatewayCredential.objects.filter(prefix=prefix).first(),
)


# --- The catalog -------------------------------------------------------------------------


def _model_key(identifier: str) -> str:
    return f"gw:model:{identifier}"


# (model id, callable, is_filed, provider slug, alias or None, kind) for every catalog model
# and alias: the catalog registers its reader at app ready (billing.apps), as projects sits
# below it.
CatalogRows = Callable[[], Iterable[tuple[str, bool, bool, str, str | None, str]]]
_catalog_rows: CatalogRows = list


def use_catalog(rows: CatalogRows) -> None:
    global _catalog_rows
    _catalog_rows = rows


def callable_model_ids(identifiers) -> dict[str, str]:
    """{identifier: model id} for those of `identifiers` that name a callable catalog model (by
    id or alias), read from the catalog itself: settings are checked against it as it is now."""
    wanted, found = set(identifiers), {}
    if not wanted:
        return found  # nothing to check: no catalog read
    for model_id, is_callable, _, _, alias, _ in _catalog_rows():
        for name in (model_id, alias):
            if is_callable and name in wanted:
                found[name] = model_id
    return found


def _load_catalog(identifier: str, stamp) -> dict:
    """Cache an entry for every model id and alias (one query); return the one asked for."""
    entries = {}
    for model_id, is_callable, is_filed, provider, alias, _ in _catalog_rows():
        entry = {
            "stamp": stamp,
            "model_id": model_id,
            "callable": is_callable,
            "is_filed": is_filed,
            "provider": provider,
        }
        entries[_model_key(model_id)] = entry
        if alias:
            entries[_model_key(alias)] = entry
    entries.setdefault(_model_key(identifier), {"stamp": stamp, "model_id": None})
    cache.set_many(entries, CATALOG_SECONDS)
    return entries[_model_key(identifier)]


def invalidate_catalog() -> None:
    transaction.on_commit(lambda: cache.set(CATALOG_STAMP, secrets.token_hex(8), timeout=None))


# --- The decision ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    key: Snapshot  # ApiKeyCache.snapshot()
    model: dict  # the catalog entry: model_id (None if unknown), callable, is_filed, provider
    client_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    now: float


def check_key_active(call: Call, found) -> str | None:
    if call.key["revoked_at"] is not None and call.key["revoked_at"] <= call.now:
        return Refusal.KEY_REVOKED
    if call.key["expires_at"] is not None and call.key["expires_at"] <= call.now:
        return Refusal.KEY_EXPIRED
    return None


def check_project_active(call: Call, found) -> str | None:
    return Refusal.PROJECT_ARCHIVED if call.key["project_archived"] else None


ORGANIZATION_REFUSALS = {
    Organization.Status.PENDING: Refusal.ORGANIZATION_UNVERIFIED,
    Organization.Status.SUSPENDED: Refusal.ORGANIZATION_SUSPENDED,
}


def check_organization_active(call: Call, found) -> str | None:
    return ORGANIZATION_REFUSALS.get(call.key["organization_status"])


def check_model_available(call: Call, found) -> str | None:
    return None if call.model["model_id"] and call.model["callable"] else Refusal.MODEL_NOT_ALLOWED


def check_key_allows_model(call: Call, found) -> str | None:
    allowed = call.key["allowed_models"]
    return Refusal.MODEL_NOT_ALLOWED if allowed and call.model["model_id"] not in allowed else None


def check_client_ip(call: Call, found) -> str | None:
    allowlist = call.key["ip_allowlist"]
    if not allowlist or any(call.client_ip in ipaddress.ip_network(n) for n in allowlist):
        return None
    return Refusal.IP_NOT_ALLOWED


class Check(Protocol):
    """Returns a refusal reason or None. It must stay within the budget: read only the Call,
    or the cache through `found.get_many(keys)` (the entries authorize fetched, and anything
    else in one more round trip). An optional `cache_keys(call) -> list[str]` attribute names
    the entries it reads, so that authorize fetches them with the others."""

    def __call__(self, call: Call, found: "Found") -> str | None: ...


# Run in order; the first reason wins. Billing adds the model policy (before the address
# check), quota and balance checks at app ready (billing.apps): see add_check().
CHECKS: list[Check] = [
    check_key_active,
    check_project_active,
    check_organization_active,
    check_model_available,
    check_key_allows_model,
    check_client_ip,
]


# The checks that answer "may this key call this model at all" from the key's settings and
# the model alone (no time, address, quota or money): what models_for_key() lists by.
MODEL_CHECKS: list[Check] = [check_model_available, check_key_allows_model]


def add_check(check: Check, *, before: Check | None = None, about_model: bool = False) -> None:
    """Run `check` too: before `before`, or last; `about_model`: it is one of MODEL_CHECKS.
    Registering twice changes nothing."""
    if check not in CHECKS:
        CHECKS.insert(CHECKS.index(before) if before else len(CHECKS), check)
    if about_model and check not in MODEL_CHECKS:
        MODEL_CHECKS.append(check)


# What an allowed answer's `limits` add to the key's rates, from upper floors (billing adds
# what is left of the packs and plan allowance that cover the call): describe(call, found) ->
# dict, reading only the cache entries named by its `cache_keys`, like a check.
LIMITS: list[Check] = []


def add_limits(describe) -> None:
    if describe not in LIMITS:
        LIMITS.append(describe)


def models_for_key(key: ApiKey, kind: str | None = None) -> list[str]:
    """The catalog model ids (of `kind`, e.g. "chat", if given) `key` may call, sorted: the
    catalog's callable models that its own model list and the organization's model policies
    allow (MODEL_CHECKS, the same code as authorize). `key` needs its project, organization
    and department loaded; an unsaved key with an empty model list gives what any key of its
    project may call."""
    snapshot, found, allowed = ApiKeyCache.snapshot(key), _Hits(), set()
    for model_id, is_callable, is_filed, provider, _, model_kind in _catalog_rows():
        if kind is not None and model_kind != kind:
            continue
        entry = {"model_id": model_id, "callable": is_callable, "is_filed": is_filed,
                 "provider": provider}  # fmt: skip
        call = Call(key=snapshot, model=entry, client_ip=_ANY_ADDRESS, now=time.time())
        if model_id not in allowed and not any(check(call, found) for check in MODEL_CHECKS):
            allowed.add(model_id)
    return sorted(allowed)


_ANY_ADDRESS = ipaddress.ip_address("127.0.0.1")  # model checks do not read the address


class _Hits:
    """Cache entries read for many Calls of one key: a hit is kept, a miss asked again (the
    check that missed fills the cache), so a policy loads once, not once per model."""

    def __init__(self):
        self.entries = {}

    def get_many(self, keys) -> dict:
        if missing := [key for key in keys if key not in self.entries]:
            self.entries.update(cache.get_many(missing))
        return {key: self.entries[key] for key in keys if key in self.entries}


def _declared(call: Call) -> list[str]:
    return [
        key for check in (*CHECKS, *LIMITS) for key in getattr(check, "cache_keys", _none)(call)
    ]


def _none(call: Call) -> list[str]:
    return []


class Found:
    """The cache entries of one decision: fetched together in its first round trip; an entry
    asked for that was not fetched costs one more round trip (all such entries of one ask
    together). `read` is every key the checks asked for."""

    def __init__(self, keys: list[str]):
        self.entries = cache.get_many(keys) if keys else {}
        self.fetched, self.read = set(keys), set()

    def get_many(self, keys) -> dict:
        self.read.update(keys)
        if missing := [key for key in keys if key not in self.fetched]:
            self.entries.update(cache.get_many(missing))
            self.fetched.update(missing)
        return {key: self.entries[key] for key in keys if key in self.entries}


# Per key prefix, the cache keys its checks read last time in this process: fetched up front
# next time. Only a hint: a key missing from it is fetched when asked for, and one too many
# costs nothing but its bytes. Bounded: forgotten all at once when full.
_read_by_checks: dict[str, tuple[str, ...]] = {}


def _remember(prefix: str, found: Found) -> None:
    if len(_read_by_checks) >= REMEMBERED_KEYS:
        _read_by_checks.clear()
    _read_by_checks[prefix] = tuple(found.read)


@metrics.counts_authorize_decisions
def authorize(
    *, credential: str, api_key: str, model: str, client_ip: str
) -> tuple[bool, dict] | None:
    """(allowed, response body) for the gateway's authorize call; None if `credential` is not
    a live gateway credential. Credential, key and model come in the same cache round trip."""
    credential_prefix = tokens.GATEWAY_CREDENTIAL.prefix_of(credential)
    if credential_prefix is None:
        return None
    prefix = tokens.API_KEY.prefix_of(api_key)  # malformed or mistyped: None, no lookup
    found = Found([*CREDENTIALS.keys(credential_prefix), *_wanted(prefix, model)])
    credential_snapshot = CREDENTIALS.snapshot_in(credential_prefix, found.entries)
    if not _live_credential(credential, credential_prefix, credential_snapshot, found.entries):
        return None
    allowed, body, _ = _decide(api_key, prefix, model, client_ip, found)
    return allowed, body


@metrics.counts_authorize_decisions
def authorize_key(*, api_key: str, model: str, client_ip: str) -> tuple[bool, dict, str | None]:
    """The same decision for the portal's own relay (relay/), which needs no gateway
    credential: (allowed, body, the catalog model id `model` names, or None if unknown)."""
    prefix = tokens.API_KEY.prefix_of(api_key)
    return _decide(api_key, prefix, model, client_ip, Found(_wanted(prefix, model)))


def _wanted(prefix: str | None, model: str) -> list[str]:
    """The first round trip's keys: the key's, the catalog's, what its checks read last time."""
    if prefix is None:
        return []
    return [
        *API_KEYS.keys(prefix),
        _model_key(model),
        CATALOG_STAMP,
        *_read_by_checks.get(prefix, ()),
    ]


def _decide(api_key, prefix, model, client_ip, found: Found) -> tuple[bool, dict, str | None]:
    if prefix is None:
        return False, {"allowed": False, "reason": Refusal.INVALID_KEY}, None
    snapshot = API_KEYS.snapshot_in(prefix, found.entries)
    if not API_KEYS.verify(api_key, snapshot):
        return False, {"allowed": False, "reason": Refusal.INVALID_KEY}, None
    model_key = _model_key(model)
    entry, catalog_stamp = found.entries.get(model_key), found.entries.get(CATALOG_STAMP)
    if entry is None or entry["stamp"] != catalog_stamp:
        entry = _load_catalog(model, catalog_stamp)
    address = ipaddress.ip_address(client_ip)
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    call = Call(key=snapshot, model=entry, client_ip=address, now=time.time())
    found.get_many(_declared(call))  # no round trip when the hint covered them
    reason = next(filter(None, (check(call, found) for check in CHECKS)), None)
    _remember(prefix, found)
    if reason is not None:
        return False, {"allowed": False, "reason": reason}, entry["model_id"]
    API_KEYS.touch(prefix, snapshot, found.entries)
    return True, _with_limits(snapshot["body"], call, found), entry["model_id"]


def _with_limits(body: dict, call: Call, found: Found) -> dict:
    added = {}
    for describe in LIMITS:
        added.update(describe(call, found))
    return {**body, "limits": {**body["limits"], **added}} if added else body


def _live_credential(token: str, prefix: str, snapshot: Snapshot, found: dict) -> bool:
    if not CREDENTIALS.verify(token, snapshot) or snapshot["revoked"]:
        return False
    CREDENTIALS.touch(prefix, snapshot, found)
    return True


def gateway_credential(token: str) -> Snapshot | None:
    """The snapshot of the live gateway credential `token` is, or None."""
    prefix = tokens.GATEWAY_CREDENTIAL.prefix_of(token)
    if prefix is None:
        return None
    snapshot, found = CREDENTIALS.fetch(prefix)
    return snapshot if _live_credential(token, prefix, snapshot, found) else None
