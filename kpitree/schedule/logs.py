"""Structured logs for the scheduler: every line is an event name with fields.

``text`` (the default) prints ``2026-11-02T06:00:00Z INFO run.succeeded tree=... period=...``;
``json`` prints one JSON object per line (``ts``, ``level``, ``event`` and the fields) for a log
shipper. Fields go through ``extra``, so any handler still sees a readable message.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

LOGGER = logging.getLogger("kpitree.schedule")


def log_event(level: int, event: str, *, exc_info: bool = False, **fields: Any) -> None:
    """Log ``event`` with ``fields``; ``exc_info`` adds the traceback of the exception being handled
    (for bugs, not for a user's mistake)."""
    text = " ".join(f"{key}={_text(value)}" for key, value in fields.items())
    LOGGER.log(level, "%s %s", event, text, exc_info=exc_info, extra={"event": event, "fields": fields})


def _text(value: Any) -> str:
    shown = value.isoformat() if isinstance(value, datetime) else str(value)
    # Quoted (JSON-escaped) when it holds a space, a quote, '=' or a control character: a value
    # from a tree file or the warehouse cannot start a log line of its own or fake a field.
    plain = shown and all(c.isprintable() and c not in ' "=' for c in shown)
    return shown if plain else json.dumps(shown)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.getMessage()),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", datefmt="%Y-%m-%dT%H:%M:%SZ")

    def converter(self, seconds: float | None) -> time.struct_time:
        return time.gmtime(seconds)  # timestamps in UTC, like the JSON ones


def configure_logging(style: str, stream: TextIO | None = None) -> None:
    """Send kpitree's scheduler logs (and APScheduler's warnings) to ``stream`` in ``style``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if style == "json" else TextFormatter())
    for name, level in (("kpitree", logging.INFO), ("apscheduler", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
