"""Security headers on every response; the CSP allows no inline script.

htmx is configured through a <meta> tag (no eval, no inline script tags, no injected
indicator styles), so `script-src` is `'self'` plus Clerk's origin only when Clerk is
configured. `form-action` includes Stripe Checkout because Chrome applies it to the redirect
that follows the Pay form; on the sandbox's hosted page (it stands for Stripe's) it also
includes each FRONTEND_URL origin, where Stripe sends a front end's learner back.
"""

from __future__ import annotations

from flask import Flask, abort, request


def _csp(app: Flask, *, returns_to: list[str] | tuple[str, ...] = ()) -> str:
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
        "form-action": ["'self'", "https://checkout.stripe.com", *returns_to],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def _has_nul(values) -> bool:
    return any("\x00" in value for value in values)


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_NUL_IN_QUERY = (b"%00", b"\x00")  # the only spellings that decode to a NUL


def reject_nul_bytes():
    """A NUL in a URL or form field is never legitimate, and PostgreSQL refuses it mid-query:
    refused here, once, as a clear 400 instead of a 500 on any lookup. The webhook and the
    sandbox read their raw bodies themselves and are left alone; the query string is parsed
    only when its raw bytes could hold a NUL, and only bodies a page would read as a form."""
    path = request.path
    if path.startswith(("/webhooks/", "/_sandbox/", "/api/payments/webhooks/")):
        return None
    fields = [path]
    query = request.query_string
    if any(marker in query for marker in _NUL_IN_QUERY):
        fields += [*request.args.keys(), *request.args.values()]
    # Only page forms are parsed here: the API answers form bodies with 415 itself and must
    # still see its raw body.
    if request.method not in ("GET", "HEAD") and request.mimetype in _FORM_TYPES and not path.startswith("/api/"):
        fields += [*request.form.keys(), *request.form.values()]
    if _has_nul(fields):
        abort(400, "That request contained a character we can't accept.")
    return None


def init_app(app: Flask) -> None:
    policy = _csp(app)
    sandbox_policy = _csp(app, returns_to=app.config.get("FRONTEND_URLS") or ())
    production = app.config.get("PRODUCTION")
    app.before_request(reject_nul_bytes)

    always = [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("X-Frame-Options", "DENY"),
    ]
    if production:
        always.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))

    @app.after_request
    def _headers(response):
        """Adds each header unless the view set its own (one pass over the names)."""
        headers = response.headers
        present = {name.lower() for name in headers.keys()}
        for name, value in always:
            if name.lower() not in present:
                headers.add(name, value)
        if response.mimetype == "text/html" and "content-security-policy" not in present:
            headers.add("Content-Security-Policy", sandbox_policy if request.path.startswith("/_sandbox/") else policy)
        return response
