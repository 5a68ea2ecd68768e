"""Paying a Checkout Session on the hosted page: by card, by bank transfer, and settling.

A decline is an outcome, not an error: the PaymentIntent (or SetupIntent) records it and
the session stays open for another try.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webapp.sandbox.cards import card_decline_for, card_error, expiry_refusal, normalise_card_number
from webapp.sandbox.context import Ctx, public
from webapp.sandbox.errors import StripeAPIError, invalid
from webapp.sandbox.resources.charges import build_failed_charge
from webapp.sandbox.resources.checkout_sessions import load_session
from webapp.sandbox.resources.checkout_subscriptions import pay_subscription
from webapp.sandbox.resources.payment_intents import payment_intent_for, record_failure, succeed
from webapp.sandbox.resources.payment_methods import (
    build_card_payment_method,
    build_customer_balance_payment_method,
)
from webapp.sandbox.resources.setup_intents import record_setup_failure, succeed_setup


@dataclass(frozen=True)
class PayOutcome:
    """What the hosted page shows: the session, or the decline message to re-render with."""

    session: dict[str, Any]
    decline_message: str | None = None
    decline_code: str | None = None


@dataclass(frozen=True)
class CardInput:
    """What the hosted page's card form sent, the number reduced to digits."""

    number: str
    exp_month: int | None
    exp_year: int | None
    save_card: bool


def _ensure_open(session: dict[str, Any]) -> None:
    if session["status"] == "expired":
        raise StripeAPIError(410, "This Checkout Session has expired.", code="checkout_session_expired")
    if session["status"] == "complete":
        raise StripeAPIError(409, "This Checkout Session is already complete.", code="checkout_session_complete")


