"""Coupon arithmetic (services.pricing): table-driven cases and properties."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from webapp.models.enums import DiscountType
from webapp.services.errors import ServiceError
from webapp.services.money import MAXIMUM_AMOUNT, minimum_charge
from webapp.services.pricing import (
    BelowMinimumAmount,
    BelowMinimumCharge,
    CouponTerms,
    CurrencyMismatch,
    PriceBreakdown,
    PricingError,
    check_minimum_charge,
    discount_for,
    evaluate_coupon,
    price_breakdown,
)


def percent(value: str, *, cap: int | None = None, minimum: int | None = None) -> CouponTerms:
    return CouponTerms("PERCENTAGE", Decimal(value), maximum_discount=cap, minimum_amount=minimum)


def fixed(
    value: int | str,
    currency: str,
    *,
    cap: int | None = None,
    minimum: int | None = None,
) -> CouponTerms:
    return CouponTerms("FIXED", Decimal(value), currency, maximum_discount=cap, minimum_amount=minimum)


def half_up(x: Fraction) -> int:
    """Reference rounding for non-negative rationals, independent of Decimal."""
    return math.floor(x + Fraction(1, 2))


class TestDiscountFor:
    @pytest.mark.parametrize(
        ("price", "currency", "pct", "expected"),
        [
            (4999, "usd", "12.5", 625),  # 624.875
            (4999, "usd", "10", 500),  # 499.9
            (4999, "usd", "50", 2500),  # 2499.5: half goes up
            (1, "usd", "50", 1),  # 0.5 minor unit exactly
            (5, "usd", "10", 1),  # 0.5, where banker's rounding would give 0
            (4, "usd", "12.5", 1),  # 0.5
            (100, "usd", "0.5", 1),  # 0.5
            (1, "usd", "49.9999", 0),  # just under half
            (100, "usd", "33.33", 33),  # 33.33
            (150, "usd", "33.33", 50),  # 49.995
            (1500, "usd", "33.33", 500),  # 499.95
            (3, "usd", "33.33", 1),  # 0.9999
            (2500, "usd", "1.14", 29),  # 28.5 exactly; binary floats give 28.4999…
            (2500, "usd", "4.02", 101),  # 100.5 exactly; floats give 100.4999…
            (4999, "usd", "12.5000", 625),  # as the Numeric(12, 4) column returns it
            (4999, "usd", "0", 0),
            (4999, "usd", "100", 4999),
            (0, "usd", "50", 0),
            (5000, "jpy", "10", 500),  # ¥500 off ¥5,000
            (999, "jpy", "15", 150),  # 149.85
            (999, "JPY", "15", 150),
            (10000, "kwd", "12.5", 1250),  # 10.000 KWD -> 1.250 off
            (1005, "kwd", "33.33", 335),  # 334.9665
        ],
    )
    def test_percentage_rounds_half_up_to_the_minor_unit(
        self, price: int, currency: str, pct: str, expected: int
    ) -> None:
        assert discount_for(price, currency, percent(pct)) == expected

    @pytest.mark.parametrize(
        ("price", "pct", "cap", "expected"),
        [
            (10000, "50", 1000, 1000),  # capped
            (10000, "5", 1000, 500),  # under the cap
            (10000, "10", 1000, 1000),  # exactly the cap
            (10000, "100", 0, 0),  # a zero cap means no discount
            (4999, "12.5", 624, 624),  # cap applies after rounding
        ],
    )
    def test_percentage_is_capped_by_maximum_discount(self, price: int, pct: str, cap: int, expected: int) -> None:
        assert discount_for(price, "usd", percent(pct, cap=cap)) == expected

    @pytest.mark.parametrize(
        ("price", "course_currency", "value", "coupon_currency", "expected"),
        [
            (4999, "usd", 500, "usd", 500),
            (4999, "usd", 500, "USD", 500),
            (4999, "USD", "500.0000", "usd", 500),
            (4999, "usd", 4999, "usd", 4999),
            (4999, "usd", 10000, "usd", 4999),  # never above the price
            (5000, "jpy", 1000, "jpy", 1000),
            (0, "usd", 500, "usd", 0),
        ],
    )
    def test_fixed_applies_in_the_course_currency(
        self,
        price: int,
        course_currency: str,
        value: int | str,
        coupon_currency: str,
        expected: int,
    ) -> None:
        assert discount_for(price, course_currency, fixed(value, coupon_currency)) == expected

    def test_fixed_is_capped_by_maximum_discount_too(self) -> None:
        assert discount_for(4999, "usd", fixed(1000, "usd", cap=300)) == 300

    @pytest.mark.parametrize(
        ("course_currency", "coupon_currency"),
        [("eur", "usd"), ("jpy", "usd"), ("USD", "eur")],
    )
    def test_fixed_in_another_currency_is_refused(self, course_currency: str, coupon_currency: str) -> None:
        with pytest.raises(CurrencyMismatch) as info:
            discount_for(4999, course_currency, fixed(500, coupon_currency))
        assert info.value.reason == "other_currency"
        assert coupon_currency.upper() in str(info.value)
        assert course_currency.upper() in str(info.value)

    def test_percentage_ignores_a_coupon_currency(self) -> None:
        terms = CouponTerms("PERCENTAGE", Decimal(10), "usd")
        assert discount_for(5000, "jpy", terms) == 500

    @pytest.mark.parametrize(
        ("kind", "value", "expected"), [(DiscountType.PERCENTAGE, "10", 500), (DiscountType.FIXED, "300", 300)]
    )
    def test_accepts_the_models_discount_type(self, kind: DiscountType, value: str, expected: int) -> None:
        currency = "usd" if kind == DiscountType.FIXED else None
        assert discount_for(4999, "usd", CouponTerms(kind, Decimal(value), currency)) == expected

    @pytest.mark.parametrize("price", [-1, 49.99, True, Decimal(4999), "4999"])
    def test_refuses_a_price_that_is_not_a_non_negative_int(self, price: object) -> None:
        with pytest.raises((TypeError, ValueError)):
            discount_for(price, "usd", percent("10"))  # type: ignore[arg-type]


class TestMalformedCurrency:
    @pytest.mark.parametrize("currency", ["", "us", "usdx", "u$d"])
    def test_a_malformed_course_currency_is_a_bug_not_a_pricing_outcome(self, currency: str) -> None:
        for compute in (
            lambda: discount_for(4999, currency, percent("10")),
            lambda: price_breakdown(4999, currency, None),
        ):
            with pytest.raises(ValueError) as info:
                compute()
            assert not isinstance(info.value, PricingError)


class TestPriceBreakdown:
    @pytest.mark.parametrize(
        ("price", "currency", "terms", "expected"),
        [
            (4999, "usd", None, PriceBreakdown(4999, 0, 4999, "usd")),
            (4999, "USD", percent("12.5"), PriceBreakdown(4999, 625, 4374, "usd")),
            (4999, "usd", percent("100"), PriceBreakdown(4999, 4999, 0, "usd")),
            (4999, "usd", fixed(10000, "usd"), PriceBreakdown(4999, 4999, 0, "usd")),
            (5000, "jpy", percent("10"), PriceBreakdown(5000, 500, 4500, "jpy")),
            (0, "usd", None, PriceBreakdown(0, 0, 0, "usd")),
        ],
    )
    def test_total_is_price_minus_discount(
        self,
        price: int,
        currency: str,
        terms: CouponTerms | None,
        expected: PriceBreakdown,
    ) -> None:
        assert price_breakdown(price, currency, terms) == expected

    def test_free_when_nothing_is_charged(self) -> None:
        assert price_breakdown(4999, "usd", percent("100")).is_free
        assert not price_breakdown(4999, "usd", percent("99")).is_free


class TestCheckMinimumCharge:
    @pytest.mark.parametrize(
        ("total", "currency"),
        [
            (0, "usd"),
            (50, "usd"),
            (51, "usd"),
            (50, "eur"),
            (30, "gbp"),
            (50, "jpy"),
            (17500, "huf"),
            (50, "zar"),
        ],
    )
    def test_zero_or_at_least_the_minimum_passes(self, total: int, currency: str) -> None:
        check_minimum_charge(total, currency)

    @pytest.mark.parametrize(
        ("total", "currency", "shown"),
        [
            (49, "usd", "$0.50"),
            (1, "usd", "$0.50"),
            (49, "EUR", "€0.50"),
            (29, "gbp", "£0.30"),
            (49, "jpy", "¥50"),
            (17499, "huf", "HUF175.00"),
            (299, "sek", "SEK3.00"),
            (49, "zar", "ZAR0.50"),
        ],
    )
    def test_a_positive_total_below_the_minimum_is_refused(self, total: int, currency: str, shown: str) -> None:
        with pytest.raises(BelowMinimumCharge) as info:
            check_minimum_charge(total, currency)
        assert info.value.reason == "below_minimum_charge"
        assert shown in str(info.value)
        assert info.value.params == {"total": total, "minimum": minimum_charge(currency), "currency": currency.lower()}


class TestEvaluateCoupon:
    def test_returns_the_breakdown_when_every_rule_holds(self) -> None:
        assert evaluate_coupon(4999, "usd", percent("12.5", minimum=4999)) == PriceBreakdown(4999, 625, 4374, "usd")

    def test_a_hundred_percent_coupon_makes_it_free(self) -> None:
        assert evaluate_coupon(4999, "usd", percent("100")).total == 0

    def test_price_below_minimum_amount_is_refused(self) -> None:
        with pytest.raises(BelowMinimumAmount) as info:
            evaluate_coupon(1999, "usd", percent("10", minimum=2000))
        assert info.value.reason == "below_minimum_amount"
        assert "$20.00" in str(info.value)

    def test_fixed_in_another_currency_is_refused(self) -> None:
        with pytest.raises(CurrencyMismatch):
            evaluate_coupon(4999, "eur", fixed(500, "usd"))

    @pytest.mark.parametrize(
        ("price", "currency", "terms"),
        [
            (4999, "usd", fixed(4950, "usd")),  # 49 cents left
            (4999, "usd", percent("99.5")),  # 4974 off -> 25 cents left
            (5049, "jpy", fixed(5000, "jpy")),  # ¥49 left
            (3029, "gbp", fixed(3000, "gbp")),  # 29 pence left
        ],
    )
    def test_total_below_stripe_minimum_is_refused(self, price: int, currency: str, terms: CouponTerms) -> None:
        with pytest.raises(BelowMinimumCharge):
            evaluate_coupon(price, currency, terms)

    def test_total_exactly_the_minimum_is_charged(self) -> None:
        assert evaluate_coupon(4999, "usd", fixed(4949, "usd")).total == 50

    @pytest.mark.parametrize(
        ("terms", "error"),
        [
            # below minimum amount and in another currency: the minimum amount is named first
            (fixed(500, "eur", minimum=10000), BelowMinimumAmount),
            # another currency and (in that currency) below the minimum charge: currency first
            (fixed(4990, "eur"), CurrencyMismatch),
        ],
    )
    def test_checks_run_in_order(self, terms: CouponTerms, error: type[PricingError]) -> None:
        with pytest.raises(error):
            evaluate_coupon(4999, "usd", terms)

    def test_pricing_errors_are_service_errors_coded_by_reason(self) -> None:
        for cls in (CurrencyMismatch, BelowMinimumAmount, BelowMinimumCharge):
            assert issubclass(cls, PricingError)
            assert issubclass(cls, ServiceError)
            assert issubclass(cls, ValueError)
        error = BelowMinimumCharge("The total is too small.", total=49)
        assert (error.code, error.message, error.status) == ("below_minimum_charge", "The total is too small.", 400)
        assert {
            CurrencyMismatch.reason,
            BelowMinimumAmount.reason,
            BelowMinimumCharge.reason,
        } == {
            "other_currency",
            "below_minimum_amount",
            "below_minimum_charge",
        }


class TestCouponTerms:
    @pytest.mark.parametrize(
        "kwargs",
        [
            {"discount_type": "BOGUS", "value": Decimal(10)},
            {"discount_type": "percentage", "value": Decimal(10)},
            {"discount_type": "PERCENTAGE", "value": Decimal("100.01")},
            {"discount_type": "PERCENTAGE", "value": Decimal(-1)},
            {"discount_type": "PERCENTAGE", "value": Decimal("NaN")},
            {"discount_type": "PERCENTAGE", "value": Decimal("Infinity")},
            {"discount_type": "PERCENTAGE", "value": 12.5},
            {"discount_type": "FIXED", "value": Decimal("10.5"), "currency": "usd"},
            {"discount_type": "FIXED", "value": Decimal(500)},
            {"discount_type": "FIXED", "value": Decimal(500), "currency": "dollars"},
            {
                "discount_type": "PERCENTAGE",
                "value": Decimal(10),
                "maximum_discount": -1,
            },
            {
                "discount_type": "PERCENTAGE",
                "value": Decimal(10),
                "minimum_amount": 10.0,
            },
        ],
    )
    def test_refuses_terms_no_coupon_should_have(self, kwargs: dict[str, object]) -> None:
        with pytest.raises((ValueError, TypeError)):
            CouponTerms(**kwargs)  # type: ignore[arg-type]

    def test_an_int_value_becomes_a_decimal(self) -> None:
        assert CouponTerms("FIXED", 500, "usd").value == Decimal(500)  # type: ignore[arg-type]


# Properties. Percentages as the coupons column stores them (four places), plus finer ones
# to make sure no precision is lost on the way.
prices = st.integers(min_value=0, max_value=MAXIMUM_AMOUNT) | st.integers(min_value=0, max_value=10**15)
percentages = st.decimals(min_value=0, max_value=100, places=4) | st.decimals(min_value=0, max_value=100, places=12)
caps = st.none() | st.integers(min_value=0, max_value=MAXIMUM_AMOUNT)
currencies = st.sampled_from(["usd", "eur", "gbp", "jpy", "krw", "kwd", "bhd", "huf"])


@st.composite
def coupon_terms(draw: st.DrawFn, currency: str) -> CouponTerms:
    cap = draw(caps)
    if draw(st.booleans()):
        return CouponTerms("PERCENTAGE", draw(percentages), maximum_discount=cap)
    return CouponTerms("FIXED", Decimal(draw(st.integers(0, 10**12))), currency, maximum_discount=cap)


class TestPricingProperties:
    @given(prices, currencies, st.data())
    def test_discount_is_between_zero_and_the_price(self, price: int, currency: str, data: st.DataObject) -> None:
        terms = data.draw(coupon_terms(currency))
        assert 0 <= discount_for(price, currency, terms) <= price

    @given(prices, currencies, st.data())
    def test_total_plus_discount_is_the_price(self, price: int, currency: str, data: st.DataObject) -> None:
        breakdown = price_breakdown(price, currency, data.draw(coupon_terms(currency)))
        assert breakdown.total + breakdown.discount == breakdown.original == price
        assert breakdown.total >= 0

    @given(prices, percentages)
    def test_percentage_is_the_exact_rational_rounded_half_up(self, price: int, pct: Decimal) -> None:
        expected = half_up(Fraction(price) * Fraction(pct) / 100)
        assert discount_for(price, "usd", CouponTerms("PERCENTAGE", pct)) == expected

    @given(prices, percentages, percentages)
    def test_percentage_is_monotone_in_the_percentage(self, price: int, a: Decimal, b: Decimal) -> None:
        low, high = sorted((a, b))
        assert discount_for(price, "usd", CouponTerms("PERCENTAGE", low)) <= discount_for(
            price, "usd", CouponTerms("PERCENTAGE", high)
        )

    @given(prices, prices, percentages)
    def test_percentage_is_monotone_in_the_price(self, a: int, b: int, pct: Decimal) -> None:
        low, high = sorted((a, b))
        terms = CouponTerms("PERCENTAGE", pct)
        assert discount_for(low, "usd", terms) <= discount_for(high, "usd", terms)

    @given(prices, currencies, st.data())
    def test_cap_is_respected(self, price: int, currency: str, data: st.DataObject) -> None:
        terms = data.draw(coupon_terms(currency))
        assume(terms.maximum_discount is not None)
        assert terms.maximum_discount is not None
        assert discount_for(price, currency, terms) <= terms.maximum_discount

    @given(prices, percentages, st.integers(min_value=0, max_value=MAXIMUM_AMOUNT))
    def test_cap_only_lowers_the_uncapped_discount(self, price: int, pct: Decimal, cap: int) -> None:
        uncapped = discount_for(price, "usd", CouponTerms("PERCENTAGE", pct))
        capped = discount_for(price, "usd", CouponTerms("PERCENTAGE", pct, maximum_discount=cap))
        assert capped == min(uncapped, cap)

    @given(prices, currencies, st.data())
    def test_evaluate_coupon_never_returns_an_uncharged_small_total(
        self, price: int, currency: str, data: st.DataObject
    ) -> None:
        try:
            breakdown = evaluate_coupon(price, currency, data.draw(coupon_terms(currency)))
        except BelowMinimumCharge:
            return
        assert breakdown.total == 0 or breakdown.total >= minimum_charge(currency)
