"""Return URLs a client may hand the API: only ours or the front end's, with Stripe's placeholder added."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import current_app

from webapp.services.errors import ValidationFailed
from webapp.web.api_schemas import AddPaymentMethod, CreatePaymentSession

CHECKOUT_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"


def allowed_origins() -> list[str]:
    """APP_URL's origin, then each FRONTEND_URL origin: where Stripe may send a learner back."""
    config = current_app.config
    return list(dict.fromkeys([config["APP_ORIGIN"], *config.get("FRONTEND_URLS", [])]))


def same_origin_url(value: str, field: str) -> str:
    """An absolute URL on APP_URL's origin or a FRONTEND_URL origin (exact origin match); a
    path starting with a single "/" is resolved against APP_URL's origin.

    Anything else — another host, scheme-relative `//host`, `/\\host`, `javascript:`,
    userinfo (`http://app@evil`), look-alike hosts, whitespace or control characters — is
    refused with ValidationFailed naming the field. Never followed.
    """
    origins = allowed_origins()
    refusal = ValidationFailed(f"{field} must be a URL on {' or '.join(origins)}.", field=field)
    if "\\" in value or any(not 0x21 <= ord(ch) <= 0x7E for ch in value):
        raise refusal
    if value.startswith("/") and not value.startswith("//"):
        value = origins[0] + value
    try:
        parts = urlsplit(value)
        _ = parts.port  # a malformed port raises ValueError
    except ValueError:
        raise refusal from None
    if parts.scheme.lower() not in ("http", "https"):
        raise refusal
    if f"{parts.scheme}://{parts.netloc}".lower() not in {origin.lower() for origin in origins}:
        raise refusal
    return value


def with_session_placeholder(url: str) -> str:
    """`url` with `session_id={CHECKOUT_SESSION_ID}` appended (Stripe substitutes it)."""
    if CHECKOUT_PLACEHOLDER in url:
        return url
    parts = urlsplit(url)
    addition = f"session_id={CHECKOUT_PLACEHOLDER}"
    return urlunsplit(parts._replace(query=f"{parts.query}&{addition}" if parts.query else addition))


def return_urls(body: CreatePaymentSession | AddPaymentMethod) -> tuple[str | None, str | None]:
    """The body's returnUrl (with the session placeholder) and cancelUrl, both checked to be ours."""
    success_to = (
        with_session_placeholder(same_origin_url(body.return_url, "returnUrl")) if body.return_url is not None else None
    )
    cancel_to = same_origin_url(body.cancel_url, "cancelUrl") if body.cancel_url is not None else None
    return success_to, cancel_to


def front_end_return_urls() -> tuple[str, str] | None:
    """The original design's defaults when FRONTEND_URL is set: its success and cancel pages."""
    config = current_app.config
    base = config.get("FRONTEND_URL") or next(iter(config.get("FRONTEND_URLS") or []), None)
    if not base:
        return None
    return f"{base}/payment/success?session_id={CHECKOUT_PLACEHOLDER}", f"{base}/payment/cancel"
