"""Checkout Sessions: create, read (expiring lazily), expire, list, line items."""

from __future__ import annotations

from typing import Any

from webapp.sandbox.coerce import as_currency, as_int, as_metadata, as_str, refuse_unmodelled
from webapp.sandbox.context import Ctx, list_object, new_id, public
from webapp.sandbox.errors import invalid
from webapp.sandbox.lists import object_page
from webapp.sandbox.money import format_amount, minimum_charge
from webapp.sandbox.resources.payment_intents import cancel_payment_intent
from webapp.sandbox.resources.products import price_for_item
from webapp.sandbox.resources.setup_intents import build_setup_intent

_DAY = 24 * 3600


def create_checkout_session(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    mode = as_str(params.get("mode"), "mode", required=True)
    if mode not in ("payment", "setup", "subscription"):
        raise invalid(
            f"Invalid mode: the sandbox supports 'payment', 'setup' and 'subscription', got {mode!r}.", param="mode"
        )
    success_url, cancel_url = _redirect_urls(params)
    customer_id = as_str(params.get("customer"), "customer")
    if customer_id is not None:
        ctx.load(customer_id, "customer", "customer", param="customer")
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
        "expires_at": _expires_at(ctx, params),
        "livemode": False,
        "locale": as_str(params.get("locale"), "locale"),
        "metadata": as_metadata(params.get("metadata")),
        "mode": mode,
        "payment_intent": None,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "saved_payment_method_options": _saved_payment_method_options(params.get("saved_payment_method_options")),
        "setup_intent": None,
        "status": "open",
        "success_url": success_url,
        "ui_mode": "hosted_page",  # the announced API version's name for the hosted page
        "url": f"{ctx.base_url}/pay/{cs_id}",
    }
    if mode == "payment":
        _fill_payment_session(ctx, session, params)
    elif mode == "subscription":
        _fill_subscription_session(ctx, session, params)
    else:
        _fill_setup_session(ctx, session, params)
    ctx.tx.put(session)
    return session


def _redirect_urls(params: dict[str, Any]) -> tuple[str, str | None]:
    success_url = as_str(params.get("success_url"), "success_url", required=True)
    assert success_url is not None
    cancel_url = as_str(params.get("cancel_url"), "cancel_url")
    for name, url in (("success_url", success_url), ("cancel_url", cancel_url)):
        if url is not None and not url.startswith(("http://", "https://")):
            raise invalid("Not a valid URL", param=name)
    return success_url, cancel_url


def _expires_at(ctx: Ctx, params: dict[str, Any]) -> int:
    """`expires_at`: 24 hours by default, else between 30 minutes and 24 hours from now."""
    if params.get("expires_at") in (None, ""):
        return ctx.now + _DAY
    expires_at = as_int(params["expires_at"], "expires_at")
    # A request a few seconds old still gets its "exactly 30 minutes"; Stripe is as lenient.
    if expires_at < ctx.now + 30 * 60 - 60:
        raise invalid(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            param="expires_at",
        )
    if expires_at > ctx.now + _DAY + 60:
        raise invalid(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            param="expires_at",
        )
    return expires_at


def _saved_payment_method_options(saved: Any) -> dict[str, Any] | None:
    if not isinstance(saved, dict):
        return None
    param = "saved_payment_method_options[payment_method_save]"
    save = as_str(saved.get("payment_method_save"), param)
    if save not in (None, "enabled", "disabled"):
        raise invalid("Invalid payment_method_save", param=param)
    return {
        "allow_redisplay_filters": saved.get("allow_redisplay_filters") or ["always"],
        "payment_method_remove": saved.get("payment_method_remove"),
        "payment_method_save": save,
    }


def _fill_payment_session(ctx: Ctx, session: dict[str, Any], params: dict[str, Any]) -> None:
    line_items = _line_items(ctx, params, "payment")
    for index, item in enumerate(line_items):
        if item["price"]["type"] == "recurring":
            raise invalid(
                "You must provide at least one recurring price in `subscription` mode when using prices. "
                "You specified `payment` mode but passed a recurring price.",
                param=f"line_items[{index}]",
            )
    total = sum(item["amount_total"] for item in line_items)
    _check_total(total, line_items[0]["currency"])
    session.update(
        currency=line_items[0]["currency"],
        amount_subtotal=total,
        amount_total=total,
        total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        payment_method_options={"card": {"request_three_d_secure": "automatic"}},
        _line_items=line_items,
        _payment_intent_data=_payment_intent_data(params.get("payment_intent_data")),
    )


def _fill_subscription_session(ctx: Ctx, session: dict[str, Any], params: dict[str, Any]) -> None:
    """Recurring line items (one interval) and one-time ones billed on the first invoice."""
    if params.get("payment_intent_data"):
        raise invalid("You can not pass `payment_intent_data` in `subscription` mode.", param="payment_intent_data")
    line_items = _line_items(ctx, params, "subscription")
    recurring = [item["price"]["recurring"] for item in line_items if item["price"]["type"] == "recurring"]
    if not recurring:
        raise invalid(
            "You must provide at least one recurring price in `subscription` mode when using prices.",
            param="line_items",
        )
    cycles = {(r["interval"], r["interval_count"]) for r in recurring}
    if len(cycles) > 1:
        raise invalid("All recurring prices of a subscription must share one billing interval.", param="line_items")
    total = sum(item["amount_total"] for item in line_items)
    _check_total(total, line_items[0]["currency"])
    sub_data = params.get("subscription_data") or {}
    if not isinstance(sub_data, dict):
        raise invalid("Invalid object", param="subscription_data")
    refuse_unmodelled(sub_data, {"metadata", "description"}, "subscription_data")
    session.update(
        currency=line_items[0]["currency"],
        amount_subtotal=total,
        amount_total=total,
        total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        payment_method_options={"card": {"request_three_d_secure": "automatic"}},
        _line_items=line_items,
        _subscription_data={
            "metadata": as_metadata(sub_data.get("metadata"), "subscription_data[metadata]"),
            "description": as_str(sub_data.get("description"), "subscription_data[description]"),
        },
    )


