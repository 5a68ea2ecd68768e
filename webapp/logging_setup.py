"""Structured logs: one JSON line per request, and payment events with their ids."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, g, request

from webapp.metrics import observe_request

# Never let these reach a log line, whatever a caller passes in `extra`.
_REDACTED_KEYS = {"authorization", "cookie", "card_number", "token", "password", "secret"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({k: ("[redacted]" if k.lower() in _REDACTED_KEYS else v) for k, v in fields.items()})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class _DropDevServerAccessLog(logging.Filter):
    """The dev server's own access line duplicates our JSON request line; keep its banner."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg if isinstance(record.msg, str) else ""
        return not (" - - [" in msg and msg.rstrip().endswith('"%s" %s %s'))


def init_app(app: Flask) -> None:
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, _DropDevServerAccessLog) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(_DropDevServerAccessLog())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("webapp", "webapp.request"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    request_log = logging.getLogger("webapp.request")

    @app.before_request
    def _start_request() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if 8 <= len(incoming) <= 64 and incoming.isascii() else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        response.headers["X-Request-ID"] = g.get("request_id", "")
        observe_request(
            request.method,
            request.url_rule.rule if request.url_rule else None,
            response.status_code,
            duration_ms / 1000 if duration_ms is not None else None,
        )
        user = g.get("user")  # the claims snapshot (auth.CurrentUser), never an ORM row
        request_log.info(
            "request",
            extra={
                "fields": {
                    "request_id": g.get("request_id"),
                    "method": request.method,
                    "path": request.path,
                    "route": request.url_rule.rule if request.url_rule else None,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                    "user_id": user.id if user is not None else None,
                }
            },
        )
        return response


def log_event(message: str, **fields) -> None:
    """Logs a payment/domain event with its ids (never card data or tokens)."""
    logging.getLogger("webapp").info(message, extra={"fields": fields})
