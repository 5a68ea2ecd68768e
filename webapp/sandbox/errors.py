"""Errors answered the way Stripe answers them: an HTTP status and `{"error": {...}}`."""

from __future__ import annotations

from typing import Any


class StripeAPIError(Exception):
    """An error answered the way Stripe answers it: HTTP status + `{"error": {...}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://docs.stripe.com/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


class KeptError(StripeAPIError):
    """An error answered while the request's changes are kept (committed), as Stripe keeps
    a declined payment attempt: `invoices.pay` refused with a card error."""


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeAPIError:
    """Stripe's 400 `invalid_request_error`."""
    return StripeAPIError(400, message, param=param, code=code)


def missing(kind: str, object_id: str, param: str = "id") -> StripeAPIError:
    """Stripe's 404 `resource_missing`."""
    return StripeAPIError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)