def _line_items(ctx: Ctx, params: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    items = params.get("line_items")
    if not isinstance(items, list) or not items:
        raise invalid(f"You must specify `line_items` when `mode` is `{mode}`.", param="line_items")
    line_items = [_line_item(ctx, item, f"line_items[{index}]") for index, item in enumerate(items)]
    currency = line_items[0]["currency"]
    for index, item in enumerate(line_items):
        if item["currency"] != currency:
            raise invalid(
                "All line items must use the same currency.", param=f"line_items[{index}][price_data][currency]"
            )
    return line_items


def _line_item(ctx: Ctx, item: Any, prefix: str) -> dict[str, Any]:
    """One `line_items[i]` (`price` or `price_data`) as Stripe's `item` object."""
    if not isinstance(item, dict):
        raise invalid("Invalid object", param=prefix)
    price = price_for_item(ctx, item, prefix)
    quantity = as_int(item.get("quantity", 1), f"{prefix}[quantity]", minimum=1)
    product = ctx.tx.get(price["product"]) or {"name": price["product"], "description": None}
    amount = price["unit_amount"] * quantity
    return {
        "id": new_id("li_"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price["currency"],
        "description": product["name"],
        "price": public(price),
        "quantity": quantity,
        "_product": {"name": product["name"], "description": product.get("description")},
    }


def _check_total(total: int, currency: str) -> None:
    minimum = minimum_charge(currency)
    if 0 < total < minimum:
        raise invalid(
            f"The Checkout Session's total amount due must add up to at least {format_amount(minimum, currency)}",
            param="line_items",
        )
    if total == 0:
        raise invalid("The Checkout Session's total amount due must be greater than 0.", param="line_items")


def _payment_intent_data(pi_data: Any) -> dict[str, Any]:
    """What `payment_intent_data` asks of the PaymentIntent made on the first payment attempt."""
    pi_data = pi_data or {}
    if not isinstance(pi_data, dict):
        raise invalid("Invalid object", param="payment_intent_data")
    future = as_str(pi_data.get("setup_future_usage"), "payment_intent_data[setup_future_usage]")
    if future not in (None, "on_session", "off_session"):
        raise invalid("Invalid setup_future_usage", param="payment_intent_data[setup_future_usage]")
    return {
        "metadata": as_metadata(pi_data.get("metadata"), "payment_intent_data[metadata]"),
        "setup_future_usage": future,
        "description": as_str(pi_data.get("description"), "payment_intent_data[description]"),
    }


def _fill_setup_session(ctx: Ctx, session: dict[str, Any], params: dict[str, Any]) -> None:
    if params.get("line_items"):
        raise invalid("`line_items` cannot be used in `setup` mode.", param="line_items")
    if params.get("currency") not in (None, ""):
        session["currency"] = as_currency(params["currency"])
    si_data = params.get("setup_intent_data") or {}
    metadata = as_metadata(
        si_data.get("metadata") if isinstance(si_data, dict) else None, "setup_intent_data[metadata]"
    )
    setup_intent = build_setup_intent(ctx, customer=session["customer"], metadata=metadata)
    ctx.tx.put(setup_intent)
    ctx.emit("setup_intent.created", setup_intent)
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
        cancel_payment_intent(ctx, session["payment_intent"], reason="automatic")
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
    """Sessions, filtered by customer, payment_intent, subscription and status (as lazily
    expired)."""
    status = as_str(params.get("status"), "status")
    subscription = as_str(params.get("subscription"), "subscription")

    def keep(session: dict[str, Any]) -> bool:
        if subscription is not None and session.get("subscription") != subscription:
            return False
        return status is None or _current_status(ctx, session) == status

    page = object_page(
        ctx,
        params,
        url,
        object_type="checkout.session",
        kind="checkout.session",
        keep=keep,
        customer=as_str(params.get("customer"), "customer"),
        payment_intent=as_str(params.get("payment_intent"), "payment_intent"),
    )
    for session in page["data"]:
        _expire_if_due(ctx, session)
    return page


def _current_status(ctx: Ctx, session: dict[str, Any]) -> str:
    if session["status"] == "open" and session["expires_at"] <= ctx.now:
        return "expired"
    return session["status"]


def session_line_items(session: dict[str, Any], url: str) -> dict[str, Any]:
    items = [public(item) for item in session.get("_line_items") or []]
    return list_object(url, items)


def cancel_url_for(session: dict[str, Any]) -> str | None:
    url = session.get("cancel_url")
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if url else None


def success_url_for(session: dict[str, Any]) -> str:
    return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
