"""A key's request and token rates (ApiKey.rpm_limit, tpm_limit), which authorize() hands an
external gateway to enforce in `limits`: the relay is the gateway here, so it enforces them.

Fixed one-minute windows counted in the shared cache (Redis in production: every worker
process counts together). A request is counted when admitted, before any upstream is asked, so
a call past the key's RPM costs nothing. Tokens are known only after a call: once the minute's
tokens reach the key's TPM, new calls are refused until the next minute, and the call that
crossed the limit completes.
"""

import time

from django.core.cache import cache

from portal import ratelimit

WINDOW_SECONDS = 60


class RateLimited(Exception):
    def __init__(self, unit: str, limit: int, retry_after: int):
        super().__init__(f"{limit} {unit} per minute")
        self.unit, self.limit, self.retry_after = unit, limit, retry_after


def now() -> float:
    return time.time()


def _counter(unit: str, key_id: str, moment: float) -> str:
    return f"relay:rate:{unit}:{key_id}:{int(moment // WINDOW_SECONDS)}"


def admit(key_id: str, limits: dict) -> None:
    """Count one request of the key, or raise RateLimited (and count nothing)."""
    rpm, tpm = limits.get("rpm"), limits.get("tpm")
    if rpm is None and tpm is None:
        return
    moment = now()
    retry_after = WINDOW_SECONDS - int(moment % WINDOW_SECONDS)
    if tpm is not None and cache.get(_counter("tokens", key_id, moment), 0) >= tpm:
        raise RateLimited("tokens", tpm, retry_after)
    if rpm is not None:
        counter = _counter("requests", key_id, moment)
        if _add(counter, 1) > rpm:
            _add(counter, -1)  # a refused request does not take a later one's place
            raise RateLimited("requests", rpm, retry_after)


def count_tokens(key_id: str, tokens: int) -> None:
    """Add a finished call's tokens to the key's current minute."""
    if tokens > 0:
        _add(_counter("tokens", key_id, now()), tokens)


def _add(counter: str, delta: int) -> int:
    # Two windows' lifetime: a window is read up to its last second, then forgotten.
    return ratelimit.count(counter, delta, timeout=2 * WINDOW_SECONDS)
