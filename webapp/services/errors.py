"""The one domain error type services raise; its message is safe to show to a user."""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal with user-safe text. `code` is stable for API clients; `status` the HTTP answer."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None, details=None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field
        self.details = details or ([{"field": field, "message": message}] if field else [])


class ValidationFailed(ServiceError):
    status = 400
    code = "validation_failed"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class PaymentProviderUnavailable(ServiceError):
    """Stripe could not be reached or refused for a retryable reason; nothing was left half-done."""

    status = 503
    code = "payment_provider_unavailable"
