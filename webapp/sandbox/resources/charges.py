"""Charges: the record of a successful payment attempt."""

from __future__ import annotations

from typing import Any

from webapp.sandbox.context import Ctx, list_object, new_id, public

_CARD_DETAILS = ("brand", "country", "exp_month", "exp_year", "fingerprint", "funding", "last4")


def build_charge(ctx: Ctx, pi: dict[str, Any], pm: dict[str, Any]) -> dict[str, Any]:
    """The succeeded Charge of PaymentIntent `pi` paid with PaymentMethod `pm`."""
    details: dict[str, Any] = {"type": pm["type"]}
    if pm["type"] == "card":
        details["card"] = {key: pm["card"][key] for key in _CARD_DETAILS}
    else:
        details[pm["type"]] = {}
    charge_id = new_id("ch_")
    return {
        "id": charge_id,
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": pi["amount"],
        "amount_refunded": 0,
        "balance_transaction": new_id("txn_"),
        "billing_details": dict(pm.get("billing_details") or {}),
        "calculated_statement_descriptor": "SANDBOX",
        "captured": True,
        "created": ctx.now,
        "currency": pi["currency"],
        "customer": pi.get("customer"),
        "description": pi.get("description"),
        "disputed": False,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "outcome": {"network_status": "approved_by_network", "type": "authorized", "risk_level": "normal"},
        "paid": True,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": details,
        "receipt_email": pi.get("receipt_email"),
        "receipt_url": None,
        "refunded": False,
        "status": "succeeded",
        "_refunds": [],  # newest first; `refunds` is included only when expanded
    }


def build_failed_charge(ctx: Ctx, pi: dict[str, Any], pm: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    """The failed Charge of a declined attempt: nothing captured, the issuer's reason in `outcome`."""
    charge = build_charge(ctx, pi, pm)
    charge.update(
        amount_captured=0,
        balance_transaction=None,
        captured=False,
        failure_code=error["code"],
        failure_message=error["message"],
        outcome={
            "network_status": "declined_by_network",
            "reason": error.get("decline_code"),
            "risk_level": "normal",
            "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined",
        },
        paid=False,
        status="failed",
    )
    return charge


def charge_refunds(charge: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    """The includable `refunds` list of a charge (what `expand[]=refunds` adds)."""
    refunds = [ctx.tx.get(refund_id) for refund_id in charge.get("_refunds", [])]
    return list_object(f"/v1/charges/{charge['id']}/refunds", [public(r) for r in refunds if r])
