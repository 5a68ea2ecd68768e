"""CSRF: every state-changing page route refuses a request without a valid token, changing nothing.

The JSON API (Bearer tokens only, never cookies), the Stripe webhook (signed) and the
sandbox (it stands for Stripe's own domain) are the documented exemptions.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from harness import Auth

from webapp.extensions import db

EXEMPT_PREFIXES = ("/api/", "/webhooks/", "/_sandbox/")
UNSAFE = {"POST", "PATCH", "PUT", "DELETE"}


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def _snapshot(app) -> dict[str, int]:
    with app.app_context():
        counts = {
            t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t)) for t in db.metadata.sorted_tables
        }
        db.session.remove()
        return counts


def _page_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(EXEMPT_PREFIXES):
            continue
        for method in sorted((rule.methods or set()) & UNSAFE):
            yield method, re.sub(r"<(?:[^:>]+:)?([^>]+)>", "x", rule.rule)


def test_there_are_routes_to_walk(app):
    routes = list(_page_routes(app))
    paths = {path for _, path in routes}
    for expected in ("/checkout/x", "/checkout/x/coupon", "/dev/sign-in", "/sign-out"):
        assert expected in paths
    assert len(routes) >= 8


def test_every_unsafe_page_route_refuses_a_missing_or_forged_token(app):
    from webapp.services.courses import create_course

    with app.app_context():
        create_course(slug="x", title="X", price=5000, currency="usd")
    client = app.test_client()
    Auth(app, client).sign_in("csrf_admin", admin=True)
    client.get("/")  # the user row exists before the snapshot
    before = _snapshot(app)
    checked = 0
    for method, path in _page_routes(app):
        for headers, data in (({}, {}), ({"X-CSRFToken": "forged"}, {"csrf_token": "forged"})):
            response = client.open(
                path,
                method=method,
                data={**data, "code": "WELCOME10", "user_id": "u", "amount": "1.00", "reason": "r"},
                headers=headers,
            )
            assert response.status_code == 400, f"{method} {path} answered {response.status_code}"
            checked += 1
    assert checked >= 16
    assert _snapshot(app) == before


def test_a_valid_token_is_accepted(app):
    client = app.test_client()
    page = client.get("/dev/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/dev/sign-in", data={"user_id": "with_token", "csrf_token": token})
    assert response.status_code == 303
