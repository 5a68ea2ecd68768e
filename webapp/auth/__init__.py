"""Identity: every request's user comes from a verified Clerk session token.

Pages read the `__session` cookie (and are CSRF-protected); the JSON API reads only the
`Authorization: Bearer` header, so a cookie alone never authenticates an API call.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from flask import Flask, abort, current_app, g, jsonify, redirect, request, url_for

from webapp.auth.tokens import verify_session_token
from webapp.services.users import upsert_user


def is_api_request() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def load_identity() -> None:
    """Sets g.user (None when signed out), g.claims, g.is_admin and g.auth_reason."""
    g.user = None
    g.claims = None
    g.is_admin = False
    g.auth_reason = None
    if request.endpoint in (None, "static") or request.path.startswith(("/_sandbox/", "/webhooks/", "/healthz")):
        return
    if is_api_request():
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            g.auth_reason = "missing"
            return
        if scheme.lower() != "bearer" or not token.strip():
            g.auth_reason = "malformed-authorization-header"
            return
        result = verify_session_token(current_app, bearer=token.strip())
    else:
        cookie = request.cookies.get("__session")
        if not cookie:
            g.auth_reason = "missing"
            return
        result = verify_session_token(current_app, cookie=cookie)
    if result.claims is None:
        g.auth_reason = result.reason
        return
    claims = result.claims
    g.claims = claims
    g.user = upsert_user(claims.user_id, email=claims.email, name=claims.name)
    g.is_admin = claims.user_id in current_app.config["ADMIN_USER_IDS"] or claims.role == "admin"


def safe_next(target: str | None) -> str | None:
    """A same-site relative path to return to after sign-in, or None."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ch in target for ch in ("\\", "\r", "\n", "\t")) or len(target) > 2000:
        return None
    return target


def sign_in_url(next_path: str | None = None) -> str:
    target = url_for("auth.sign_in")
    next_path = safe_next(next_path)
    return f"{target}?{urlencode({'next': next_path})}" if next_path else target


def _unauthenticated():
    if is_api_request():
        response = jsonify(
            error={"code": "unauthenticated", "message": "A valid Bearer session token is required.", "details": []}
        )
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    return redirect(sign_in_url(request.full_path.rstrip("?")), code=303 if request.method != "GET" else 302)


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            return _unauthenticated()
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            return _unauthenticated()
        if not g.get("is_admin"):
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def init_app(app: Flask) -> None:
    from webapp.auth.views import bp

    app.before_request(load_identity)
    app.register_blueprint(bp)

    @app.context_processor
    def _identity():
        return {"current_user": g.get("user"), "is_admin": g.get("is_admin", False)}
