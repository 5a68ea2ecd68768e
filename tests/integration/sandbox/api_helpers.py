"""Raw REST calls to the mounted sandbox, as an HTTP client (not the SDK) would send them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

AUTH = {"Authorization": "Bearer sk_test_validation"}
PREFIX = "/_sandbox/stripe"


def call(client, method: str, path: str, pairs: list[tuple[str, str]] | None = None, **headers: str):
    """`method path` with form pairs (body for POST, query for GET and DELETE, as the SDK
    sends them); returns (status, json, headers)."""
    encoded = urlencode(pairs or [])
    all_headers = {**AUTH, **headers}
    if method in ("GET", "DELETE"):
        response = client.open(f"{PREFIX}{path}?{encoded}", method=method, headers=all_headers)
    else:
        response = client.open(
            f"{PREFIX}{path}",
            method=method,
            data=encoded,
            headers=all_headers,
            content_type="application/x-www-form-urlencoded",
        )
    return response.status_code, response.get_json(silent=True), response.headers


def error_of(body: dict[str, Any]) -> dict[str, Any]:
    return body["error"]


CHECKOUT = [
    ("mode", "payment"),
    ("success_url", "http://localhost/ok"),
    ("line_items[0][quantity]", "1"),
    ("line_items[0][price_data][currency]", "usd"),
    ("line_items[0][price_data][unit_amount]", "1500"),
    ("line_items[0][price_data][product_data][name]", "Course"),
]
