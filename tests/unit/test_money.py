"""Currency facts, formatting and parsing of typed amounts (services.money)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.services.money import (
    MAXIMUM_AMOUNT,
    MINIMUM_CHARGE,
    SUPPORTED_CURRENCIES,
    THREE_DECIMAL,
    ZERO_DECIMAL_CURRENCIES,
    exponent,
    format_money,
    is_supported,
    minimum_charge,
    parse_major_amount,
    to_major,
)


class TestCurrencyFacts:
    @pytest.mark.parametrize(
        ("currency", "expected"),
        [
            ("usd", 2),
            ("USD", 2),
            ("eur", 2),
            ("jpy", 0),
            ("JPY", 0),
            ("krw", 0),
            ("vnd", 0),
            ("kwd", 3),
            ("bhd", 3),
            ("tnd", 3),
            # Stripe counts two decimals even where CLDR says none.
            ("huf", 2),
            ("isk", 2),
        ],
    )
    def test_exponent_follows_stripe(self, currency: str, expected: int) -> None:
        assert exponent(currency) == expected

    @pytest.mark.parametrize("bad", ["", "us", "usdd", "12a", "€€€", None, 840])
    def test_exponent_refuses_malformed_codes(self, bad: object) -> None:
        with pytest.raises(ValueError, match="currency code"):
            exponent(bad)  # type: ignore[arg-type]

    def test_decimal_lists_are_supported_and_disjoint(self) -> None:
        assert ZERO_DECIMAL_CURRENCIES <= SUPPORTED_CURRENCIES
        assert THREE_DECIMAL <= SUPPORTED_CURRENCIES
        assert not ZERO_DECIMAL_CURRENCIES & THREE_DECIMAL
        assert set(MINIMUM_CHARGE) <= SUPPORTED_CURRENCIES

    @pytest.mark.parametrize(
        "currency",
        [
            "usd",
            "EUR",
            "gbp",
            "Jpy",
            "cad",
            "aud",
            "chf",
            "sek",
            "nok",
            "dkk",
            "pln",
            "czk",
        ]
        + ["inr", "brl", "mxn", "sgd", "hkd", "nzd", "krw", "zar", "kwd", "huf"],
    )
    def test_common_currencies_are_supported_in_any_case(self, currency: str) -> None:
        assert is_supported(currency)

    @pytest.mark.parametrize("currency", ["xxx", "btc", "", "us", "usdd", None, 840])
    def test_unknown_currencies_are_not_supported(self, currency: object) -> None:
        assert not is_supported(currency)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("currency", "expected"),
        [
            ("usd", 50),
            ("EUR", 50),
            ("gbp", 30),
            ("jpy", 50),
            ("cad", 50),
            ("aud", 50),
            ("chf", 50),
            ("sek", 300),
            ("nok", 300),
            ("dkk", 250),
            ("pln", 200),
            ("czk", 1500),
            ("huf", 17500),
            ("hkd", 400),
            ("inr", 50),
            ("mxn", 1000),
            ("sgd", 50),
            ("nzd", 50),
            ("brl", 50),
            ("aed", 200),
            ("myr", 200),
            ("ron", 200),
            ("bgn", 100),
            ("thb", 1000),
            ("kwd", 50),  # not in Stripe's table: the default
            ("zar", 50),
        ],
    )
    def test_minimum_charge_per_currency(self, currency: str, expected: int) -> None:
        assert minimum_charge(currency) == expected


class TestToMajor:
    @pytest.mark.parametrize(
        ("amount", "currency", "expected"),
        [
            (4999, "usd", "49.99"),
            (0, "usd", "0.00"),
            (1, "usd", "0.01"),
            (5000, "jpy", "5000"),
            (1234, "kwd", "1.234"),
            (-250, "eur", "-2.50"),
        ],
    )
    def test_shifts_by_the_currency_exponent(self, amount: int, currency: str, expected: str) -> None:
        result = to_major(amount, currency)
        assert result == Decimal(expected)
        # The currency's decimals are kept, not normalised away.
        assert str(result) == expected

    def test_is_exact_beyond_decimal_context_precision(self) -> None:
        huge = 10**40 + 1
        assert Fraction(to_major(huge, "usd")) * 100 == huge

    @pytest.mark.parametrize("bad", [49.99, True, "4999", Decimal(4999)])
    def test_refuses_anything_but_int(self, bad: object) -> None:
        with pytest.raises(TypeError):
            to_major(bad, "usd")  # type: ignore[arg-type]


class TestFormatMoney:
    @pytest.mark.parametrize(
        ("amount", "currency", "locale", "expected"),
        [
            (4999, "usd", "en_US", "$49.99"),
            (4999, "USD", "en_US", "$49.99"),
            (2500, "eur", "en_US", "€25.00"),
            (5000, "jpy", "en_US", "¥5,000"),
            (0, "usd", "en_US", "$0.00"),
            (123456789, "usd", "en_US", "$1,234,567.89"),
            (3000, "gbp", "en_GB", "£30.00"),
            (2500, "eur", "de_DE", "25,00\xa0€"),
            (2500, "eur", "de-DE", "25,00\xa0€"),
            (1234, "kwd", "en_US", "KWD1.234"),
            (-500, "usd", "en_US", "-$5.00"),
        ],
    )
    def test_formats_with_babel(self, amount: int, currency: str, locale: str, expected: str) -> None:
        assert format_money(amount, currency, locale) == expected

    def test_default_locale_is_en_us(self) -> None:
        assert format_money(4999, "usd") == "$49.99"

    @pytest.mark.parametrize(("amount", "expected"), [(17550, "HUF175.50"), (105, "ISK1.05")])
    def test_shows_stripe_decimals_where_cldr_has_none(self, amount: int, expected: str) -> None:
        # CLDR alone would round 175.50 HUF to "HUF176": a different amount from the charge.
        assert format_money(amount, expected[:3].lower()) == expected

    def test_refuses_float_amounts(self) -> None:
        with pytest.raises(TypeError):
            format_money(49.99, "usd")  # type: ignore[arg-type]


class TestParseMajorAmount:
    @pytest.mark.parametrize(
        ("text", "currency", "expected"),
        [
            ("10", "usd", 1000),
            ("10.00", "usd", 1000),
            ("10.5", "usd", 1050),
            (" 10.5 ", "usd", 1050),
            ("\t10.50\n", "usd", 1050),
            ("1,234.50", "usd", 123450),
            ("12,345", "usd", 1234500),
            ("0.01", "usd", 1),
            (".5", "usd", 50),
            ("10.", "usd", 1000),
            ("0", "usd", 0),
            ("10.000", "usd", 1000),  # trailing zeros change nothing
            ("5000", "jpy", 5000),
            ("5,000", "JPY", 5000),
            ("10.0", "jpy", 10),
            ("1.234", "kwd", 1234),
            ("999,999.99", "usd", MAXIMUM_AMOUNT),
            ("99999999", "jpy", MAXIMUM_AMOUNT),
        ],
    )
    def test_reads_what_an_admin_types(self, text: str, currency: str, expected: int) -> None:
        assert parse_major_amount(text, currency) == expected

    @pytest.mark.parametrize(
        ("text", "currency", "message"),
        [
            ("", "usd", "Enter an amount"),
            ("   ", "usd", "Enter an amount"),
            ("-1", "usd", "negative"),
            ("-0.50", "usd", "negative"),
            ("\u22125", "usd", "negative"),
            ("abc", "usd", "not an amount"),
            ("10 USD", "usd", "not an amount"),
            ("$10", "usd", "not an amount"),
            ("1e3", "usd", "not an amount"),
            ("1,23", "usd", "not an amount"),
            ("1.234,50", "usd", "not an amount"),
            ("10..5", "usd", "not an amount"),
            ("+10", "usd", "not an amount"),
            ("\u0661\u0660", "usd", "not an amount"),  # Arabic-Indic digits
            ("NaN", "usd", "not a finite amount"),
            ("nan", "usd", "not a finite amount"),
            ("sNaN", "usd", "not a finite amount"),
            ("Infinity", "usd", "not a finite amount"),
            ("inf", "usd", "not a finite amount"),
            ("+inf", "usd", "not a finite amount"),
            ("10.001", "usd", "at most 2 decimal places"),
            ("0.005", "eur", "at most 2 decimal places"),
            ("10.5", "jpy", "no decimal places"),
            ("1.2345", "kwd", "at most 3 decimal places"),
            ("1,000,000", "usd", "too large"),
            ("100000000", "jpy", "too large"),
            ("9" * 60, "usd", "too large"),
        ],
    )
    def test_refuses_with_a_clear_message(self, text: str, currency: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            parse_major_amount(text, currency)

    @given(
        st.integers(min_value=0, max_value=MAXIMUM_AMOUNT),
        st.sampled_from(["usd", "jpy", "kwd", "eur"]),
    )
    def test_round_trips_with_to_major(self, amount: int, currency: str) -> None:
        assert parse_major_amount(str(to_major(amount, currency)), currency) == amount

    @given(
        st.integers(min_value=0, max_value=MAXIMUM_AMOUNT),
        st.sampled_from(["usd", "jpy", "kwd", "eur"]),
    )
    def test_round_trips_with_format_money_in_en_us(self, amount: int, currency: str) -> None:
        shown = format_money(amount, currency)
        typed = shown.lstrip("$€¥").removeprefix("KWD")
        assert parse_major_amount(typed, currency) == amount
