"""One JSON log line per request with its id; Prometheus metrics behind a flag."""

from __future__ import annotations

import json
import logging

import pytest


def test_json_log_line_per_request_with_request_id_and_user(sqlite_app):
    import io

    from tests.support.auth import Auth
    from webapp.logging_setup import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("webapp.request")
    logger.addHandler(handler)
    try:
        client = sqlite_app.test_client()
        Auth(sqlite_app, client).sign_in("logged_user")
        response = client.get("/", headers={"X-Request-ID": "req-1234567890"})
    finally:
        logger.removeHandler(handler)
    assert response.headers["X-Request-ID"] == "req-1234567890"
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("msg") == "request" and line.get("path") == "/"]
    assert request_lines, lines
    line = request_lines[-1]
    assert line["request_id"] == "req-1234567890" and line["user_id"] == "logged_user"
    assert line["status"] == 200 and line["route"] == "/" and line["duration_ms"] >= 0


def test_generated_request_id_when_none_is_given(sqlite_app):
    response = sqlite_app.test_client().get("/healthz")
    assert len(response.headers["X-Request-ID"]) == 32


def test_secrets_are_redacted_from_structured_fields():
    from webapp.logging_setup import JsonFormatter

    record = logging.LogRecord("webapp", logging.INFO, __file__, 1, "x", None, None)
    record.fields = {"authorization": "Bearer abc", "card_number": "4242", "ok": 1}
    line = json.loads(JsonFormatter().format(record))
    assert line["authorization"] == "[redacted]" and line["card_number"] == "[redacted]" and line["ok"] == 1


def test_metrics_are_off_by_default(tmp_path):
    from tests.support.harness import make_app

    app = make_app(f"sqlite:///{tmp_path / 'm.db'}", tmp_path)
    assert app.test_client().get("/metrics").status_code == 404


@pytest.fixture
def app_config():
    return {"METRICS_ENABLED": True}


def test_metrics_count_requests_and_webhooks(app, client):
    client.get("/healthz")
    client.post("/webhooks/stripe", data="{}", headers={"Stripe-Signature": "t=1,v1=bad"})
    body = client.get("/metrics").get_data(as_text=True)
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in body
    assert "http_request_duration_seconds_bucket" in body
    assert "checkouts_created_total" in body and "webhook_events_total" in body


def test_dev_server_access_lines_are_dropped_but_its_banner_kept():
    from webapp.logging_setup import _DropDevServerAccessLog

    keep = _DropDevServerAccessLog()
    access = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '127.0.0.1 - - [now] "%s" %s %s', (), None)
    banner = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, " * Running on %s", ("http://x",), None)
    assert keep.filter(access) is False and keep.filter(banner) is True
