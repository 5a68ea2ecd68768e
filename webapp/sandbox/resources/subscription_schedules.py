"""Subscription Schedules: from a subscription, phases with a `duration`, end behaviours.

`create(from_subscription=...)` makes one phase of the subscription's current period with
its items; `update(phases=[...], end_behavior=...)` replaces the phases (each lasts its
`duration` — this API version has no `iterations` — or until its `end_date`; a phase
without `start_date` starts where the previous one ends, the first where the current phase
began). With `end_behavior=cancel` the subscription's `cancel_at` is the last phase's end,
and the renewal due at that moment ends it instead (`customer.subscription.deleted`,
`subscription_schedule.completed`) — so a 3-month phase on a monthly price bills exactly
three invoices. With `release` the subscription goes on alone. `billing` runs this.
"""

from __future__ import annotations

from typing import Any

from webapp.sandbox.clocks import clock_now, period_end
from webapp.sandbox.coerce import as_int, as_metadata, as_str, refuse_unmodelled
from webapp.sandbox.context import Ctx, new_id
from webapp.sandbox.errors import invalid
from webapp.sandbox.lists import object_page
from webapp.sandbox.resources.products import PAGING
from webapp.sandbox.resources.subscriptions import current_period_end, end_subscription

END_BEHAVIORS = ("cancel", "release")


def _phase(sub: dict[str, Any], start: int, end: int, items: list[dict[str, Any]], metadata: dict[str, str]):
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "automatic_tax": None,
        "billing_cycle_anchor": None,
        "billing_thresholds": None,
        "collection_method": None,
        "currency": sub["currency"],
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "end_date": end,
        "invoice_settings": None,
        "items": items,
        "metadata": metadata,
        "on_behalf_of": None,
        "proration_behavior": "create_prorations",
        "start_date": start,
        "transfer_data": None,
        "trial_end": None,
    }


def _phase_item(price_id: str, quantity: int) -> dict[str, Any]:
    return {
        "billing_thresholds": None,
        "discounts": [],
        "metadata": {},
        "plan": price_id,
        "price": price_id,
        "quantity": quantity,
        "tax_rates": [],
    }


