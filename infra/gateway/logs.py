"""Structured logs: one JSON object a line, with fields chosen by the caller, never secrets.

The gateway logs what it decided (slug, status, reason, event ids, sizes, timings); it never
logs request headers, bodies, query strings, secrets or the server's auth string.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER_NAME = "prefect_platform.gateway"
logger = logging.getLogger(LOGGER_NAME)


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ...fields}` per record."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line."""
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            data["exception"] = record.exc_info[0].__name__
        return json.dumps(data, default=str)


def log(level: int, message: str, **fields: Any) -> None:
    """Log `message` with structured fields."""
    logger.log(level, message, extra={"fields": fields})


def configure(level: str = "INFO") -> None:
    """Send the gateway's and uvicorn's logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in (LOGGER_NAME, "uvicorn", "uvicorn.error"):
        target = logging.getLogger(name)
        target.handlers[:] = [handler]
        target.setLevel(level)
        target.propagate = False
