"""Stripe's webhook: no Clerk auth, no CSRF, never rate-limited; the signature is the auth."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from webapp.extensions import csrf, limiter
from webapp.services import webhooks as webhook_service
from webapp.web.errors import error_response

bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)
limiter.exempt(bp)


@bp.post("/webhooks/stripe")
@bp.post("/api/payments/webhooks/stripe", endpoint="stripe_webhook_alias")
def stripe_webhook():
    """Verifies the raw body, stores the event once, processes it; 5xx makes Stripe retry."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        return error_response(413, "Webhook bodies are limited to 1 MB.", code="payload_too_large")
    payload = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH when unsized
    try:
        event = webhook_service.verify_event(payload, request.headers.get("Stripe-Signature"))
    except webhook_service.WebhookRejected as exc:
        return error_response(400, exc.message, code=exc.code)
    receipt = webhook_service.receive_event(event)
    if receipt.status == "in_progress":
        return error_response(
            409, "This event is being processed by another delivery; retry later.", code="in_progress"
        )
    if not receipt.ok:
        return error_response(500, "The event could not be processed; Stripe will retry.", code="processing_failed")
    return jsonify(received=True, status=receipt.status)
