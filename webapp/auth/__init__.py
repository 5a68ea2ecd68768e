"""Identity: every request's user comes from a verified Clerk session token.

Pages read the `__session` cookie (and are CSRF-protected); the JSON API reads only the
`Authorization: Bearer` header, so a cookie alone never authenticates an API call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlencode

from flask import Flask, abort, current_app, g, jsonify, redirect, request, url_for

from webapp.auth.tokens import verify_session_token
from webapp.services import users
from webapp.speedups import bind_csrf_secret


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in user as `g.user`: id, email and name, from verified claims.

    A plain snapshot rather than the ORM row: most requests only need the id, building an
    ORM object per request cost about a tenth of the checkout page's time, and a page that
    commits would expire a row and spend one more SELECT to print the header's name. Code
    that needs the row (Stripe customer, saved cards) calls `user_row()`.
    """

    id: str
    email: str | None
    name: str | None


def is_api_request() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def load_identity() -> None:
    """Sets g.user (None when signed out), g.claims, g.is_admin and g.auth_reason."""
    g.user = None
    g.claims = None
    g.is_admin = False
    g.auth_reason = None
    g.needs_refresh = False
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
        if result.claims is None and result.reason == "token-expired" and _clerk_client_signed_in():
            # Clerk session tokens live a minute; ClerkJS renews them in the browser.
            g.needs_refresh = True
    if result.claims is None:
        g.auth_reason = result.reason
        return
    claims = result.claims
    g.claims = claims
    if not is_api_request():
        bind_csrf_secret(claims.session_id)  # before Flask-WTF's check (create_app orders the hooks)
    email, name = users.ensure_user(claims.user_id, email=claims.email, name=claims.name)
    g.user = CurrentUser(claims.user_id, email, name)
    g.is_admin = claims.user_id in current_app.config["ADMIN_USER_IDS"] or claims.role == "admin"


def user_row():
    """The signed-in learner's ORM row (for the few services that read or write it)."""
    return users.user_row(g.user.id)


def _clerk_client_signed_in() -> bool:
    """Clerk's `__client_uat` cookie is a non-zero timestamp while the browser has a live session."""
    if not current_app.config["CLERK_CONFIGURED"]:
        return False
    value = request.cookies.get("__client_uat", "0")
    return value.isdigit() and int(value) > 0


REFRESH_MARKER = "__clerk_refreshed"


def refresh_expired_session():
    """Serves the refresh page once for a page GET whose Clerk token expired; never loops.

    The page loads ClerkJS, which renews the `__session` cookie, then reloads the URL with
    a marker; if the token is still not valid then, the request proceeds signed out.
    """
    if not g.get("needs_refresh") or request.method != "GET" or request.args.get(REFRESH_MARKER):
        return None
    from flask import render_template

    separator = "&" if "?" in request.full_path.rstrip("?") else "?"
    target = f"{request.full_path.rstrip('?')}{separator}{REFRESH_MARKER}=1"
    return render_template(
        "auth/refresh.html",
        target=target,
        publishable_key=current_app.config["CLERK_PUBLISHABLE_KEY"],
        frontend_api=current_app.config["CLERK_ISSUER"],
    ), 200


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
        # NestJS's error shape plus our code and details, as every API error (web.errors).
        response = jsonify(
            statusCode=401,
            message="A valid Bearer session token is required.",
            error="Unauthorized",
            code="unauthenticated",
            details=[],
        )
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    return redirect(sign_in_url(request.full_path.rstrip("?")), code=303 if request.method != "GET" else 302)


def rate_limit_key() -> str:
    """Rate limits count per signed-in learner, else per client address."""
    user = g.get("user")
    return f"user:{user.id}" if user is not None else f"ip:{request.remote_addr}"


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
    app.before_request(refresh_expired_session)
    app.register_blueprint(bp)

    @app.context_processor
    def _identity():
        return {"current_user": g.get("user"), "is_admin": g.get("is_admin", False)}
