"""Which upstream channel serves a call, and the circuit breaker that keeps a failing one out.

Routes. The table of enabled channels by catalog model is loaded in one query and kept in
process memory under a stamp held in the shared cache; any change of a channel, a served
model or the catalog sets a new stamp after commit. A process reads the stamp and every
breaker in one cache round trip at most once a second (VIEW_SECONDS; at once after it changed
them itself), so a change reaches every process within a second and a call costs no round
trip for routing. Order: higher priority first; within one priority, a weighted random order (each
channel's turn drawn with probability proportional to its weight), the rest as fail-over.

Breaker. Its state lives in the shared cache (Redis in production), one entry per channel:
consecutive failures, open-until time, last error and the recent failures. RELAY_BREAKER_FAILURES
failures in a row open the channel for RELAY_BREAKER_COOLDOWN_SECONDS; then one call, and only
one (cache.add of a probe marker), is let through: success closes the breaker, failure opens it
for another cool-down. A call that claimed the probe but ends without its outcome (an earlier
channel answered, or the call was cancelled) releases the claim. Two processes failing at the
same instant may count one failure once: the breaker is a guard, not a ledger.
"""

import logging
import random
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from billing.catalog.models import CatalogModel
from portal import crypto
from relay.models import Channel, ChannelModel

logger = logging.getLogger(__name__)

ROUTES_STAMP = "relay:routes:stamp"
RECENT_FAILURES = 10


@dataclass(frozen=True, slots=True)
class Route:
    channel_pk: int
    channel: str
    base_url: str
    credential_encrypted: str
    upstream_model: str
    priority: int
    weight: int

    @property
    def credential(self) -> str:
        return _decrypted(self.credential_encrypted)


@lru_cache(maxsize=256)
def _decrypted(token: str) -> str:
    return crypto.decrypt(token) if token else ""


# --- Credentials and the route table -------------------------------------------------------


def set_credential(channel: Channel, credential: str) -> None:
    """Store the channel's upstream credential encrypted (the caller saves the channel)."""
    channel.credential_encrypted = crypto.encrypt(credential)


class _View:
    """This process's view of the shared state, re-read at most every VIEW_SECONDS (and at
    once after this process changed it): the route table's stamp and every breaker."""

    stamp: object = object()  # never equal to a cached stamp: the first call loads
    by_model: dict[str, list[Route]] = {}
    states: dict[str, dict] = {}
    until: float = 0.0


VIEW_SECONDS = 1.0
_view = _View()


def refresh() -> None:
    """Re-read the shared state on the next call (this process changed it)."""
    _view.until = 0.0


def _load_table() -> dict[str, list[Route]]:
    by_model: dict[str, list[Route]] = {}
    rows = (
        ChannelModel.objects.filter(channel__is_enabled=True)
        .select_related("channel", "model")
        .order_by("pk")
    )
    for row in rows:
        channel = row.channel
        by_model.setdefault(row.model.model_id, []).append(
            Route(
                channel_pk=channel.pk,
                channel=channel.name,
                base_url=channel.base_url.rstrip("/"),
                credential_encrypted=channel.credential_encrypted,
                upstream_model=row.upstream_model or row.model.model_id,
                priority=channel.priority,
                weight=channel.weight,
            )
        )
    return by_model


def invalidate_routes(**kwargs) -> None:
    def new_stamp():
        cache.set(ROUTES_STAMP, secrets.token_hex(8), timeout=None)
        refresh()

    transaction.on_commit(new_stamp)


for _sender in (Channel, ChannelModel, CatalogModel):
    post_save.connect(invalidate_routes, sender=_sender, dispatch_uid=f"relay-{_sender.__name__}")
    post_delete.connect(
        invalidate_routes, sender=_sender, dispatch_uid=f"relay-d-{_sender.__name__}"
    )


def served_models() -> list[str]:
    """The catalog ids that at least one enabled channel serves."""
    return sorted(_shared_view().by_model)


def _shared_view() -> _View:
    """One cache round trip a second at most: the stamp and the breakers; the table is
    reloaded (one query) only when the stamp changed."""
    now = time.monotonic()
    if now < _view.until:
        return _view
    stamp = cache.get(ROUTES_STAMP)
    if stamp is None:  # the cache lost it: start a new one, so that every process reloads
        cache.add(ROUTES_STAMP, secrets.token_hex(8), timeout=None)
        stamp = cache.get(ROUTES_STAMP)
    if _view.stamp != stamp:
        _view.by_model, _view.stamp = _load_table(), stamp
    pks = {route.channel_pk for routes in _view.by_model.values() for route in routes}
    _view.states = cache.get_many([_breaker_key(pk) for pk in pks])
    _view.until = now + VIEW_SECONDS
    return _view


