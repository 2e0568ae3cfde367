"""Logging: one record per line on stdout, where container runtimes collect it.

Two formats (the LOG_FORMAT setting):
- json (the default, and what the container writes): one JSON object per line
  with time, level, logger, message and request_id; the access log adds
  method, path, status and duration_ms. Log pipelines parse it without regexes.
- text: the same records as readable lines, for a terminal (`make run`).
The standard library does both; docs/design-decisions.md says why no library.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from app.request_context import request_id

# Fields of the access log (app/request_context.py), copied into JSON lines.
ACCESS_FIELDS = ("method", "path", "status", "duration_ms")


class RequestIdFilter(logging.Filter):
    """Add the current request's id (or None) to every record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for field in ACCESS_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def logging_config(level: str, log_format: str = "json") -> dict[str, Any]:
    """Return a `logging.config.dictConfig` for the app, uvicorn and every other library."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "json": {"()": JsonFormatter},
            "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["request_id"],
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            name: {"handlers": ["stdout"], "level": level, "propagate": False}
            for name in ("app", "uvicorn", "uvicorn.access")
        },
        # Other libraries' records, in the same format: warnings and errors only.
        "root": {"handlers": ["stdout"], "level": "WARNING"},
    }
