"""Log formats, shared by the portal (settings.LOGGING) and gunicorn (gunicorn.conf.py).

Times are UTC: Django makes TIME_ZONE (the business zone) the process's local zone, so
logging's default asctime would be Beijing time with no offset.
"""

import logging
import time


class UTCFormatter(logging.Formatter):
    """Readable lines: 2026-11-28T11:15:47.994Z WARNING logger [request id] message."""

    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


def json_formatter(*fields: str) -> dict:
    """A dictConfig formatter: one JSON object per line with time (ISO 8601, UTC), level,
    logger, message and the record's `fields`."""
    return {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": " ".join(f"%({name})s" for name in ("levelname", "name", "message", *fields)),
        "rename_fields": {"levelname": "level", "name": "logger"},
        "timestamp": "time",
    }
