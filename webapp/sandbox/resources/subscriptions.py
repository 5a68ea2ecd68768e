"""Subscriptions: made by Checkout in subscription mode; retrieve, list, update, cancel.

A subscription bills its items each period from `billing_cycle_anchor` (`clocks.period_end`);
`_period` counts the periods begun. Status: `incomplete` until its first invoice is paid,
then `active`; `past_due` while a renewal invoice is being retried; `canceled` at the end
(asked for, scheduled, or after the last retry failed). What falls due — renewals, retries,
a schedule's end — is run by `billing` when a clock (or the sandbox's "now") advances.
"""

from __future__ import annotations

from typing import Any

from webapp.sandbox.clocks import clock_now, period_end
from webapp.sandbox.coerce import as_bool, as_metadata, as_str, merge_metadata, refuse_unmodelled
from webapp.sandbox.context import Ctx, new_id
from webapp.sandbox.errors import invalid
from webapp.sandbox.lists import object_page
from webapp.sandbox.resources.products import PAGING, plan_of


def build_subscription(
    ctx: Ctx,
    *,
    customer: dict[str, Any],
    prices: list[tuple[dict[str, Any], int]],
    payment_method: str | None,
    metadata: dict[str, str],
) -> dict[str, Any]:
    """A new `incomplete` subscription of `prices` (recurring, with quantities), starting now."""
    sub_id = new_id("sub_")
    recurring = prices[0][0]["recurring"]
    items = [
        {
            "id": new_id("si_", 14),
            "object": "subscription_item",
            "created": ctx.now,
            "current_period_start": ctx.now,
            "current_period_end": period_end(ctx.now, recurring, 1),
            "discounts": [],
            "metadata": {},
            "plan": plan_of(price),
            "price": price,
            "quantity": quantity,
            "subscription": sub_id,
            "tax_rates": [],
        }
        for price, quantity in prices
    ]
    return {
        "id": sub_id,
        "object": "subscription",
        "billing_cycle_anchor": ctx.now,
        "billing_mode": {"type": "classic", "flexible": None, "updated_at": None},
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": ctx.now,
        "currency": prices[0][0]["currency"],
        "customer": customer["id"],
        "default_payment_method": payment_method,
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": dict(metadata),
        "schedule": None,
        "start_date": ctx.now,
        "status": "incomplete",
        "test_clock": customer.get("test_clock"),
        "_period": 1,
    }


def current_period_end(sub: dict[str, Any]) -> int:
    return int(sub["items"]["data"][0]["current_period_end"])


def begin_next_period(sub: dict[str, Any]) -> None:
    """Moves every item on to the next billing period (what a renewal does first)."""
    sub["_period"] += 1
    for item in sub["items"]["data"]:
        recurring = item["price"]["recurring"]
        item["current_period_start"] = period_end(sub["billing_cycle_anchor"], recurring, sub["_period"] - 1)
        item["current_period_end"] = period_end(sub["billing_cycle_anchor"], recurring, sub["_period"])


def set_status(ctx: Ctx, sub: dict[str, Any], status: str) -> None:
    """Moves the subscription to `status` (`customer.subscription.updated`); no-op if there."""
    if sub["status"] == status:
        return
    previous = {"status": sub["status"]}
    sub["status"] = status
    ctx.tx.put(sub)
    ctx.emit("customer.subscription.updated", sub, previous)


def end_subscription(ctx: Ctx, sub: dict[str, Any], reason: str) -> None:
    """Cancels now: `canceled`, `customer.subscription.deleted`; its schedule ends with it
    (`completed` when the schedule ended it, else `canceled`)."""
    if sub["status"] == "canceled":
        return
    sub.update(status="canceled", canceled_at=sub["canceled_at"] or ctx.now, ended_at=ctx.now)
    sub["cancellation_details"]["reason"] = reason
    schedule = ctx.tx.get(sub["schedule"]) if sub.get("schedule") else None
    ctx.tx.put(sub)
    ctx.emit("customer.subscription.deleted", sub)
    if schedule is not None and schedule["status"] in ("active", "not_started"):
        ended_by_schedule = reason == "cancellation_requested" and schedule["end_behavior"] == "cancel"
        if ended_by_schedule and ctx.now >= schedule["phases"][-1]["end_date"]:
            schedule.update(status="completed", completed_at=ctx.now, current_phase=None)
            ctx.tx.put(schedule)
            ctx.emit("subscription_schedule.completed", schedule)
        else:
            schedule.update(status="canceled", canceled_at=ctx.now, current_phase=None)
            ctx.tx.put(schedule)
            ctx.emit("subscription_schedule.canceled", schedule)


