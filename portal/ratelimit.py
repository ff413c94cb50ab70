"""Fixed-window request counters in the shared cache (Redis in production: every web process
counts together; the local-memory cache counts per process).

`count` adds to a named counter; `per_client_ip` limits a view to a number of requests a
minute from one client address, answering 429 with Retry-After past it.
"""

import functools
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


def now() -> float:
    return time.time()


def count(counter: str, delta: int, *, timeout: int) -> int:
    """Add `delta` to the counter (created with `timeout` seconds to live); its new value."""
    if cache.add(counter, delta, timeout=timeout):
        return delta
    try:
        return cache.incr(counter, delta)
    except ValueError:  # expired between add and incr
        cache.add(counter, delta, timeout=timeout)
        return delta


def admit(scope: str, client: str, limit: int) -> int | None:
    """Count one request of `client` in this minute's window of `scope`: None while within
    `limit`, else the seconds until the next window (the request is still counted, so a
    client that keeps sending stays refused until the window ends)."""
    moment = now()
    window = int(moment // WINDOW_SECONDS)
    # Two windows' lifetime: a window is read up to its last second, then forgotten.
    seen = count(f"ratelimit:{scope}:{client}:{window}", 1, timeout=2 * WINDOW_SECONDS)
    if seen <= limit:
        return None
    if seen == limit + 1:  # one line per client and window, not one per refused request
        logger.warning("rate limit %s: %s sent over %s requests this minute", scope, client, limit)
    return WINDOW_SECONDS - int(moment % WINDOW_SECONDS)


def per_client_ip(scope: str, setting: str):
    """View decorator: at most `settings.<setting>` requests a minute from one client
    address (REMOTE_ADDR: the proxy's X-Forwarded-For once trusted, FORWARDED_ALLOW_IPS);
    0 turns the limit off. Past it: 429 with Retry-After, before the view runs."""

    def decorator(view):
        @functools.wraps(view)
        def limited(request, *args, **kwargs):
            limit = getattr(settings, setting)
            client = request.META.get("REMOTE_ADDR") or "-"
            retry_after = admit(scope, client, limit) if limit else None
            if retry_after is None:
                return view(request, *args, **kwargs)
            response = HttpResponse(_("Too many requests."), status=429, content_type="text/plain")
            response["Retry-After"] = str(retry_after)
            response._has_been_logged = True  # admit() logged the window's first refusal
            return response

        return limited

    return decorator
