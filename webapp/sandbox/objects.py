"""Stripe's objects and state changes, as the sandbox models them.

Every function here runs inside one serialised sandbox transaction (`Ctx.tx`) and either
returns the changed object or raises `StripeAPIError` (which rolls the transaction back).
Events are emitted through `Ctx.emit` in the same transaction and delivered only after it
commits. Object shapes follow Stripe's API reference, limited to the fields the app and
the SDK use; keys starting with "_" are the sandbox's private bookkeeping and never leave
it (`public`).
"""

from __future__ import annotations

import copy
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from webapp.sandbox.store import Tx
from webapp.services.money import format_money, minimum_charge

API_VERSION = "2026-10-28.endive"  # what the pinned SDK (16.1) sends and expects

_ALPHABET = string.ascii_letters + string.digits

# number -> (brand, funding, decline code or None)
TEST_CARDS: dict[str, tuple[str, str, str | None]] = {
    "4242424242424242": ("visa", "credit", None),
    "4000056655665556": ("visa", "debit", None),
    "5555555555554444": ("mastercard", "credit", None),
    "2223003122003222": ("mastercard", "credit", None),
    "378282246310005": ("amex", "credit", None),
    "6011111111111117": ("discover", "credit", None),
    "4000000000000002": ("visa", "credit", "generic_decline"),
    "4000000000009995": ("visa", "credit", "insufficient_funds"),
    "4000000000009987": ("visa", "credit", "lost_card"),
    "4000000000000069": ("visa", "credit", "expired_card"),
}

# Stripe's test PaymentMethod tokens accepted by attach.
TEST_PM_TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_visa_debit": "4000056655665556",
}

DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "incorrect_number": "Your card number is incorrect.",
    "not_a_test_card": ("Your card was declined. This is the sandbox: use a test card such as 4242 4242 4242 4242."),
}


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


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeAPIError:
    return StripeAPIError(400, message, param=param, code=code)


def missing(kind: str, object_id: str, param: str = "id") -> StripeAPIError:
    return StripeAPIError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy without the sandbox's private ("_"-prefixed) keys."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


