"""Security headers on every response; the CSP allows no inline script.

htmx is configured through a <meta> tag (no eval, no inline script tags, no injected
indicator styles), so `script-src` is `'self'` plus Clerk's origin only when Clerk is
configured. `form-action` includes Stripe Checkout because Chrome applies it to the redirect
that follows the Pay form.
"""

from __future__ import annotations

from flask import Flask


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


def init_app(app: Flask) -> None:
    policy = _csp(app)
    production = app.config.get("PRODUCTION")

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
