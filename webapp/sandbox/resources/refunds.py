"""Refunds: created against a PaymentIntent or Charge, listed."""

from __future__ import annotations

from typing import Any

from webapp.sandbox.coerce import as_int, as_metadata, as_str
from webapp.sandbox.context import Ctx, new_id, public
from webapp.sandbox.errors import invalid
from webapp.sandbox.lists import object_page
from webapp.sandbox.money import format_amount

_REASONS = (None, "duplicate", "fraudulent", "requested_by_customer")


def create_refund(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    charge = _refunded_charge(ctx, params)
    amount = _refund_amount(charge, params.get("amount"))
    reason = as_str(params.get("reason"), "reason")
    if reason not in _REASONS:
        raise invalid(f"Invalid reason: {reason}", param="reason")
    refund = {
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "charge": charge["id"],
        "created": ctx.now,
        "currency": charge["currency"],
        "destination_details": {"type": "card", "card": {"type": "refund"}},
        "metadata": as_metadata(params.get("metadata")),
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "status": "pending",
    }
    ctx.emit("refund.created", refund)
    # Card refunds at Stripe go pending -> succeeded almost at once; the sandbox does both
    # in one step but still sends refund.updated so the app's handler is exercised.
    refund["status"] = "succeeded"
    ctx.tx.put(refund)
    _apply_to_charge(ctx, charge, refund)
    ctx.emit("refund.updated", refund, {"status": "pending"})
    return refund


def _refunded_charge(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """The charge a refund request names, directly or through its PaymentIntent."""
    pi_id = as_str(params.get("payment_intent"), "payment_intent")
    charge_id = as_str(params.get("charge"), "charge")
    if not pi_id and not charge_id:
        raise invalid("One of the following params should be provided for this request: payment_intent or charge.")
    if not pi_id:
        return ctx.load(charge_id, "charge", "charge", param="charge")
    pi = ctx.load(pi_id, "payment_intent", "payment_intent", param="payment_intent")
    if pi["status"] != "succeeded" or not pi.get("latest_charge"):
        raise invalid(
            f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
            param="payment_intent",
            code="charge_not_refundable",
        )
    return ctx.load(pi["latest_charge"], "charge", "charge", param="charge")


def _refund_amount(charge: dict[str, Any], requested: Any) -> int:
    """The requested amount (default: all that remains), at most what remains."""
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
    if requested in (None, ""):
        return remaining
    amount = as_int(requested, "amount", minimum=1)
    if amount > remaining:
        currency = charge["currency"]
        raise invalid(
            f"Refund amount ({format_amount(amount, currency)}) is greater than unrefunded amount on "
            f"charge ({format_amount(remaining, currency)})",
            param="amount",
            code="amount_too_large",
        )
    return amount


def _apply_to_charge(ctx: Ctx, charge: dict[str, Any], refund: dict[str, Any]) -> None:
    previous_refunded = charge["amount_refunded"]
    charge["amount_refunded"] += refund["amount"]
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    charge.setdefault("_refunds", []).insert(0, refund["id"])
    ctx.tx.put(charge)
    ctx.emit("charge.refunded", charge, {"amount_refunded": previous_refunded, "refunded": False})


def list_refunds(ctx: Ctx, params: dict[str, Any], url: str) -> dict[str, Any]:
    """Refunds, optionally of one `payment_intent` or one `charge`."""
    charge = as_str(params.get("charge"), "charge")
    page = object_page(
        ctx,
        params,
        url,
        object_type="refund",
        kind="refund",
        keep=lambda refund: charge is None or refund["charge"] == charge,
        payment_intent=as_str(params.get("payment_intent"), "payment_intent"),
    )
    page["data"] = [public(r) for r in page["data"]]
    return page
