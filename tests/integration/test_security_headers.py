"""Security headers on HTML responses: a CSP without inline script, no framing, nosniff."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/", "/dev/sign-in", "/courses/nope", "/checkout/nope"])
def test_every_page_carries_the_headers(sqlite_app, path):
    response = sqlite_app.test_client().get(path)
    csp = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in response.headers  # development


def test_clerk_origin_only_when_clerk_is_configured(tmp_path):
    from tests.support.harness import make_app

    plain = make_app(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    assert "clerk" not in plain.test_client().get("/healthz").headers.get("Content-Security-Policy", "")
    from webapp.security import _csp

    clerk = make_app(
        f"sqlite:///{tmp_path / 'b.db'}", tmp_path, CLERK_CONFIGURED=True, CLERK_ISSUER="https://clerk.example.com"
    )
    assert "https://clerk.example.com" in _csp(clerk).split("script-src", 1)[1].split(";", 1)[0]


def test_session_cookie_flags(sqlite_app):
    response = sqlite_app.test_client().post("/dev/sign-in", data={"user_id": "cookie_user"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize(
    "method, path, data",
    [
        ("GET", "/payment/success?session_id=cs_%00x", None),
        ("GET", "/courses/a%00", None),
        ("GET", "/account/enrollments/a%00/cancel", None),
        ("POST", "/checkout/x/coupon", {"code": "A\x00B"}),
    ],
)
def test_nul_bytes_are_a_clear_400_on_both_databases(app, auth, method, path, data):
    client = app.test_client()
    auth.client = client
    auth.sign_in("nul_user")
    response = client.open(path, method=method, data=data)
    assert response.status_code == 400
    assert "can&#39;t accept" in response.get_data(as_text=True) or "can't accept" in response.get_data(as_text=True)
