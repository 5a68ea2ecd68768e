"""Time in the sandbox: billing intervals, test clocks' time, and the sandbox's own "now".

Billing objects (subscriptions, schedules, invoices and their payments) of a customer
created with a `test_clock` live at that clock's `frozen_time`; those of other customers
live at the sandbox's own "now": real time plus an offset that `flask stripe-sandbox
advance --days N` moves forward (stored in the sandbox database, so every process sees
it). Everything else — Checkout Sessions and their `expires_at`, one-time payments,
refunds, idempotency keys — runs on real time, so the app's own clock still agrees with
them after an advance. Billing periods follow Stripe: a monthly period ends on the
anchor's day of the month, or the month's last day when it is shorter (Jan 31 → Feb 28 →
Mar 31).
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from webapp.sandbox.store import Tx

_OFFSET_ID = "sandboxclock_offset"
DAY = 24 * 3600
_FIXED = {"day": DAY, "week": 7 * DAY}


def clock_offset(tx: Tx) -> int:
    """Seconds the sandbox's own "now" runs ahead of real time."""
    stored = tx.get(_OFFSET_ID)
    return int(stored["offset"]) if stored else 0


def add_clock_offset(tx: Tx, seconds: int) -> int:
    """Moves the sandbox's own "now" forward; returns the new offset."""
    offset = clock_offset(tx) + seconds
    tx.put({"id": _OFFSET_ID, "object": "sandbox.clock_offset", "created": 1, "offset": offset})
    return offset


def reset_clock_offset(tx: Tx) -> None:
    tx.delete(_OFFSET_ID)


def add_months(anchor: int, months: int) -> int:
    """`anchor` + `months` calendar months, the day clamped to the month's length (UTC)."""
    start = dt.datetime.fromtimestamp(anchor, tz=dt.UTC)
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def period_end(anchor: int, recurring: dict[str, Any], periods: int) -> int:
    """The end of the `periods`-th billing period counted from `anchor`."""
    interval, count = recurring["interval"], int(recurring.get("interval_count") or 1)
    if interval == "month":
        return add_months(anchor, count * periods)
    if interval == "year":
        return add_months(anchor, 12 * count * periods)
    return anchor + _FIXED[interval] * count * periods


def clock_now(tx: Tx, clock_id: str | None, real_now: int) -> int:
    """The time billing objects on `clock_id` live at; without a clock, the sandbox's own
    "now" (`real_now` plus the offset)."""
    clock = tx.get(clock_id) if clock_id else None
    if clock is None:
        return real_now + clock_offset(tx)
    return int(clock["frozen_time"])