def _customer_details(ctx: Ctx, session: dict[str, Any]) -> dict[str, Any]:
    customer = ctx.tx.get(session["customer"]) if session.get("customer") else None
    return {
        "address": None,
        "email": (customer or {}).get("email") or session.get("customer_email"),
        "name": (customer or {}).get("name"),
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def _complete(ctx: Ctx, session: dict[str, Any], **changes: Any) -> PayOutcome:
    session.update(status="complete", customer_details=_customer_details(ctx, session), **changes)
    ctx.tx.put(session)
    ctx.emit("checkout.session.completed", session)
    return PayOutcome(session)


def pay_with_card(
    ctx: Ctx,
    cs_id: str,
    card_number: str | None,
    *,
    save_card: bool = False,
    exp_month: int | None = None,
    exp_year: int | None = None,
) -> PayOutcome:
    """Pays a payment-mode session, or completes a setup-mode one, with a test card."""
    session = load_session(ctx, cs_id)
    _ensure_open(session)
    card = CardInput(normalise_card_number(card_number), exp_month, exp_year, save_card)
    refusal = expiry_refusal(exp_month, exp_year, ctx.now)
    if refusal:
        # Checked in the browser, as Stripe's page does: nothing reaches the API.
        return PayOutcome(session, refusal, "invalid_expiry")
    # Subscription mode saves the card and charges the first invoice with the customer on the
    # page: a charge-only decline (0341) lets that first payment through, and fails later ones.
    decline = card_decline_for(card.number, charging=session["mode"] == "payment")
    if session["mode"] == "setup":
        return _complete_setup(ctx, session, card, decline)
    if session["mode"] == "subscription":
        if decline:
            return PayOutcome(session, card_error(decline)["message"], decline)
        pay_subscription(ctx, session, card.number, (card.exp_month, card.exp_year))
        return _complete(ctx, session)
    pi = payment_intent_for(ctx, session)
    if decline:
        return _decline(ctx, session, pi, card, decline)
    attach = _attaches_card(session, pi, card.save_card)
    pm = build_card_payment_method(
        ctx,
        card.number,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        customer=session["customer"] if attach else None,
        allow_redisplay="always" if card.save_card else "limited" if attach else "unspecified",
    )
    ctx.tx.put(pm)
    succeed(ctx, session, pi, pm)
    if attach:
        ctx.emit("payment_method.attached", pm)
    return _complete(ctx, session)


def _decline(ctx: Ctx, session: dict[str, Any], pi: dict[str, Any], card: CardInput, decline: str) -> PayOutcome:
    """A declined attempt: a failed Charge (`charge.failed`) and `payment_intent.payment_failed`.

    A number that is not a card (`incorrect_number`) never reaches the issuer: no charge.
    """
    error = card_error(decline)
    if decline != "incorrect_number":
        pm = build_card_payment_method(ctx, card.number, exp_month=card.exp_month, exp_year=card.exp_year)
        ctx.tx.put(pm)
        charge = build_failed_charge(ctx, pi, pm, error)
        ctx.tx.put(charge)
        ctx.emit("charge.failed", charge)
        error.update(charge=charge["id"], payment_method=public(pm))
        pi["latest_charge"] = charge["id"]
    record_failure(ctx, pi, error)
    ctx.tx.put(session)
    return PayOutcome(session, error["message"], decline)


def _attaches_card(session: dict[str, Any], pi: dict[str, Any], save_card: bool) -> bool:
    """Whether the card is saved to the session's customer (setup_future_usage or consent)."""
    saved_opts = session.get("saved_payment_method_options") or {}
    consented = save_card and saved_opts.get("payment_method_save") == "enabled"
    return bool(session.get("customer")) and (pi.get("setup_future_usage") is not None or consented)


def _complete_setup(ctx: Ctx, session: dict[str, Any], card: CardInput, decline: str | None) -> PayOutcome:
    setup_intent = ctx.tx.get(session["setup_intent"])
    assert setup_intent is not None
    if decline:
        error = card_error(decline)
        record_setup_failure(ctx, setup_intent, error)
        return PayOutcome(session, error["message"], decline)
    pm = build_card_payment_method(
        ctx,
        card.number,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        customer=session.get("customer"),
        allow_redisplay="always",
    )
    ctx.tx.put(pm)
    succeed_setup(ctx, setup_intent, pm)
    return _complete(ctx, session)


def pay_with_bank_transfer(ctx: Ctx, cs_id: str) -> PayOutcome:
    """Completes the session with the payment still to come (`payment_status=unpaid`)."""
    session = load_session(ctx, cs_id)
    _ensure_open(session)
    if session["mode"] != "payment":
        raise invalid("Bank transfers can only pay payment-mode sessions.", param="method")
    pi = payment_intent_for(ctx, session)
    pm = build_customer_balance_payment_method(ctx, session.get("customer"))
    ctx.tx.put(pm)
    pi.update(
        status="processing",
        payment_method=pm["id"],
        payment_method_types=["card", "customer_balance"],
        last_payment_error=None,
    )
    ctx.tx.put(pi)
    ctx.emit("payment_intent.processing", pi)
    return _complete(ctx, session, payment_status="unpaid")


def settle_session(ctx: Ctx, cs_id: str, *, fail: bool = False) -> dict[str, Any]:
    """Settles a bank-transfer session: async_payment_succeeded, or _failed with `fail`."""
    session = load_session(ctx, cs_id)
    pi = ctx.tx.get(session.get("payment_intent") or "")
    awaiting = session["status"] == "complete" and session["payment_status"] == "unpaid"
    if not awaiting or not pi or pi["status"] != "processing":
        raise invalid(
            f"Checkout Session {cs_id} is not awaiting an asynchronous payment "
            f"(status {session['status']}, payment_status {session['payment_status']}).",
            param="session",
        )
    if fail:
        error = {
            "code": "payment_method_customer_decline",
            "message": "The bank transfer failed.",
            "type": "card_error",
        }
        record_failure(ctx, pi, error)
        ctx.tx.put(session)
        ctx.emit("checkout.session.async_payment_failed", session)
        return session
    pm = ctx.tx.get(pi["payment_method"])
    assert pm is not None
    succeed(ctx, session, pi, pm)
    ctx.tx.put(session)
    ctx.emit("checkout.session.async_payment_succeeded", session)
    return session
