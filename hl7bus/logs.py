"""Structured logs: one JSON object per line on stderr.  Log lines name peers, connectors,
control ids and error codes — never patient data."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for chatty in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def fields(**values: object) -> dict[str, dict[str, object]]:
    """``log.info("...", extra=fields(peer=..., code=...))``."""
    return {"fields": values}


class LibrdkafkaLog:
    """librdkafka's own log lines as log entries of ``hl7bus.kafka.librdkafka``, with the
    facility (``FAIL``, ``REQTMOUT``, ...) and the client's name as fields.

    Give it as the ``logger`` of a Kafka client's configuration: confluent-kafka then calls
    ``log(level, "%s [%s] %s", facility, client, text)`` for each line — from the client's
    ``poll()`` (a producer or admin client must be polled for its lines to arrive) —
    instead of librdkafka writing it to stderr itself.  With ``level`` every line is
    logged at that level (``logging.DEBUG`` for probes whose failures are expected).
    """

    name = "hl7bus.kafka.librdkafka"

    def __init__(self, level: int | None = None) -> None:
        self.logger = logging.getLogger(self.name)
        self.level = level

    def log(self, level: int, message: str, *args: object) -> None:
        if len(args) == 3:
            facility, client, text = args
        else:
            facility, client, text = "", "", message % args if args else message
        self.logger.log(
            self.level or level, "%s", text, extra=fields(facility=facility, client=client)
        )