def list_object(url: str, data: list[dict[str, Any]], has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


@dataclass
class Ctx:
    """What one sandbox operation needs: its transaction and where it came from."""

    tx: Tx
    base_url: str  # where the hosted pages live, e.g. APP_URL + "/_sandbox/stripe"
    webhooks_enabled: bool
    request_id: str | None = None
    idempotency_key: str | None = None
    now: int = field(default_factory=lambda: int(time.time()))
    emitted: list[str] = field(default_factory=list)

    def load(self, object_id: Any, object_type: str, kind: str, param: str = "id") -> dict[str, Any]:
        """The stored object of that type, or Stripe's 404 resource_missing."""
        if not isinstance(object_id, str) or not object_id:
            raise invalid(f"Invalid {kind} id", param=param)
        obj = self.tx.get(object_id)
        if obj is None or obj.get("object") != object_type:
            raise missing(kind, object_id, param)
        return obj

    def emit(
        self, type_: str, obj: dict[str, Any], previous_attributes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Records an event (Stripe's envelope) carrying a snapshot of `obj`."""
        data: dict[str, Any] = {"object": public(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        evt = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now,
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 if self.webhooks_enabled else 0,
            "request": {"id": self.request_id, "idempotency_key": self.idempotency_key},
            "type": type_,
        }
        self.tx.add_event(evt)
        self.emitted.append(evt["id"])
        return evt


# -- parameter coercion (Stripe receives strings and coerces per field) --------------------


def as_int(value: Any, param: str, *, minimum: int | None = None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid integer: {value}", param=param) from None
    if minimum is not None and number < minimum:
        if minimum == 1:
            raise invalid(f"Invalid positive integer: {value}", param=param)
        raise invalid(f"This value must be greater than or equal to {minimum}.", param=param)
    return number


def as_str(value: Any, param: str, *, required: bool = False, max_len: int = 5000) -> str | None:
    if value is None or value == "":
        if required:
            raise invalid(f"Missing required param: {param}.", param=param)
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {value!r}", param=param)
    if len(value) > max_len:
        raise invalid(f"Invalid string: must be at most {max_len} characters", param=param)
    return value


def as_bool(value: Any, param: str) -> bool:
    if value in (True, "true"):
        return True
    if value in (False, "false", None, ""):
        return False
    raise invalid(f"Invalid boolean: {value}", param=param)


def as_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid object", param=param)
    if len(value) > 50:
        raise invalid("Metadata can have at most 50 keys.", param=param)
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid("Invalid metadata value: must be a string", param=f"{param}[{key}]")
        if len(key) > 40 or len(item) > 500:
            raise invalid("Metadata keys are limited to 40 and values to 500 characters.", param=param)
    return dict(value)


def merge_metadata(current: dict[str, str], update: dict[str, str]) -> dict[str, str]:
    """Stripe's update semantics: keys set to "" are removed, others replaced."""
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def as_currency(value: Any, param: str = "currency") -> str:
    text = as_str(value, param, required=True)
    assert text is not None
    if len(text) != 3 or not text.isalpha():
        raise invalid(f"Invalid currency: {text}", param=param)
    return text.lower()


# -- customers -----------------------------------------------------------------------------


def create_customer(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    customer = {
        "id": new_id("cus_", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": ctx.now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": as_str(params.get("description"), "description"),
        "email": as_str(params.get("email"), "email", max_len=512),
        "invoice_prefix": new_id("", 8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": as_metadata(params.get("metadata")),
        "name": as_str(params.get("name"), "name", max_len=256),
        "phone": as_str(params.get("phone"), "phone"),
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
    }
    ctx.tx.put(customer)
    ctx.emit("customer.created", customer)
    return customer


def update_customer(ctx: Ctx, customer_id: str, params: dict[str, Any]) -> dict[str, Any]:
    customer = ctx.load(customer_id, "customer", "customer")
    previous: dict[str, Any] = {}
    for key, limit in (("email", 512), ("name", 256), ("description", 5000), ("phone", 5000)):
        if key in params:
            previous[key] = customer[key]
            customer[key] = as_str(params[key], key, max_len=limit)
    if "metadata" in params:
        previous["metadata"] = customer["metadata"]
        customer["metadata"] = merge_metadata(customer["metadata"], as_metadata(params["metadata"]))
    settings = params.get("invoice_settings")
    if isinstance(settings, dict) and "default_payment_method" in settings:
        param = "invoice_settings[default_payment_method]"
        pm_id = as_str(settings["default_payment_method"], param)
        if pm_id is not None:
            pm = ctx.load(pm_id, "payment_method", "PaymentMethod", param=param)
            if pm.get("customer") != customer["id"]:
                raise invalid(
                    f"The customer does not have a payment method with the ID {pm_id}. The payment "
                    "method must be attached to the customer.",
                    param=param,
                )
        previous["invoice_settings"] = dict(customer["invoice_settings"])
        customer["invoice_settings"]["default_payment_method"] = pm_id
    ctx.tx.put(customer)
    if previous:
        ctx.emit("customer.updated", customer, previous)
    return customer


# -- payment methods -----------------------------------------------------------------------


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number]
    checksum = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        checksum += digit
    return checksum % 10 == 0


def normalise_card_number(raw: str | None) -> str:
    return "".join(ch for ch in (raw or "") if ch.isdigit())


def card_decline_for(number: str) -> str | None:
    """The decline code a card number gets at the sandbox (None = it pays)."""
    if len(number) < 12 or not luhn_ok(number):
        return "incorrect_number"
    if number not in TEST_CARDS:
        return "not_a_test_card"
    return TEST_CARDS[number][2]


def build_card_payment_method(
    ctx: Ctx,
    number: str,
    *,
    exp_month: int | None = None,
    exp_year: int | None = None,
    customer: str | None = None,
    allow_redisplay: str = "unspecified",
) -> dict[str, Any]:
    brand, funding, _ = TEST_CARDS.get(number, ("visa", "credit", None))
    this_year = time.gmtime(ctx.now).tm_year
    return {
        "id": new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": allow_redisplay,
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "card": {
            "brand": brand,
            "display_brand": brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "exp_month": exp_month or 12,
            "exp_year": exp_year or this_year + 3,
            "fingerprint": new_id("", 16),
            "funding": funding,
            "last4": number[-4:],
            "networks": {"available": [brand], "preferred": None},
            "wallet": None,
        },
        "created": ctx.now,
        "customer": customer,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def attach_payment_method(ctx: Ctx, pm_id: str, params: dict[str, Any]) -> dict[str, Any]:
    customer_id = as_str(params.get("customer"), "customer", required=True)
    assert customer_id is not None
    ctx.load(customer_id, "customer", "customer", param="customer")
    if pm_id in TEST_PM_TOKENS:
        pm = build_card_payment_method(ctx, TEST_PM_TOKENS[pm_id], customer=customer_id)
    else:
        pm = ctx.load(pm_id, "payment_method", "PaymentMethod", param="payment_method")
        if pm.get("customer") == customer_id:
            return pm
        if pm.get("customer"):
            raise invalid(
                "The payment method you provided has already been attached to a customer.",
                param="payment_method",
            )
        pm["customer"] = customer_id
    ctx.tx.put(pm)
    ctx.emit("payment_method.attached", pm)
    return pm


def detach_payment_method(ctx: Ctx, pm_id: str) -> dict[str, Any]:
    pm = ctx.load(pm_id, "payment_method", "PaymentMethod", param="payment_method")
    customer_id = pm.get("customer")
    if not customer_id:
        raise invalid(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
            param="payment_method",
        )
    customer = ctx.tx.get(customer_id)
    if customer and customer["invoice_settings"].get("default_payment_method") == pm_id:
        # Stripe clears the default when its payment method is detached.
        customer["invoice_settings"]["default_payment_method"] = None
        ctx.tx.put(customer)
    pm["customer"] = None
    ctx.tx.put(pm)
    ctx.emit("payment_method.detached", pm, {"customer": customer_id})
    return pm


def list_payment_methods(ctx: Ctx, params: dict[str, Any], url: str) -> dict[str, Any]:
    customer_id = as_str(params.get("customer"), "customer", required=True)
    assert customer_id is not None
    ctx.load(customer_id, "customer", "customer", param="customer")
    wanted_type = as_str(params.get("type"), "type")
    limit = as_int(params.get("limit", 10), "limit", minimum=1)
    rows, has_more = ctx.tx.list(
        "payment_method",
        customer=customer_id,
        limit=min(limit, 100),
        starting_after=as_str(params.get("starting_after"), "starting_after"),
    )
    data = [public(pm) for pm in rows if wanted_type is None or pm["type"] == wanted_type]
    return list_object(url, data, has_more)


# -- checkout sessions ---------------------------------------------------------------------


def create_checkout_session(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    mode = as_str(params.get("mode"), "mode", required=True)
    if mode not in ("payment", "setup"):
        raise invalid(f"Invalid mode: the sandbox supports 'payment' and 'setup', got {mode!r}.", param="mode")
    success_url = as_str(params.get("success_url"), "success_url", required=True)
    cancel_url = as_str(params.get("cancel_url"), "cancel_url")
    for name, url in (("success_url", success_url), ("cancel_url", cancel_url)):
        if url is not None and not url.startswith(("http://", "https://")):
            raise invalid("Not a valid URL", param=name)
    customer_id = as_str(params.get("customer"), "customer")
    if customer_id is not None:
        ctx.load(customer_id, "customer", "customer", param="customer")
    expires_at = ctx.now + 24 * 3600
    if params.get("expires_at") not in (None, ""):
        expires_at = as_int(params["expires_at"], "expires_at")
        # A request a few seconds old still gets its "exactly 30 minutes"; Stripe is as lenient.
        if expires_at < ctx.now + 30 * 60 - 60:
            raise invalid(
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
                param="expires_at",
            )
        if expires_at > ctx.now + 24 * 3600 + 60:
            raise invalid(
                "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
                param="expires_at",
            )
    cs_id = new_id("cs_test_", 58)
    session: dict[str, Any] = {
        "id": cs_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": None,
        "amount_total": None,
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": as_str(params.get("client_reference_id"), "client_reference_id", max_len=200),
        "created": ctx.now,
        "currency": None,
        "customer": customer_id,
        "customer_creation": None if customer_id else "if_required",
        "customer_details": None,
        "customer_email": as_str(params.get("customer_email"), "customer_email"),
        "expires_at": expires_at,
        "livemode": False,
        "locale": as_str(params.get("locale"), "locale"),
        "metadata": as_metadata(params.get("metadata")),
        "mode": mode,
        "payment_intent": None,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "saved_payment_method_options": None,
        "setup_intent": None,
        "status": "open",
        "success_url": success_url,
        "ui_mode": "hosted",
        "url": f"{ctx.base_url}/pay/{cs_id}",
    }
    saved = params.get("saved_payment_method_options")
    if isinstance(saved, dict):
        save = as_str(saved.get("payment_method_save"), "saved_payment_method_options[payment_method_save]")
        if save not in (None, "enabled", "disabled"):
            raise invalid("Invalid payment_method_save", param="saved_payment_method_options[payment_method_save]")
        session["saved_payment_method_options"] = {
            "allow_redisplay_filters": saved.get("allow_redisplay_filters") or ["always"],
            "payment_method_remove": saved.get("payment_method_remove"),
            "payment_method_save": save,
        }
    if mode == "payment":
        _fill_payment_session(ctx, session, params)
    else:
        _fill_setup_session(ctx, session, params)
    ctx.tx.put(session)
    return session


def _fill_payment_session(ctx: Ctx, session: dict[str, Any], params: dict[str, Any]) -> None:
    items = params.get("line_items")
    if not isinstance(items, list) or not items:
        raise invalid("You must specify `line_items` when `mode` is `payment`.", param="line_items")
    currency: str | None = None
    line_items = []
    total = 0
    for index, item in enumerate(items):
        prefix = f"line_items[{index}]"
        if not isinstance(item, dict):
            raise invalid("Invalid object", param=prefix)
        if item.get("price"):
            raise invalid("The sandbox supports `price_data` line items only.", param=f"{prefix}[price]")
        price_data = item.get("price_data")
        if not isinstance(price_data, dict):
            raise invalid("Missing required param: price_data.", param=f"{prefix}[price_data]")
        item_currency = as_currency(price_data.get("currency"), f"{prefix}[price_data][currency]")
        if currency is not None and item_currency != currency:
            raise invalid("All line items must use the same currency.", param=f"{prefix}[price_data][currency]")
        currency = item_currency
        unit_amount = as_int(price_data.get("unit_amount"), f"{prefix}[price_data][unit_amount]", minimum=0)
        quantity = as_int(item.get("quantity", 1), f"{prefix}[quantity]", minimum=1)
        product = price_data.get("product_data")
        if not isinstance(product, dict):
            raise invalid("Missing required param: product_data.", param=f"{prefix}[price_data][product_data]")
        name = as_str(product.get("name"), f"{prefix}[price_data][product_data][name]", required=True)
        description = as_str(product.get("description"), f"{prefix}[price_data][product_data][description]")
        amount = unit_amount * quantity
        total += amount
        line_items.append(
            {
                "id": new_id("li_"),
                "object": "item",
                "amount_discount": 0,
                "amount_subtotal": amount,
                "amount_tax": 0,
                "amount_total": amount,
                "currency": item_currency,
                "description": name,
                "price": {
                    "id": new_id("price_"),
                    "object": "price",
                    "currency": item_currency,
                    "product": {"name": name, "description": description},
                    "type": "one_time",
                    "unit_amount": unit_amount,
                },
                "quantity": quantity,
            }
        )
    assert currency is not None
    minimum = minimum_charge(currency)
    if 0 < total < minimum:
        raise invalid(
            f"The Checkout Session's total amount due must add up to at least {format_money(minimum, currency)}",
            param="line_items",
        )
    if total == 0:
        raise invalid("The Checkout Session's total amount due must be greater than 0.", param="line_items")
    pi_data = params.get("payment_intent_data") or {}
    if not isinstance(pi_data, dict):
        raise invalid("Invalid object", param="payment_intent_data")
    future = as_str(pi_data.get("setup_future_usage"), "payment_intent_data[setup_future_usage]")
    if future not in (None, "on_session", "off_session"):
        raise invalid("Invalid setup_future_usage", param="payment_intent_data[setup_future_usage]")
    session.update(
        currency=currency,
        amount_subtotal=total,
        amount_total=total,
        _line_items=line_items,
        _payment_intent_data={
            "metadata": as_metadata(pi_data.get("metadata"), "payment_intent_data[metadata]"),
            "setup_future_usage": future,
            "description": as_str(pi_data.get("description"), "payment_intent_data[description]"),
        },
    )


def _fill_setup_session(ctx: Ctx, session: dict[str, Any], params: dict[str, Any]) -> None:
    if params.get("line_items"):
        raise invalid("`line_items` cannot be used in `setup` mode.", param="line_items")
    if params.get("currency") not in (None, ""):
        session["currency"] = as_currency(params["currency"])
    si_data = params.get("setup_intent_data") or {}
    metadata = as_metadata(
        si_data.get("metadata") if isinstance(si_data, dict) else None, "setup_intent_data[metadata]"
    )
    setup_intent = {
        "id": new_id("seti_"),
        "object": "setup_intent",
        "cancellation_reason": None,
        "created": ctx.now,
        "customer": session["customer"],
        "description": None,
        "last_setup_error": None,
        "livemode": False,
        "metadata": metadata,
        "payment_method": None,
        "payment_method_types": ["card"],
        "status": "requires_payment_method",
        "usage": "off_session",
    }
    setup_intent["client_secret"] = f"{setup_intent['id']}_secret_{new_id('', 24)}"
    ctx.tx.put(setup_intent)
    session.update(setup_intent=setup_intent["id"], payment_status="no_payment_required")


def load_session(ctx: Ctx, cs_id: str) -> dict[str, Any]:
    """The session, expired first if its `expires_at` has passed (Stripe expires lazily too)."""
    session = ctx.load(cs_id, "checkout.session", "checkout.session")
    _expire_if_due(ctx, session)
    return session


def _expire_if_due(ctx: Ctx, session: dict[str, Any]) -> None:
    if session["status"] == "open" and session["expires_at"] <= ctx.now:
        _expire(ctx, session)


def _expire(ctx: Ctx, session: dict[str, Any]) -> None:
    session["status"] = "expired"
    if session["mode"] == "payment" and session.get("payment_intent"):
        pi = ctx.tx.get(session["payment_intent"])
        if pi and pi["status"] not in ("succeeded", "canceled"):
            pi.update(status="canceled", canceled_at=ctx.now, cancellation_reason="automatic")
            ctx.tx.put(pi)
            ctx.emit("payment_intent.canceled", pi)
    ctx.tx.put(session)
    ctx.emit("checkout.session.expired", session)


def expire_session(ctx: Ctx, cs_id: str) -> dict[str, Any]:
    session = load_session(ctx, cs_id)
    if session["status"] != "open":
        raise invalid(
            f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session '
            f'has a status of "{session["status"]}".',
            param="session",
        )
    _expire(ctx, session)
    return session


def list_sessions(ctx: Ctx, params: dict[str, Any], url: str) -> dict[str, Any]:
    limit = min(as_int(params.get("limit", 10), "limit", minimum=1), 100)
    rows, has_more = ctx.tx.list(
        "checkout.session",
        customer=as_str(params.get("customer"), "customer"),
        payment_intent=as_str(params.get("payment_intent"), "payment_intent"),
        limit=limit,
        starting_after=as_str(params.get("starting_after"), "starting_after"),
    )
    status = as_str(params.get("status"), "status")
    sessions = []
    for row in rows:
        _expire_if_due(ctx, row)
        if status is None or row["status"] == status:
            sessions.append(row)
    return list_object(url, sessions, has_more)


def session_line_items(session: dict[str, Any], url: str) -> dict[str, Any]:
    return list_object(url, copy.deepcopy(session.get("_line_items") or []))


# -- paying a session (the hosted page) ----------------------------------------------------


@dataclass(frozen=True)
class PayOutcome:
    """What the hosted page shows: the session, or the decline message to re-render with."""

    session: dict[str, Any]
    decline_message: str | None = None
    decline_code: str | None = None


def _ensure_open(session: dict[str, Any]) -> None:
    if session["status"] == "expired":
        raise StripeAPIError(410, "This Checkout Session has expired.", code="checkout_session_expired")
    if session["status"] == "complete":
        raise StripeAPIError(409, "This Checkout Session is already complete.", code="checkout_session_complete")


def _payment_intent_for(ctx: Ctx, session: dict[str, Any]) -> dict[str, Any]:
    """The session's PaymentIntent, created on the first payment attempt (as Stripe does)."""
    if session.get("payment_intent"):
        pi = ctx.tx.get(session["payment_intent"])
        assert pi is not None
        return pi
    pi_data = session.get("_payment_intent_data") or {}
    pi_id = new_id("pi_")
    pi = {
        "id": pi_id,
        "object": "payment_intent",
        "amount": session["amount_total"],
        "amount_capturable": 0,
        "amount_received": 0,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{pi_id}_secret_{new_id('', 24)}",
        "confirmation_method": "automatic",
        "created": ctx.now,
        "currency": session["currency"],
        "customer": session.get("customer"),
        "description": pi_data.get("description"),
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": dict(pi_data.get("metadata") or {}),
        "next_action": None,
        "payment_method": None,
        "payment_method_types": ["card"],
        "receipt_email": None,
        "setup_future_usage": pi_data.get("setup_future_usage"),
        "status": "requires_payment_method",
    }
    session["payment_intent"] = pi_id
    ctx.emit("payment_intent.created", pi)
    return pi


def _charge(ctx: Ctx, pi: dict[str, Any], pm: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {"type": pm["type"]}
    if pm["type"] == "card":
        card = pm["card"]
        details["card"] = {
            key: card[key] for key in ("brand", "country", "exp_month", "exp_year", "fingerprint", "funding", "last4")
        }
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
        "receipt_url": None,
        "refunded": False,
        "refunds": list_object(f"/v1/charges/{charge_id}/refunds", []),
        "status": "succeeded",
    }


def _succeed(ctx: Ctx, session: dict[str, Any], pi: dict[str, Any], pm: dict[str, Any]) -> None:
    charge = _charge(ctx, pi, pm)
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
    session["payment_status"] = "paid"
    ctx.emit("charge.succeeded", charge)
    ctx.emit("payment_intent.succeeded", pi)


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


def pay_with_card(
    ctx: Ctx,
    cs_id: str,
    card_number: str | None,
    *,
    save_card: bool = False,
    exp_month: int | None = None,
    exp_year: int | None = None,
) -> PayOutcome:
    """Pays a payment-mode session, or completes a setup-mode one, with a test card.

    A decline is an outcome, not an error: the PaymentIntent records it
    (`payment_intent.payment_failed`) and the session stays open for another try.
    """
    session = load_session(ctx, cs_id)
    _ensure_open(session)
    number = normalise_card_number(card_number)
    decline = card_decline_for(number)
    if session["mode"] == "setup":
        return _complete_setup(ctx, session, number, decline, exp_month, exp_year)
    pi = _payment_intent_for(ctx, session)
    if decline:
        message = DECLINE_MESSAGES[decline]
        code = "incorrect_number" if decline == "incorrect_number" else "card_declined"
        pi.update(
            status="requires_payment_method",
            last_payment_error={
                "code": code,
                "decline_code": None if code == "incorrect_number" else decline,
                "message": message,
                "type": "card_error",
            },
        )
        ctx.tx.put(pi)
        ctx.tx.put(session)
        ctx.emit("payment_intent.payment_failed", pi)
        return PayOutcome(session, message, decline)
    future = pi.get("setup_future_usage")
    saved_opts = session.get("saved_payment_method_options") or {}
    attach = bool(session.get("customer")) and (
        future is not None or (save_card and saved_opts.get("payment_method_save") == "enabled")
    )
    pm = build_card_payment_method(
        ctx,
        number,
        exp_month=exp_month,
        exp_year=exp_year,
        customer=session["customer"] if attach else None,
        allow_redisplay="always" if save_card else "limited" if attach else "unspecified",
    )
    ctx.tx.put(pm)
    _succeed(ctx, session, pi, pm)
    if attach:
        ctx.emit("payment_method.attached", pm)
    session.update(status="complete", customer_details=_customer_details(ctx, session))
    ctx.tx.put(session)
    ctx.emit("checkout.session.completed", session)
    return PayOutcome(session)


def _complete_setup(
    ctx: Ctx,
    session: dict[str, Any],
    number: str,
    decline: str | None,
    exp_month: int | None,
    exp_year: int | None,
) -> PayOutcome:
    setup_intent = ctx.tx.get(session["setup_intent"])
    assert setup_intent is not None
    if decline:
        message = DECLINE_MESSAGES[decline]
        setup_intent["last_setup_error"] = {
            "code": "card_declined",
            "decline_code": decline,
            "message": message,
            "type": "card_error",
        }
        ctx.tx.put(setup_intent)
        ctx.emit("setup_intent.setup_failed", setup_intent)
        return PayOutcome(session, message, decline)
    pm = build_card_payment_method(
        ctx,
        number,
        exp_month=exp_month,
        exp_year=exp_year,
        customer=session.get("customer"),
        allow_redisplay="always",
    )
    ctx.tx.put(pm)
    setup_intent.update(status="succeeded", payment_method=pm["id"], last_setup_error=None)
    ctx.tx.put(setup_intent)
    if pm["customer"]:
        ctx.emit("payment_method.attached", pm)
    ctx.emit("setup_intent.succeeded", setup_intent)
    session.update(status="complete", customer_details=_customer_details(ctx, session))
    ctx.tx.put(session)
    ctx.emit("checkout.session.completed", session)
    return PayOutcome(session)


def pay_with_bank_transfer(ctx: Ctx, cs_id: str) -> PayOutcome:
    """Completes the session with the payment still to come (`payment_status=unpaid`)."""
    session = load_session(ctx, cs_id)
    _ensure_open(session)
    if session["mode"] != "payment":
        raise invalid("Bank transfers can only pay payment-mode sessions.", param="method")
    pi = _payment_intent_for(ctx, session)
    pm = {
        "id": new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "created": ctx.now,
        "customer": session.get("customer"),
        "customer_balance": {},
        "livemode": False,
        "metadata": {},
        "type": "customer_balance",
    }
    ctx.tx.put(pm)
    pi.update(
        status="processing",
        payment_method=pm["id"],
        payment_method_types=["card", "customer_balance"],
        last_payment_error=None,
    )
    ctx.tx.put(pi)
    ctx.emit("payment_intent.processing", pi)
    session.update(status="complete", payment_status="unpaid", customer_details=_customer_details(ctx, session))
    ctx.tx.put(session)
    ctx.emit("checkout.session.completed", session)
    return PayOutcome(session)


def settle_session(ctx: Ctx, cs_id: str, *, fail: bool = False) -> dict[str, Any]:
    """Settles a bank-transfer session: async_payment_succeeded, or _failed with `fail`."""
    session = load_session(ctx, cs_id)
    pi = ctx.tx.get(session.get("payment_intent") or "")
    if (
        session["status"] != "complete"
        or session["payment_status"] != "unpaid"
        or not pi
        or pi["status"] != "processing"
    ):
        raise invalid(
            f"Checkout Session {cs_id} is not awaiting an asynchronous payment "
            f"(status {session['status']}, payment_status {session['payment_status']}).",
            param="session",
        )
    if fail:
        pi.update(
            status="requires_payment_method",
            last_payment_error={
                "code": "payment_method_customer_decline",
                "message": "The bank transfer failed.",
                "type": "card_error",
            },
        )
        ctx.tx.put(pi)
        ctx.emit("payment_intent.payment_failed", pi)
        ctx.tx.put(session)
        ctx.emit("checkout.session.async_payment_failed", session)
        return session
    pm = ctx.tx.get(pi["payment_method"])
    assert pm is not None
    _succeed(ctx, session, pi, pm)
    ctx.tx.put(session)
    ctx.emit("checkout.session.async_payment_succeeded", session)
    return session


def cancel_url_for(session: dict[str, Any]) -> str | None:
    url = session.get("cancel_url")
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if url else None


def success_url_for(session: dict[str, Any]) -> str:
    return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])


# -- refunds -------------------------------------------------------------------------------


def create_refund(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    pi_id = as_str(params.get("payment_intent"), "payment_intent")
    charge_id = as_str(params.get("charge"), "charge")
    if not pi_id and not charge_id:
        raise invalid("One of the following params should be provided for this request: payment_intent or charge.")
    if pi_id:
        pi = ctx.load(pi_id, "payment_intent", "payment_intent", param="payment_intent")
        if pi["status"] != "succeeded" or not pi.get("latest_charge"):
            raise invalid(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                param="payment_intent",
                code="charge_not_refundable",
            )
        charge = ctx.load(pi["latest_charge"], "charge", "charge", param="charge")
    else:
        charge = ctx.load(charge_id, "charge", "charge", param="charge")
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
    amount = remaining
    if params.get("amount") not in (None, ""):
        amount = as_int(params["amount"], "amount", minimum=1)
    if amount > remaining:
        raise invalid(
            f"Refund amount ({format_money(amount, charge['currency'])}) is greater than unrefunded amount on "
            f"charge ({format_money(remaining, charge['currency'])})",
            param="amount",
            code="amount_too_large",
        )
    reason = as_str(params.get("reason"), "reason")
    if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
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
        "failure_reason": None,
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
    previous_refunded = charge["amount_refunded"]
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    refunds = charge.setdefault("refunds", list_object(f"/v1/charges/{charge['id']}/refunds", []))
    refunds["data"].insert(0, public(refund))
    ctx.tx.put(charge)
    ctx.emit("charge.refunded", charge, {"amount_refunded": previous_refunded, "refunded": False})
    ctx.emit("refund.updated", refund, {"status": "pending"})
    return refund


def list_refunds(ctx: Ctx, params: dict[str, Any], url: str) -> dict[str, Any]:
    limit = min(as_int(params.get("limit", 10), "limit", minimum=1), 100)
    rows, has_more = ctx.tx.list(
        "refund",
        payment_intent=as_str(params.get("payment_intent"), "payment_intent"),
        limit=limit,
        starting_after=as_str(params.get("starting_after"), "starting_after"),
    )
    charge = as_str(params.get("charge"), "charge")
    return list_object(url, [public(r) for r in rows if charge is None or r["charge"] == charge], has_more)


# -- expand --------------------------------------------------------------------------------


def expand(ctx: Ctx, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Replaces ids with objects along each dotted path, like Stripe's `expand[]`."""
    for path in paths:
        _expand_path(ctx, obj, path.split("."), path)
    return obj


def _expand_path(ctx: Ctx, node: Any, parts: list[str], path: str) -> None:
    if not parts or not isinstance(node, dict):
        return
    key, rest = parts[0], parts[1:]
    if node.get("object") == "list" and key == "data":
        for item in node["data"]:
            _expand_path(ctx, item, rest, path)
        return
    if key not in node:
        raise invalid(f"This property cannot be expanded ({path}).", param="expand")
    value = node[key]
    if isinstance(value, str):
        loaded = ctx.tx.get(value)
        if loaded is not None:
            node[key] = public(loaded)
    _expand_path(ctx, node[key], rest, path)
