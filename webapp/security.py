"""Security headers on every response; the CSP allows no inline script.

htmx is configured through a <meta> tag (no eval, no inline script tags, no injected
indicator styles), so `script-src` is `'self'` plus Clerk's origin only when Clerk is
configured. `form-action` includes Stripe Checkout because Chrome applies it to the redirect
that follows the Pay form.
"""

from __future__ import annotations

from flask import Flask, abort, request


def _csp(app: Flask) -> str:
    clerk = app.config.get("CLERK_ISSUER") if app.config.get("CLERK_CONFIGURED") else None
    script = ["'self'"] + ([clerk] if clerk else [])
    connect = ["'self'"] + ([clerk] if clerk else [])
    frame = ["'none'"] if not clerk else [clerk, "https://challenges.cloudflare.com"]
    img = ["'self'", "data:"] + (["https://img.clerk.com"] if clerk else [])
    directives = {
        "default-src": ["'self'"],
        "script-src": script,
        # Inline style attributes (progress bars) are harmless; inline script is what the CSP forbids.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": img,
        "connect-src": connect,
        "frame-src": frame,
        "worker-src": ["'self'", "blob:"] if clerk else ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'", "https://checkout.stripe.com"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def _has_nul(values) -> bool:
    return any("\x00" in value for value in values)


def reject_nul_bytes():
    """A NUL in a URL or form field is never legitimate, and PostgreSQL refuses it mid-query.

    Refusing it here, once, turns what would be a 500 on any lookup into a clear 400.
    The webhook and the sandbox read their raw bodies themselves and are left alone.
    """
    if request.path.startswith(("/webhooks/", "/_sandbox/", "/api/payments/webhooks/")):
        return None
    fields = [request.path, *request.args.keys(), *request.args.values()]
    # Only page forms are parsed here: the API answers form bodies with 415 itself and must
    # still see its raw body.
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data") and not request.path.startswith(
        "/api/"
    ):
        fields += [*request.form.keys(), *request.form.values()]
    if _has_nul(fields):
        abort(400, "That request contained a character we can't accept.")
    return None


def init_app(app: Flask) -> None:
    policy = _csp(app)
    production = app.config.get("PRODUCTION")
    app.before_request(reject_nul_bytes)

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if response.mimetype == "text/html":
            headers.setdefault("Content-Security-Policy", policy)
        if production:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        return response
