"""Test clocks (`/v1/test_helpers/test_clocks`): create, retrieve, list, advance, delete.

Advancing runs, in order and each at its own time, everything that falls due on the
clock's subscriptions by the new `frozen_time` (`billing.run_due`), within the request:
`test_helpers.test_clock.advancing`, the billing events, then `...ready`. The answer is
the clock already `ready` (Stripe answers `advancing` and finishes a moment later).
"""

from __future__ import annotations

from typing import Any

from webapp.sandbox.billing import run_due
from webapp.sandbox.clocks import DAY, add_clock_offset, add_months, clock_now, period_end
from webapp.sandbox.coerce import as_int, as_str, refuse_unmodelled
from webapp.sandbox.context import Ctx, new_id
from webapp.sandbox.errors import invalid
from webapp.sandbox.lists import object_page
from webapp.sandbox.resources.products import PAGING


def create_clock(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    frozen = as_int(params.get("frozen_time"), "frozen_time")
    clock = {
        "id": new_id("clock_"),
        "object": "test_helpers.test_clock",
        "created": ctx.now,
        "deletes_after": ctx.now + 30 * DAY,
        "frozen_time": frozen,
        "livemode": False,
        "name": as_str(params.get("name"), "name", max_len=300),
        "status": "ready",
        "status_details": {"advancing": None},
    }
    ctx.tx.put(clock)
    ctx.emit("test_helpers.test_clock.created", clock)
    return clock


def load_clock(ctx: Ctx, clock_id: str) -> dict[str, Any]:
    return ctx.load(clock_id, "test_helpers.test_clock", "test_clock")


def advance_clock(ctx: Ctx, clock_id: str, params: dict[str, Any]) -> dict[str, Any]:
    clock = load_clock(ctx, clock_id)
    target = as_int(params.get("frozen_time"), "frozen_time")
    if target <= clock["frozen_time"]:
        raise invalid(
            "The test clock's new frozen_time must be later than its current frozen_time.", param="frozen_time"
        )
    if target > furthest(ctx, clock):
        raise invalid(
            "A test clock cannot advance more than two intervals of its shortest subscription past its "
            "frozen_time (two years when it has no subscription).",
            param="frozen_time",
        )
    clock.update(status="advancing", status_details={"advancing": {"target_frozen_time": target}})
    ctx.tx.put(clock)
    with ctx.at(clock["frozen_time"]):  # a clock's events carry its own time
        ctx.emit("test_helpers.test_clock.advancing", clock)
    run_due(ctx, clock_id, target)
    clock.update(frozen_time=target, status="ready", status_details={"advancing": None})
    with ctx.at(target):
        ctx.tx.put(clock)
        ctx.emit("test_helpers.test_clock.ready", clock)
    return clock


def furthest(ctx: Ctx, clock: dict[str, Any]) -> int:
    """How far one advance may go: two intervals of the clock's shortest live subscription,
    else two years (Stripe's limits)."""
    frozen = int(clock["frozen_time"])
    ends = [
        period_end(frozen, item["price"]["recurring"], 2)
        for sub in ctx.tx.all_of_type("subscription")
        if sub.get("test_clock") == clock["id"] and sub["status"] != "canceled"
        for item in sub["items"]["data"]
    ]
    return min(ends) if ends else add_months(frozen, 24)


def delete_clock(ctx: Ctx, clock_id: str) -> dict[str, Any]:
    """Deletes the clock; its customers' subscriptions are canceled with it."""
    clock = load_clock(ctx, clock_id)
    for sub in ctx.tx.all_of_type("subscription"):
        if sub.get("test_clock") == clock_id and sub["status"] != "canceled":
            sub.update(status="canceled", canceled_at=ctx.now, ended_at=ctx.now)
            ctx.tx.put(sub)
    ctx.tx.delete(clock_id)
    ctx.emit("test_helpers.test_clock.deleted", clock)
    return {"id": clock_id, "object": "test_helpers.test_clock", "deleted": True}


def list_clocks(ctx: Ctx, params: dict[str, Any], url: str) -> dict[str, Any]:
    refuse_unmodelled(params, PAGING)
    return object_page(ctx, params, url, object_type="test_helpers.test_clock", kind="test_clock")


def advance_everything(ctx: Ctx, seconds: int) -> dict[str, int]:
    """`flask stripe-sandbox advance`: every test clock, then the sandbox's own "now",
    forward by `seconds`, running what falls due on each; returns what it moved and ran."""
    clocks = ctx.tx.all_of_type("test_helpers.test_clock")
    for clock in clocks:
        target = clock["frozen_time"] + seconds
        while clock["frozen_time"] < target:  # in steps Stripe allows
            clock = advance_clock(ctx, clock["id"], {"frozen_time": min(target, furthest(ctx, clock))})
    add_clock_offset(ctx.tx, seconds)
    ran = run_due(ctx, None, clock_now(ctx.tx, None, ctx.now))
    return {"clocks": len(clocks), "due": ran}
