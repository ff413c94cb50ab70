"""Prometheus metrics, served at /metrics to whoever holds METRICS_TOKEN.

Web workers (gunicorn) and Celery workers are separate processes: with PROMETHEUS_MULTIPROC_DIR
set (before the process starts) every process writes its samples to files there and a scrape
adds them up (prometheus_client's multiprocess mode); without it, the process's own registry
is served. Some figures (the usage rollup lag) are computed only when scraped.
"""

import hmac
import os
import time
from functools import wraps

from celery import signals
from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseForbidden
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from portal.middleware import AroundViewMiddleware

HTTP_REQUEST_DURATION = Histogram(
    "portal_http_request_duration_seconds",
    "Time until an HTTP response is ready (a streamed body: until it starts), by method, URL "
    "route (the pattern, not the path) and status class.",
    ["method", "route", "status"],
)
AUTHORIZE_DECISIONS = Counter(
    "portal_authorize_decisions_total",
    "Gateway authorize answers: allowed, the refusal reason, or invalid_credential.",
    ["decision"],
)
USAGE_EVENTS = Counter(
    "portal_usage_events_total",
    "Usage events received from the gateway: accepted (stored) or duplicate (ignored).",
    ["outcome"],
)
TASK_FAILURES = Counter(
    "portal_celery_task_failures_total", "Celery tasks that raised, by task name.", ["task"]
)
TASK_DURATION = Histogram(
    "portal_celery_task_duration_seconds",
    "Time a Celery task ran, by task name and final state.",
    ["task", "state"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, float("inf")),
)

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


# --- Web requests ---------------------------------------------------------------------------


def observe_request(method: str, route: str, status: int, started: float) -> None:
    """One request's latency (Django's middleware below, the relay's app in gateway/app.py)."""
    HTTP_REQUEST_DURATION.labels(
        method=method if method in METHODS else "other", route=route, status=f"{status // 100}xx"
    ).observe(time.perf_counter() - started)


class RequestMetricsMiddleware(AroundViewMiddleware):
    """Times every request (sync and async)."""

    def before(self, request):
        return time.perf_counter()

    def after(self, request, response, started):
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "unmatched"
        observe_request(request.method, route, response.status_code, started)
        return response


# --- Gateway and metering -------------------------------------------------------------------


def counts_authorize_decisions(authorize):
    """Wraps projects.authorize.authorize: counts each answer (one label lookup, no I/O)."""

    @wraps(authorize)
    def counted(**kwargs):
        outcome = authorize(**kwargs)
        if outcome is None:
            decision = "invalid_credential"
        else:
            decision = "allowed" if outcome[0] else outcome[1]["reason"]
        AUTHORIZE_DECISIONS.labels(decision=decision).inc()
        return outcome

    return counted


def record_ingestion(result) -> None:
    """Counts a billing.metering.services.IngestResult."""
    USAGE_EVENTS.labels(outcome="accepted").inc(result.accepted)
    USAGE_EVENTS.labels(outcome="duplicate").inc(result.duplicates)


# Collectors that compute their figures when scraped, registered by the apps that own them
# (the usage rollup lag: billing.apps): metrics stays ignorant of who reports.
_scrape_collectors: list = []


def collect_when_scraped(collector) -> None:
    if collector not in _scrape_collectors:
        _scrape_collectors.append(collector)


# --- Celery ---------------------------------------------------------------------------------

_task_started: dict[str, float] = {}


@signals.task_prerun.connect
def _task_prerun(task_id=None, **kwargs):
    _task_started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_postrun(task_id=None, task=None, state=None, **kwargs):
    started = _task_started.pop(task_id, None)
    if started is not None:
        TASK_DURATION.labels(task=task.name, state=state or "UNKNOWN").observe(
            time.perf_counter() - started
        )


@signals.task_failure.connect
def _task_failure(sender=None, **kwargs):
    TASK_FAILURES.labels(task=sender.name if sender is not None else "unknown").inc()


# --- The endpoint ---------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def scrape_registry() -> CollectorRegistry:
    """This process's metrics (or every process's, in multiprocess mode) plus the scraped
    collectors' figures."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    for collector in _scrape_collectors:
        registry.register(collector)
    return registry


def _authorized(request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.METRICS_TOKEN
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), expected.encode())


@never_cache
@require_GET
def metrics_view(request):
    """404 unless METRICS_TOKEN is set; 403 without `Authorization: Bearer <METRICS_TOKEN>`."""
    if not settings.METRICS_TOKEN:
        raise Http404
    if not _authorized(request):
        return HttpResponseForbidden()
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
