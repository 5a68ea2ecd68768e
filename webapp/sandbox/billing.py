"""What falls due as time passes: renewals, payment retries, schedule ends — in order.

`run_due(ctx, clock, until)` runs, one at a time and earliest first, everything due by
`until` for the subscriptions on test clock `clock` (None: those without a clock, on the
sandbox's own "now"). Each runs at its own due time (`ctx.at`), so objects and events carry
it. At a subscription's period end, in this order:

1. a schedule whose last phase ends then: `end_behavior=cancel` cancels the subscription
   (`customer.subscription.deleted`, `subscription_schedule.completed`) — no invoice;
   `release` lets it go on (`subscription_schedule.released`); a next phase takes over
   (`subscription_schedule.updated`);
2. `cancel_at_period_end` / `cancel_at` reached: canceled, no invoice;
3. otherwise the next period begins and its invoice is made and charged (`invoices`).

An open invoice's `next_payment_attempt` is due like a renewal (`invoices.RETRY_DAYS`),
unless its subscription has been canceled meanwhile (the invoice stays open and payable).
"""

from __future__ import annotations

from typing import Any

from webapp.sandbox.context import Ctx
from webapp.sandbox.resources.invoices import attempt, create_invoice, payment_method_for, subscription_of
from webapp.sandbox.resources.subscriptions import begin_next_period, current_period_end, end_subscription

_BILLING = ("active", "past_due")
_MAX_STEPS = 10_000


def run_due(ctx: Ctx, clock: str | None, until: int) -> int:
    """Runs everything due by `until` on `clock` (module docstring); returns how many."""
    for step in range(_MAX_STEPS):
        due = _next_due(ctx, clock, until)
        if due is None:
            return step
        at, kind, obj = due
        with ctx.at(at):
            if kind == "retry":
                attempt(ctx, obj, payment_method_for(ctx, obj))
            else:
                renew(ctx, obj)
    raise RuntimeError("billing: too many steps due at once")


def _next_due(ctx: Ctx, clock: str | None, until: int) -> tuple[int, str, dict[str, Any]] | None:
    found: list[tuple[int, int, str, dict[str, Any]]] = []
    subs = {s["id"]: s for s in ctx.tx.all_of_type("subscription") if s.get("test_clock") == clock}
    for sub in subs.values():
        if sub["status"] in _BILLING and current_period_end(sub) <= until:
            found.append((current_period_end(sub), 1, "renew", sub))
    for invoice in ctx.tx.all_of_type("invoice"):
        when = invoice.get("next_payment_attempt")
        sub = subs.get(subscription_of(invoice) or "")
        # A canceled subscription's open invoices are no longer retried (still payable).
        if invoice["status"] == "open" and when is not None and when <= until and sub and sub["status"] != "canceled":
            found.append((when, 0, "retry", invoice))
    if not found:
        return None
    at, _, kind, obj = min(found, key=lambda f: (f[0], f[1]))
    return at, kind, obj


def renew(ctx: Ctx, sub: dict[str, Any]) -> None:
    """The subscription's period end (module docstring, steps 1-3)."""
    if sub.get("schedule") and not _schedule_turns(ctx, sub):
        return
    if sub["cancel_at_period_end"] or (sub["cancel_at"] is not None and sub["cancel_at"] <= ctx.now):
        end_subscription(ctx, sub, "cancellation_requested")
        return
    previous = {"items": _periods(sub), "latest_invoice": sub["latest_invoice"]}
    ended = (sub["items"]["data"][0]["current_period_start"], ctx.now)
    begin_next_period(sub)
    invoice = create_invoice(ctx, sub, "subscription_cycle", [], ended)
    ctx.emit("customer.subscription.updated", sub, previous)
    attempt(ctx, invoice, payment_method_for(ctx, invoice))


def _periods(sub: dict[str, Any]) -> dict[str, Any]:
    return {
        "data": [
            {"current_period_start": i["current_period_start"], "current_period_end": i["current_period_end"]}
            for i in sub["items"]["data"]
        ]
    }


def _schedule_turns(ctx: Ctx, sub: dict[str, Any]) -> bool:
    """Applies the schedule at this period end; False when it ended the subscription."""
    schedule = ctx.tx.get(sub["schedule"])
    if schedule is None or schedule["status"] != "active":
        return True
    upcoming = [p for p in schedule["phases"] if p["start_date"] <= ctx.now < p["end_date"]]
    if upcoming:
        phase = upcoming[0]
        current = {"start_date": phase["start_date"], "end_date": phase["end_date"]}
        if schedule["current_phase"] != current:
            previous = {"current_phase": schedule["current_phase"]}
            schedule["current_phase"] = current
            ctx.tx.put(schedule)
            ctx.emit("subscription_schedule.updated", schedule, previous)
        return True
    if ctx.now < schedule["phases"][-1]["end_date"]:
        return True  # before the first phase starts
    if schedule["end_behavior"] == "cancel":
        end_subscription(ctx, sub, "cancellation_requested")
        return False
    schedule.update(
        status="released", released_at=ctx.now, released_subscription=sub["id"], subscription=None, current_phase=None
    )
    ctx.tx.put(schedule)
    ctx.emit("subscription_schedule.released", schedule)
    sub["schedule"] = None
    ctx.tx.put(sub)
    return True