def _breaker_key(channel_pk: int) -> str:
    return f"relay:breaker:{channel_pk}"


def _probe_key(channel_pk: int) -> str:
    return f"relay:probe:{channel_pk}"


def ordered(routes: list[Route]) -> list[Route]:
    """By priority, highest first; within one priority, a weighted random draw."""
    return sorted(routes, key=lambda r: (-r.priority, -(random.random() ** (1.0 / r.weight))))


@dataclass(frozen=True, slots=True)
class Candidate:
    route: Route
    failing: bool  # the breaker had failures or is probing: a success resets it
    probe: bool = False  # this call holds the channel's probe claim (see release_probe)


def candidates(model_id: str) -> tuple[list[Candidate], bool]:
    """(the channels to try for `model_id` in order, whether any channel serves it at all).
    Channels whose breaker is open are left out; after the cool-down one caller probes."""
    view = _shared_view()
    routes, states = view.by_model.get(model_id, []), view.states
    if not routes:
        return [], False
    now = time.time()
    chosen = []
    for route in ordered(routes):
        state = states.get(_breaker_key(route.channel_pk))
        probe = bool(state and state["open_until"] is not None)
        if probe:
            cooling = now < state["open_until"]
            if cooling or not cache.add(_probe_key(route.channel_pk), 1, _probe_seconds()):
                continue
        failing = bool(state and (state["failures"] or probe))
        chosen.append(Candidate(route=route, failing=failing, probe=probe))
    return chosen, True


def _probe_seconds() -> float:
    """How long a claim outlives a process that died holding it: long enough for a probe
    that is under way to reach its outcome (a failure takes at most connect + read timeout);
    a call that ends without one releases the claim at once (release_probe)."""
    return settings.RELAY_CONNECT_TIMEOUT_SECONDS + settings.RELAY_READ_TIMEOUT_SECONDS


# --- The breaker ---------------------------------------------------------------------------


def record_failure(channel_pk: int, error: str) -> None:
    key = _breaker_key(channel_pk)
    now = time.time()
    state = cache.get(key) or {"failures": 0, "open_until": None, "recent": []}
    state["failures"] += 1
    state["recent"] = [(now, error), *state["recent"]][:RECENT_FAILURES]
    if state["failures"] >= settings.RELAY_BREAKER_FAILURES:
        if state["open_until"] is None or state["open_until"] <= now:
            logger.warning("relay channel %s: breaker open after %s", channel_pk, error)
        state["open_until"] = now + settings.RELAY_BREAKER_COOLDOWN_SECONDS
    cache.set(key, state, timeout=None)
    cache.delete(_probe_key(channel_pk))
    refresh()


def record_success(channel_pk: int) -> None:
    """Close the breaker; the recent failures stay for the health view."""
    key = _breaker_key(channel_pk)
    state = cache.get(key)
    if state and (state["failures"] or state["open_until"] is not None):
        if state["open_until"] is not None:
            logger.info("relay channel %s: breaker closed", channel_pk)
        cache.set(key, {**state, "failures": 0, "open_until": None}, timeout=None)
    cache.delete(_probe_key(channel_pk))
    refresh()


def release_probe(channel_pk: int) -> None:
    """A call claimed the channel's probe but ended without its outcome: it answered from an
    earlier channel, or was cancelled before the upstream answered. The next call probes."""
    cache.delete(_probe_key(channel_pk))


@dataclass(frozen=True)
class Health:
    channel: Channel
    state: str  # "closed", "open", "half-open"
    failures: int
    open_until: float | None
    recent: list  # [(epoch seconds, error), ...] newest first


def health() -> list[Health]:
    """Every channel with its breaker's state, for the staff console."""
    channels = list(Channel.objects.all())
    states = cache.get_many([_breaker_key(c.pk) for c in channels])
    now = time.time()
    found = []
    for channel in channels:
        state = states.get(_breaker_key(channel.pk)) or {
            "failures": 0,
            "open_until": None,
            "recent": [],
        }
        open_until = state["open_until"]
        label = "closed" if open_until is None else "open" if now < open_until else "half-open"
        found.append(Health(channel, label, state["failures"], open_until, state["recent"]))
    return found
