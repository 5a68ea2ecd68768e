"""The sandbox's own money rules: Stripe's currency facts, kept apart from the app's."""

from __future__ import annotations

import pytest

from webapp.sandbox.money import decimals, format_amount, minimum_charge


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (4999, "usd", "$49.99"),
        (1001, "USD", "$10.01"),
        (2500, "eur", "€25.00"),
        (30, "gbp", "£0.30"),
        (5000, "jpy", "¥5,000"),
        (1500, "krw", "₩1,500"),
        (1234, "kwd", "KWD1.234"),
        (0, "usd", "$0.00"),
    ],
)
def test_amounts_are_shown_with_stripes_decimals(amount, currency, shown):
    assert format_amount(amount, currency) == shown


def test_nothing_to_show_without_an_amount_or_a_currency():
    assert format_amount(None, "usd") == ""
    assert format_amount(100, None) == ""


@pytest.mark.parametrize(("currency", "places"), [("usd", 2), ("jpy", 0), ("XOF", 0), ("bhd", 3), ("huf", 2)])
def test_decimals_follow_stripes_zero_and_three_decimal_lists(currency, places):
    assert decimals(currency) == places


@pytest.mark.parametrize(
    ("currency", "minimum"), [("usd", 50), ("gbp", 30), ("jpy", 50), ("HUF", 17500), ("mxn", 1000), ("zar", 50)]
)
def test_minimum_charge_is_stripes_table_with_usds_for_the_rest(currency, minimum):
    assert minimum_charge(currency) == minimum
