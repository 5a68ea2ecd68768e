"""What the gateway returns: frozen dataclasses built from Stripe's objects, never SDK objects."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, NoReturn

from webapp.payments.errors import WebhookPayloadError


def event_of(payload: bytes) -> dict[str, Any]:
    """A verified webhook body as an event dict: strict JSON (no NaN or Infinity, no double
    that overflows), an object whose `object` is "event", with a `type`. Raises
    WebhookPayloadError with code `malformed_json`, `not_an_event` or `missing_type`."""
    try:
        event = json.loads(payload, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested past the parser's limit
        message = f"payload is not JSON: {type(exc).__name__}: {exc}"[:300]
        raise WebhookPayloadError(message, code="malformed_json") from exc
    if not isinstance(event, dict) or event.get("object") != "event":
        raise WebhookPayloadError("payload is not a Stripe event object", code="not_an_event")
    if "type" not in event:
        raise WebhookPayloadError("the event has no type", code="missing_type")
    return event


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} overflows a double")
    return value


def id_of(value: Any) -> str | None:
    """An id from a field holding an id, an expanded object, or nothing."""
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def dict_of(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _card_of(payment_method: Any) -> dict[str, Any]:
    return dict_of(dict_of(payment_method).get("card"))


@dataclass(frozen=True)
class Card:
    id: str
    customer_id: str | None
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None

    @classmethod
    def from_stripe(cls, pm: dict[str, Any]) -> Card:
        card = _card_of(pm)
        return cls(
            id=pm["id"],
            customer_id=id_of(pm.get("customer")),
            brand=card.get("brand"),
            last4=card.get("last4"),
            exp_month=card.get("exp_month"),
            exp_year=card.get("exp_year"),
        )


@dataclass(frozen=True)
class PaymentIntent:
    id: str
    status: str
    amount: int
    amount_received: int
    currency: str
    metadata: dict[str, str]
    latest_charge: str | None
    payment_method_id: str | None
    card_brand: str | None
    card_last4: str | None
    customer_id: str | None = None

    @classmethod
    def from_stripe(cls, pi: dict[str, Any]) -> PaymentIntent:
        card = _card_of(pi.get("payment_method"))
        return cls(
            id=pi["id"],
            status=pi["status"],
            amount=pi["amount"],
            amount_received=pi.get("amount_received") or 0,
            currency=pi["currency"],
            metadata=dict(pi.get("metadata") or {}),
            latest_charge=id_of(pi.get("latest_charge")),
            payment_method_id=id_of(pi.get("payment_method")),
            card_brand=card.get("brand"),
            card_last4=card.get("last4"),
            customer_id=id_of(pi.get("customer")),
        )


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None
    mode: str
    status: str  # open | complete | expired
    payment_status: str  # paid | unpaid | no_payment_required
    amount_total: int | None
    currency: str | None
    customer_id: str | None
    payment_intent_id: str | None
    setup_intent_id: str | None
    setup_payment_method_id: str | None
    client_reference_id: str | None
    metadata: dict[str, str]
    expires_at: int
    card_brand: str | None
    card_last4: str | None
    payment_intent_status: str | None
    payment_method_type: str | None = None  # "card", "customer_balance" (bank transfer), …
    subscription_id: str | None = None  # mode=subscription: the subscription it made
    invoice_id: str | None = None  # mode=subscription: the first invoice, paid at checkout

    @classmethod
    def from_stripe(cls, cs: dict[str, Any]) -> CheckoutSession:
        """Works on an API response and on a webhook's `data.object` (ids not expanded)."""
        pi = dict_of(cs.get("payment_intent"))
        si = dict_of(cs.get("setup_intent"))
        card = _card_of(pi.get("payment_method")) or _card_of(si.get("payment_method"))
        return cls(
            id=cs["id"],
            url=cs.get("url"),
            mode=cs["mode"],
            status=cs["status"],
            payment_status=cs["payment_status"],
            amount_total=cs.get("amount_total"),
            currency=cs.get("currency"),
            customer_id=id_of(cs.get("customer")),
            payment_intent_id=id_of(cs.get("payment_intent")),
            setup_intent_id=id_of(cs.get("setup_intent")),
            setup_payment_method_id=id_of(si.get("payment_method")),
            client_reference_id=cs.get("client_reference_id"),
            metadata=dict(cs.get("metadata") or {}),
            expires_at=int(cs.get("expires_at") or 0),
            card_brand=card.get("brand"),
            card_last4=card.get("last4"),
            payment_intent_status=pi.get("status"),
            payment_method_type=dict_of(pi.get("payment_method")).get("type"),
            subscription_id=id_of(cs.get("subscription")),
            invoice_id=id_of(cs.get("invoice")),
        )


