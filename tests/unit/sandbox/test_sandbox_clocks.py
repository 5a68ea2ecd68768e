"""Billing periods as Stripe counts them: a month ends on the anchor's day, or the month's last."""

from __future__ import annotations

import datetime as dt

from webapp.sandbox.clocks import add_months, period_end


def _ts(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


def test_a_monthly_period_keeps_the_anchor_day_clamped_to_short_months():
    anchor = _ts(2027, 1, 31, 9)
    monthly = {"interval": "month", "interval_count": 1}
    assert [period_end(anchor, monthly, n) for n in (1, 2, 3)] == [
        _ts(2027, 2, 28, 9),
        _ts(2027, 3, 31, 9),
        _ts(2027, 4, 30, 9),
    ]
    assert add_months(_ts(2027, 11, 15), 3) == _ts(2028, 2, 15)


def test_other_intervals():
    anchor = _ts(2028, 2, 29)
    assert period_end(anchor, {"interval": "year", "interval_count": 1}, 1) == _ts(2029, 2, 28)
    assert period_end(anchor, {"interval": "week", "interval_count": 2}, 1) == _ts(2028, 3, 14)
    assert period_end(anchor, {"interval": "day", "interval_count": 1}, 3) == _ts(2028, 3, 3)
