"""The gateway's error vocabulary: what a failed Stripe call means, and whether a retry can help.

See `webapp.payments.gateway` for which error each kind of Stripe failure becomes.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every gateway failure. `user_message` is safe to show; str() is for logs."""

    default_user_message = "The payment could not be processed. Please try again."

    def __init__(
        self,
        message: str,
        *,
        user_message: str | None = None,
        code: str | None = None,
        param: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.user_message = user_message or self.default_user_message
        self.code = code
        self.param = param
        self.http_status = http_status
        self.request_id = request_id


class PaymentRejected(GatewayError):
    """Stripe refused this request (decline, invalid request); retrying won't help."""

    default_user_message = "The payment provider rejected this request."


class ResourceMissing(PaymentRejected):
    """The id is unknown to Stripe (`resource_missing`)."""

    default_user_message = "That payment record could not be found."


class IdempotencyConflict(PaymentRejected):
    """An idempotency key was reused with different parameters (a bug on our side)."""


class StripeUnavailable(GatewayError):
    """Network error, 5xx or rate limit after the SDK's retries; try again later."""

    default_user_message = "The payment provider is temporarily unavailable. Please try again in a moment."


class GatewayConfigError(GatewayError):
    """Authentication or permission failure: the configured key is wrong."""

    default_user_message = "Payments are temporarily unavailable. The site operator has been notified."


class WebhookSignatureError(Exception):
    """The webhook did not verify as a Stripe event (answer 400); `code` says why."""

    code = "invalid_signature"


class WebhookPayloadError(WebhookSignatureError):
    """The body is not a readable Stripe event: `code` is `malformed_json` (not UTF-8, not
    strict JSON, NaN/Infinity, nested too deeply), `not_an_event` or `missing_type`.

    Raised once the signature verified, except for a body that isn't UTF-8 (the signature
    is computed over text, so it can't be checked).
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


# -- values --------------------------------------------------------------------------------
