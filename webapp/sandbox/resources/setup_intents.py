"""SetupIntents: made by setup-mode Checkout Sessions, completed on the hosted page."""

from __future__ import annotations

from typing import Any

from webapp.sandbox.context import Ctx, new_id


def build_setup_intent(ctx: Ctx, *, customer: str | None, metadata: dict[str, str]) -> dict[str, Any]:
    seti_id = new_id("seti_")
    return {
        "id": seti_id,
        "object": "setup_intent",
        "cancellation_reason": None,
        "created": ctx.now,
        "customer": customer,
        "description": None,
        "last_setup_error": None,
        "livemode": False,
        "metadata": metadata,
        "payment_method": None,
        "payment_method_types": ["card"],
        "status": "requires_payment_method",
        "usage": "off_session",
        "client_secret": f"{seti_id}_secret_{new_id('', 24)}",
    }


def record_setup_failure(ctx: Ctx, setup_intent: dict[str, Any], error: dict[str, Any]) -> None:
    setup_intent["last_setup_error"] = error
    ctx.tx.put(setup_intent)
    ctx.emit("setup_intent.setup_failed", setup_intent)


def succeed_setup(ctx: Ctx, setup_intent: dict[str, Any], pm: dict[str, Any]) -> None:
    """The SetupIntent saved `pm` (attached to its customer, if it has one)."""
    setup_intent.update(status="succeeded", payment_method=pm["id"], last_setup_error=None)
    ctx.tx.put(setup_intent)
    if pm["customer"]:
        ctx.emit("payment_method.attached", pm)
    ctx.emit("setup_intent.succeeded", setup_intent)
