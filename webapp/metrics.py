"""Prometheus metrics at /metrics, when METRICS_ENABLED is on.

Counters are per process unless PROMETHEUS_MULTIPROC_DIR is set (gunicorn with several
workers: point it at an empty directory and every worker's samples are aggregated).
"""

from __future__ import annotations

import os

from flask import Flask, Response, abort, current_app, has_app_context
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Request latency",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PAYMENT_TRANSITIONS = Counter("payment_state_changes_total", "Payment state changes by audit action", ["action"])
CHECKOUTS_CREATED = Counter("checkouts_created_total", "Stripe checkout sessions created")
CHECKOUTS_COMPLETED = Counter("checkouts_completed_total", "Checkouts completed (enrollments granted)")
WEBHOOK_EVENTS = Counter("webhook_events_total", "Stripe webhook events", ["type", "result"])


def _enabled() -> bool:
    """Nothing is counted while /metrics is off: nobody could read it, and it is per-request work."""
    return has_app_context() and bool(current_app.config.get("METRICS_ENABLED"))


def observe_request(method: str, route: str | None, status: int, seconds: float | None) -> None:
    if not _enabled():
        return
    route = route or "unmatched"
    REQUESTS.labels(method, route, str(status)).inc()
    if seconds is not None:
        LATENCY.labels(route).observe(seconds)


def observe_audit(action: str) -> None:
    if not _enabled():
        return
    PAYMENT_TRANSITIONS.labels(action).inc()
    if action == "payment_session.created":
        CHECKOUTS_CREATED.inc()
    elif action == "payment_session.completed":
        CHECKOUTS_COMPLETED.inc()


def observe_webhook(event_type: str | None, result: str) -> None:
    if not _enabled():
        return
    WEBHOOK_EVENTS.labels(event_type or "unknown", result).inc()


def init_app(app: Flask) -> None:
    @app.get("/metrics")
    def metrics():
        if not current_app.config.get("METRICS_ENABLED"):
            abort(404)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
