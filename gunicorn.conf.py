"""gunicorn in production: `gunicorn` (this file is read from the working directory).

Uvicorn workers serve the ASGI application, so the relay's async streaming views run on an
event loop while the rest of the portal (sync views) runs in Django's thread pool. Every
setting comes from the environment; see docs/operations.md.
"""

import os
import shutil
from pathlib import Path

from portal.logs import json_formatter

wsgi_app = "portal.asgi:application"
worker_class = "uvicorn_worker.UvicornWorker"
bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
# With uvicorn workers this is a heartbeat of the worker's event loop, not a request limit:
# a long streamed answer does not hit it, a worker stuck in a blocking call does.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# How long in-flight requests (and streams) may finish after SIGTERM before workers are killed.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Trust X-Forwarded-Proto/-For only from the reverse proxy (comma-separated addresses, or *).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# No access log here: the proxy keeps one, and the portal's own logs carry the request id.
accesslog = None
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# JSON by default in production, as the portal's own lines (LOG_FORMAT in portal/settings.py).
_production = os.environ.get("DJANGO_ENV") == "production"
if os.environ.get("LOG_FORMAT", "json" if _production else "text") == "json":
    # gunicorn's own lines (and uvicorn's, which reuse its handlers) as JSON too.
    logconfig_dict = {  # replaces gunicorn's defaults key by key: all four are needed
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": json_formatter()},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json"},
            "error_console": {"class": "logging.StreamHandler", "formatter": "json"},
        },
        "root": {"level": loglevel.upper(), "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {
                "level": loglevel.upper(),
                "handlers": ["error_console"],
                "propagate": False,
                "qualname": "gunicorn.error",
            },
        },
    }


def on_starting(server):
    """Prometheus multiprocess mode: start from an empty folder (files of earlier runs would
    be added to this run's figures). It may be a mount point: only its contents go."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for entry in Path(folder).iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