@dataclass(frozen=True)
class RefundInfo:
    id: str
    amount: int
    currency: str
    status: str  # pending | requires_action | succeeded | failed | canceled
    payment_intent_id: str | None
    charge_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    failure_reason: str | None = None

    @classmethod
    def from_stripe(cls, refund: dict[str, Any]) -> RefundInfo:
        return cls(
            id=refund["id"],
            amount=refund["amount"],
            currency=refund["currency"],
            status=refund["status"],
            payment_intent_id=id_of(refund.get("payment_intent")),
            charge_id=id_of(refund.get("charge")),
            metadata=dict(refund.get("metadata") or {}),
            failure_reason=refund.get("failure_reason"),
        )


@dataclass(frozen=True)
class Invoice:
    """A subscription's invoice; `payment_intent_id` from its payments (expanded), the paid one first."""

    id: str
    status: str  # draft | open | paid | void | uncollectible
    amount_due: int
    amount_paid: int
    currency: str
    customer_id: str | None
    subscription_id: str | None
    subscription_metadata: dict[str, str]
    billing_reason: str | None
    created: int
    paid_at: int | None
    attempt_count: int
    next_payment_attempt: int | None
    payment_intent_id: str | None

    @classmethod
    def from_stripe(cls, invoice: dict[str, Any]) -> Invoice:
        details = dict_of(dict_of(invoice.get("parent")).get("subscription_details"))
        payments = [dict_of(p) for p in dict_of(invoice.get("payments")).get("data") or []]
        payments.sort(key=lambda p: p.get("status") != "paid")
        intents = [id_of(dict_of(p.get("payment")).get("payment_intent")) for p in payments]
        return cls(
            id=invoice["id"],
            status=invoice["status"],
            amount_due=invoice.get("amount_due") or 0,
            amount_paid=invoice.get("amount_paid") or 0,
            currency=invoice["currency"],
            customer_id=id_of(invoice.get("customer")),
            subscription_id=id_of(details.get("subscription")),
            subscription_metadata=dict(details.get("metadata") or {}),
            billing_reason=invoice.get("billing_reason"),
            created=int(invoice.get("created") or 0),
            paid_at=dict_of(invoice.get("status_transitions")).get("paid_at"),
            attempt_count=invoice.get("attempt_count") or 0,
            next_payment_attempt=invoice.get("next_payment_attempt"),
            payment_intent_id=next((pi for pi in intents if pi), None),
        )


@dataclass(frozen=True)
class Subscription:
    id: str
    status: str  # incomplete | active | past_due | unpaid | canceled | …
    customer_id: str | None
    metadata: dict[str, str]
    schedule_id: str | None
    latest_invoice_id: str | None
    default_payment_method_id: str | None
    cancel_at: int | None
    ended_at: int | None
    cancellation_reason: str | None
    current_period_end: int | None
    items: tuple[tuple[str, int], ...]  # (price id, quantity)

    @classmethod
    def from_stripe(cls, sub: dict[str, Any]) -> Subscription:
        items = [dict_of(i) for i in dict_of(sub.get("items")).get("data") or []]
        ends = [i.get("current_period_end") for i in items if i.get("current_period_end")]
        return cls(
            id=sub["id"],
            status=sub["status"],
            customer_id=id_of(sub.get("customer")),
            metadata=dict(sub.get("metadata") or {}),
            schedule_id=id_of(sub.get("schedule")),
            latest_invoice_id=id_of(sub.get("latest_invoice")),
            default_payment_method_id=id_of(sub.get("default_payment_method")),
            cancel_at=sub.get("cancel_at"),
            ended_at=sub.get("ended_at"),
            cancellation_reason=dict_of(sub.get("cancellation_details")).get("reason"),
            current_period_end=min(ends) if ends else None,
            items=tuple((id_of(i.get("price")) or "", int(i.get("quantity") or 1)) for i in items),
        )
