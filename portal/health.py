"""Reachability of the components the portal cannot work without."""

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from kombu import Connection

from portal.models import Heartbeat


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_cache() -> None:
    probe = uuid.uuid4().hex
    cache.set("healthz-probe", probe, timeout=10)
    if cache.get("healthz-probe") != probe:
        raise RuntimeError("cache did not return what was written")


def check_broker() -> None:
    with Connection(
        settings.CELERY_BROKER_URL,
        transport_options=getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}),
        connect_timeout=2,
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}


def run_checks() -> dict:
    """{"ok": bool, "components": {name: "ok" | error text}, "worker_seen_at": iso | None}."""
    components = {}
    for name, check in CHECKS.items():
        try:
            check()
            components[name] = "ok"
        except Exception as exc:  # a health probe reports any failure, whatever its type
            components[name] = f"error: {exc.__class__.__name__}"
    worker_seen_at = None
    if components["database"] == "ok":
        heartbeat = Heartbeat.objects.filter(name="worker").first()
        worker_seen_at = heartbeat.seen_at.isoformat() if heartbeat else None
    return {
        "ok": all(state == "ok" for state in components.values()),
        "components": components,
        "worker_seen_at": worker_seen_at,
    }
