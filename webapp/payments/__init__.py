"""Payments: the Stripe gateway (`webapp.payments.gateway`), the project's only `stripe` importer."""

from __future__ import annotations

from webapp.payments.gateway import (
    Card,
    CheckoutSession,
    Gateway,
    GatewayConfigError,
    GatewayError,
    IdempotencyConflict,
    PaymentIntent,
    PaymentRejected,
    RefundInfo,
    ResourceMissing,
    StripeUnavailable,
    WebhookPayloadError,
    WebhookSignatureError,
    get_gateway,
)

__all__ = [
    "Card",
    "CheckoutSession",
    "Gateway",
    "GatewayConfigError",
    "GatewayError",
    "IdempotencyConflict",
    "PaymentIntent",
    "PaymentRejected",
    "RefundInfo",
    "ResourceMissing",
    "StripeUnavailable",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "get_gateway",
]
