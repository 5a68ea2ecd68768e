"""CSRF: every state-changing page route refuses a request without a valid token, changing nothing.

The JSON API (Bearer tokens only, never cookies), the Stripe webhook (signed) and the
sandbox (it stands for Stripe's own domain) are the documented exemptions.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.support.auth import Auth
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


def _form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _course(app, slug: str) -> None:
    from webapp.services.courses import create_course

    with app.app_context():
        create_course(slug=slug, title="Bound", price=5000, currency="usd")


class TestSecretBoundToTheClerkSession:
    """A signed-in browser's CSRF secret is derived from its Clerk session (security.bind_csrf_secret)."""

    def test_a_signed_in_page_writes_no_session_cookie_and_its_token_works_without_one(self, app):
        _course(app, "bound")
        client = app.test_client()
        Auth(app, client).sign_in("bound_learner")
        page = client.get("/checkout/bound")
        assert page.status_code == 200
        assert "Set-Cookie" not in page.headers
        assert client.get_cookie("checkout_session") is None
        response = client.post(
            "/checkout/bound/coupon", data={"code": "NOPE", "csrf_token": _form_token(page.get_data(as_text=True))}
        )
        assert response.status_code == 200, response.get_data(as_text=True)[-1500:]  # the coupon is refused in the page

    def test_a_token_from_another_sign_in_is_refused(self, app):
        _course(app, "bound-two")
        first, second = app.test_client(), app.test_client()
        Auth(app, first).sign_in("first_learner")
        token = _form_token(first.get("/checkout/bound-two").get_data(as_text=True))
        Auth(app, second).sign_in("second_learner")
        refused = second.post("/checkout/bound-two/coupon", data={"code": "NOPE", "csrf_token": token})
        assert refused.status_code == 400
        # Same user, new sign-in (new Clerk session id): the old page's token no longer works.
        Auth(app, first).sign_in("first_learner")
        assert first.post("/checkout/bound-two/coupon", data={"code": "N", "csrf_token": token}).status_code == 400

    def test_a_stale_session_cookie_cannot_override_the_bound_secret(self, app):
        """A session cookie carrying another secret (from before sign-in) is ignored."""
        _course(app, "bound-three")
        client = app.test_client()
        anonymous_token = _form_token(client.get("/dev/sign-in").get_data(as_text=True))
        assert client.get_cookie("checkout_session") is not None  # signed out: Flask-WTF's random secret
        Auth(app, client).sign_in("stale_learner")
        refused = client.post("/checkout/bound-three/coupon", data={"code": "N", "csrf_token": anonymous_token})
        assert refused.status_code == 400
        bound = _form_token(client.get("/checkout/bound-three").get_data(as_text=True))
        assert client.post("/checkout/bound-three/coupon", data={"code": "N", "csrf_token": bound}).status_code == 200