def create_schedule(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    sub_id = params.get("from_subscription")
    sub = ctx.tx.get(sub_id) if isinstance(sub_id, str) and sub_id else None
    with ctx.at(clock_now(ctx.tx, (sub or {}).get("test_clock"), ctx.now)):
        return _create_schedule(ctx, params)


def _at_clock(ctx: Ctx, sched_id: str) -> int:
    """The time of the schedule's test clock (the sandbox's now without one)."""
    schedule = ctx.load(sched_id, "subscription_schedule", "subscription_schedule")
    return clock_now(ctx.tx, schedule.get("test_clock"), ctx.now)


def update_schedule(ctx: Ctx, sched_id: str, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.at(_at_clock(ctx, sched_id)):
        return _update_schedule(ctx, sched_id, params)


def cancel_schedule(ctx: Ctx, sched_id: str) -> dict[str, Any]:
    with ctx.at(_at_clock(ctx, sched_id)):
        return _cancel_schedule(ctx, sched_id)


def release_schedule(ctx: Ctx, sched_id: str) -> dict[str, Any]:
    with ctx.at(_at_clock(ctx, sched_id)):
        return _release_schedule(ctx, sched_id)


def _create_schedule(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    sub_id = as_str(params.get("from_subscription"), "from_subscription")
    if sub_id is None:
        raise invalid(
            "The sandbox makes subscription schedules `from_subscription` only.",
            param="from_subscription",
            code="parameter_missing",
        )
    if params.get("phases") or params.get("customer") or params.get("end_behavior"):
        raise invalid(
            "You cannot set `phases`, `customer` or `end_behavior` if `from_subscription` is set.",
            param="from_subscription",
        )
    sub = ctx.load(sub_id, "subscription", "subscription", param="from_subscription")
    if sub.get("schedule"):
        raise invalid(
            f"You cannot migrate a subscription that is already attached to a schedule: `{sub['schedule']}`.",
            param="from_subscription",
        )
    if sub["status"] == "canceled":
        raise invalid("You cannot create a schedule from a canceled subscription.", param="from_subscription")
    item = sub["items"]["data"][0]
    items = [_phase_item(i["price"]["id"], i["quantity"]) for i in sub["items"]["data"]]
    phase = _phase(sub, item["current_period_start"], current_period_end(sub), items, {})
    schedule = {
        "id": new_id("sub_sched_"),
        "object": "subscription_schedule",
        "application": None,
        "billing_mode": {"type": "classic", "flexible": None, "updated_at": None},
        "canceled_at": None,
        "completed_at": None,
        "created": ctx.now,
        "current_phase": {"start_date": phase["start_date"], "end_date": phase["end_date"]},
        "customer": sub["customer"],
        "default_settings": {
            "application_fee_percent": None,
            "automatic_tax": None,
            "billing_cycle_anchor": "automatic",
            "billing_thresholds": None,
            "collection_method": "charge_automatically",
            "default_payment_method": None,
            "description": None,
            "invoice_settings": {"account_tax_ids": None, "days_until_due": None, "issuer": {"type": "self"}},
            "on_behalf_of": None,
            "transfer_data": None,
        },
        "end_behavior": "release",
        "livemode": False,
        "metadata": as_metadata(params.get("metadata")),
        "phases": [phase],
        "released_at": None,
        "released_subscription": None,
        "status": "active",
        "subscription": sub["id"],
        "test_clock": sub.get("test_clock"),
    }
    ctx.tx.put(schedule)
    ctx.emit("subscription_schedule.created", schedule)
    sub["schedule"] = schedule["id"]
    ctx.tx.put(sub)
    ctx.emit("customer.subscription.updated", sub, {"schedule": None})
    return schedule


def _load_active(ctx: Ctx, sched_id: str) -> dict[str, Any]:
    schedule = ctx.load(sched_id, "subscription_schedule", "subscription_schedule")
    if schedule["status"] not in ("active", "not_started"):
        raise invalid(
            f"You cannot update a subscription schedule that is currently in the `{schedule['status']}` status. "
            "It must be in one of the following statuses: `not_started`, `active`.",
            param="schedule",
        )
    return schedule


def _parse_phases(ctx: Ctx, schedule: dict[str, Any], sub: dict[str, Any], raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise invalid("Invalid array", param="phases")
    start = schedule["current_phase"]["start_date"] if schedule.get("current_phase") else ctx.now
    phases = []
    for index, data in enumerate(raw):
        param = f"phases[{index}]"
        if not isinstance(data, dict):
            raise invalid("Invalid object", param=param)
        refuse_unmodelled(
            data, {"items", "start_date", "end_date", "duration", "metadata", "proration_behavior"}, param
        )
        if data.get("start_date") not in (None, ""):
            start = ctx.now if data["start_date"] == "now" else as_int(data["start_date"], f"{param}[start_date]")
        items = _parse_items(ctx, data.get("items"), param)
        end = _phase_end(ctx, data, start, items, param)
        phases.append(_phase(sub, start, end, items, as_metadata(data.get("metadata"), f"{param}[metadata]")))
        start = end
    return phases


def _parse_items(ctx: Ctx, raw: Any, param: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise invalid(f"Missing required param: {param}[items].", param=f"{param}[items]", code="parameter_missing")
    items = []
    for index, data in enumerate(raw):
        item_param = f"{param}[items][{index}]"
        refuse_unmodelled(data, {"price", "quantity"}, item_param)
        price_id = as_str((data or {}).get("price"), f"{item_param}[price]", required=True)
        price = ctx.load(price_id, "price", "price", param=f"{item_param}[price]")
        if price["type"] != "recurring":
            raise invalid(
                f"The price specified is set to `type=one_time` but this field only accepts prices with "
                f"`type=recurring`: {price_id}",
                param=f"{item_param}[price]",
            )
        items.append(_phase_item(price_id, as_int(data.get("quantity", 1), f"{item_param}[quantity]", minimum=1)))
    return items


def _phase_end(ctx: Ctx, data: dict[str, Any], start: int, items: list[dict[str, Any]], param: str) -> int:
    duration, end_date = data.get("duration"), data.get("end_date")
    if duration and end_date:
        raise invalid("You may only specify one of these parameters: duration, end_date.", param=f"{param}[duration]")
    if end_date not in (None, ""):
        end = ctx.now if end_date == "now" else as_int(end_date, f"{param}[end_date]")
    elif isinstance(duration, dict):
        recurring = {
            "interval": as_str(duration.get("interval"), f"{param}[duration][interval]", required=True),
            "interval_count": as_int(
                duration.get("interval_count", 1), f"{param}[duration][interval_count]", minimum=1
            ),
        }
        end = period_end(start, recurring, 1)
    else:
        price = ctx.tx.get(items[0]["price"]) or {}
        end = period_end(start, price["recurring"], 1)  # one billing period, as at Stripe
    if end <= start:
        raise invalid("The phase's end must be after its start.", param=f"{param}[end_date]")
    return end


def _update_schedule(ctx: Ctx, sched_id: str, params: dict[str, Any]) -> dict[str, Any]:
    refuse_unmodelled(params, {"phases", "end_behavior", "metadata", "expand", "proration_behavior"})
    schedule = _load_active(ctx, sched_id)
    sub = ctx.load(schedule["subscription"], "subscription", "subscription")
    previous: dict[str, Any] = {}
    if "phases" in params:
        previous["phases"] = schedule["phases"]
        schedule["phases"] = _parse_phases(ctx, schedule, sub, params["phases"])
        current = _current(schedule, ctx.now)
        schedule["current_phase"] = current and {"start_date": current["start_date"], "end_date": current["end_date"]}
    if params.get("end_behavior") not in (None, ""):
        if params["end_behavior"] not in END_BEHAVIORS:
            raise invalid("The sandbox supports end_behavior `cancel` and `release`.", param="end_behavior")
        previous["end_behavior"] = schedule["end_behavior"]
        schedule["end_behavior"] = params["end_behavior"]
    if "metadata" in params:
        previous["metadata"] = schedule["metadata"]
        schedule["metadata"] = as_metadata(params["metadata"])
    ctx.tx.put(schedule)
    ctx.emit("subscription_schedule.updated", schedule, previous)
    _sync_cancel_at(ctx, schedule, sub)
    return schedule


def _current(schedule: dict[str, Any], now: int) -> dict[str, Any] | None:
    for phase in schedule["phases"]:
        if phase["start_date"] <= now < phase["end_date"]:
            return phase
    return None


def _sync_cancel_at(ctx: Ctx, schedule: dict[str, Any], sub: dict[str, Any]) -> None:
    """A schedule that ends in `cancel` sets the subscription's `cancel_at` to its end."""
    cancel_at = schedule["phases"][-1]["end_date"] if schedule["end_behavior"] == "cancel" else None
    if sub["cancel_at"] != cancel_at:
        previous = {"cancel_at": sub["cancel_at"]}
        sub["cancel_at"] = cancel_at
        ctx.tx.put(sub)
        ctx.emit("customer.subscription.updated", sub, previous)


def _cancel_schedule(ctx: Ctx, sched_id: str) -> dict[str, Any]:
    """Cancels the schedule and its subscription now."""
    schedule = _load_active(ctx, sched_id)
    sub = ctx.load(schedule["subscription"], "subscription", "subscription")
    end_subscription(ctx, sub, "cancellation_requested")
    schedule = ctx.load(sched_id, "subscription_schedule", "subscription_schedule")
    if schedule["status"] != "canceled":  # a subscription already ended
        schedule.update(status="canceled", canceled_at=ctx.now, current_phase=None)
        ctx.tx.put(schedule)
        ctx.emit("subscription_schedule.canceled", schedule)
    return schedule


def _release_schedule(ctx: Ctx, sched_id: str) -> dict[str, Any]:
    """Lets the subscription go on alone (`subscription_schedule.released`)."""
    schedule = _load_active(ctx, sched_id)
    sub = ctx.load(schedule["subscription"], "subscription", "subscription")
    schedule.update(
        status="released", released_at=ctx.now, released_subscription=sub["id"], subscription=None, current_phase=None
    )
    ctx.tx.put(schedule)
    ctx.emit("subscription_schedule.released", schedule)
    previous = {"schedule": sub["schedule"], "cancel_at": sub["cancel_at"]}
    sub.update(schedule=None, cancel_at=None)
    ctx.tx.put(sub)
    ctx.emit("customer.subscription.updated", sub, previous)
    return schedule


def list_schedules(ctx: Ctx, params: dict[str, Any], url: str) -> dict[str, Any]:
    refuse_unmodelled(params, PAGING | {"customer"})
    return object_page(
        ctx,
        params,
        url,
        object_type="subscription_schedule",
        kind="subscription_schedule",
        customer=as_str(params.get("customer"), "customer"),
    )
