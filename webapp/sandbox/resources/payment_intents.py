"""PaymentIntents: created on a session's first payment attempt, then succeed, fail or cancel."""

from __future__ import annotations

from typing import Any

from webapp.sandbox.context import Ctx, new_id
from webapp.sandbox.resources.charges import build_charge


def payment_intent_for(ctx: Ctx, session: dict[str, Any]) -> dict[str, Any]:
    """The session's PaymentIntent, created on the first payment attempt (as Stripe does)."""
    if session.get("payment_intent"):
        pi = ctx.tx.get(session["payment_intent"])
        assert pi is not None
        return pi
    pi_data = session.get("_payment_intent_data") or {}
    pi = new_payment_intent(
        ctx,
        amount=session["amount_total"],
        currency=session["currency"],
        customer=session.get("customer"),
        description=pi_data.get("description"),
        metadata=pi_data.get("metadata") or {},
        setup_future_usage=pi_data.get("setup_future_usage"),
    )
    session["payment_intent"] = pi["id"]
    ctx.emit("payment_intent.created", pi)
    return pi


def new_payment_intent(
    ctx: Ctx,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    description: str | None,
    metadata: dict[str, str],
    setup_future_usage: str | None = None,
) -> dict[str, Any]:
    """A PaymentIntent awaiting its payment method (not stored, no event: the caller's)."""
    pi_id = new_id("pi_")
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{pi_id}_secret_{new_id('', 24)}",
        "confirmation_method": "automatic",
        "created": ctx.now,
        "currency": currency,
        "customer": customer,
        "description": description,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": dict(metadata),
        "next_action": None,
        "payment_method": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "receipt_email": None,
        "setup_future_usage": setup_future_usage,
        "status": "requires_payment_method",
    }


def succeed(ctx: Ctx, session: dict[str, Any], pi: dict[str, Any], pm: dict[str, Any]) -> None:
    """Charges `pm` for the whole PaymentIntent; the session becomes paid."""
    capture(ctx, pi, pm)
    session["payment_status"] = "paid"


def capture(ctx: Ctx, pi: dict[str, Any], pm: dict[str, Any]) -> dict[str, Any]:
    """Charges `pm` for the whole PaymentIntent; returns the succeeded Charge."""
    charge = build_charge(ctx, pi, pm)
    balance_transaction = charge["balance_transaction"]
    charge["balance_transaction"] = None  # attached a moment later: charge.updated
    ctx.tx.put(charge)
    pi.update(
        status="succeeded",
        amount_received=pi["amount"],
        latest_charge=charge["id"],
        payment_method=pm["id"],
        last_payment_error=None,
        next_action=None,
    )
    ctx.tx.put(pi)
    ctx.emit("charge.succeeded", charge)
    ctx.emit("payment_intent.succeeded", pi)
    charge["balance_transaction"] = balance_transaction
    ctx.tx.put(charge)
    ctx.emit("charge.updated", charge, {"balance_transaction": None})
    return charge


def record_failure(ctx: Ctx, pi: dict[str, Any], error: dict[str, Any]) -> None:
    """A failed attempt: back to `requires_payment_method` with `last_payment_error`."""
    pi.update(status="requires_payment_method", last_payment_error=error)
    ctx.tx.put(pi)
    ctx.emit("payment_intent.payment_failed", pi)


def cancel_payment_intent(ctx: Ctx, pi_id: str, *, reason: str) -> None:
    """Cancels the PaymentIntent unless it already succeeded or was canceled."""
    pi = ctx.tx.get(pi_id)
    if pi and pi["status"] not in ("succeeded", "canceled"):
        pi.update(status="canceled", canceled_at=ctx.now, cancellation_reason=reason)
        ctx.tx.put(pi)
        ctx.emit("payment_intent.canceled", pi)