def load_subscription(ctx: Ctx, sub_id: str) -> dict[str, Any]:
    return ctx.load(sub_id, "subscription", "subscription")


def update_subscription(ctx: Ctx, sub_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """`metadata`, `default_payment_method`, `cancel_at_period_end`, `description`."""
    refuse_unmodelled(params, {"metadata", "default_payment_method", "cancel_at_period_end", "description", "expand"})
    sub = load_subscription(ctx, sub_id)
    with ctx.at(clock_now(ctx.tx, sub.get("test_clock"), ctx.now)):
        return _update(ctx, sub, params)


def _update(ctx: Ctx, sub: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    if sub["status"] == "canceled":
        raise invalid(
            "A canceled subscription can only update its cancellation_details and metadata.", param="subscription"
        )
    previous: dict[str, Any] = {}
    if "metadata" in params:
        previous["metadata"] = sub["metadata"]
        sub["metadata"] = merge_metadata(sub["metadata"], as_metadata(params["metadata"]))
    if params.get("default_payment_method") == "":  # Stripe's empty string unsets the field
        previous["default_payment_method"] = sub["default_payment_method"]
        sub["default_payment_method"] = None
    elif params.get("default_payment_method"):
        pm = ctx.load(
            params["default_payment_method"], "payment_method", "PaymentMethod", param="default_payment_method"
        )
        if pm.get("customer") != sub["customer"]:
            raise invalid(
                f"The customer does not have a payment method with the ID {pm['id']}. The payment method "
                "must be attached to the customer.",
                param="default_payment_method",
            )
        previous["default_payment_method"] = sub["default_payment_method"]
        sub["default_payment_method"] = pm["id"]
    if "cancel_at_period_end" in params:
        previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
        at_end = as_bool(params["cancel_at_period_end"], "cancel_at_period_end")
        sub.update(
            cancel_at_period_end=at_end,
            cancel_at=current_period_end(sub) if at_end else None,
            canceled_at=ctx.now if at_end else None,
        )
    if "description" in params:
        previous["description"] = sub["description"]
        sub["description"] = as_str(params["description"], "description")
    ctx.tx.put(sub)
    if previous:
        ctx.emit("customer.subscription.updated", sub, previous)
    return sub


def cancel_subscription(ctx: Ctx, sub_id: str, params: dict[str, Any]) -> dict[str, Any]:
    sub = load_subscription(ctx, sub_id)
    if sub["status"] == "canceled":
        raise invalid(f"No such subscription: '{sub_id}'", param="id", code="resource_missing")
    details = params.get("cancellation_details")
    if isinstance(details, dict):
        sub["cancellation_details"]["comment"] = as_str(details.get("comment"), "cancellation_details[comment]")
        sub["cancellation_details"]["feedback"] = as_str(details.get("feedback"), "cancellation_details[feedback]")
    with ctx.at(clock_now(ctx.tx, sub.get("test_clock"), ctx.now)):
        sub["canceled_at"] = ctx.now
        end_subscription(ctx, sub, "cancellation_requested")
    return sub


def list_subscriptions(ctx: Ctx, params: dict[str, Any], url: str) -> dict[str, Any]:
    """Stripe's filters; without `status`, every status but `canceled` (`status=all`: all).
    Subscriptions on test clocks are listed only with `customer` or `test_clock`, as at Stripe."""
    refuse_unmodelled(params, PAGING | {"status", "test_clock", "price", "customer"})
    status = as_str(params.get("status"), "status")
    clock = as_str(params.get("test_clock"), "test_clock")
    price = as_str(params.get("price"), "price")
    customer = as_str(params.get("customer"), "customer")

    def keep(sub: dict[str, Any]) -> bool:
        if clock is None and customer is None and sub.get("test_clock"):
            return False
        if status is None and sub["status"] == "canceled":
            return False
        if status == "ended":
            return sub["status"] in ("canceled", "incomplete_expired")
        if status not in (None, "all") and sub["status"] != status:
            return False
        if clock is not None and sub.get("test_clock") != clock:
            return False
        return price is None or any(item["price"]["id"] == price for item in sub["items"]["data"])

    return object_page(
        ctx,
        params,
        url,
        object_type="subscription",
        kind="subscription",
        keep=keep,
        customer=customer,
    )
