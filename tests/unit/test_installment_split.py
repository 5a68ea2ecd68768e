"""The split of a total into installments: exact in the minor unit, whatever the currency."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.services.money import MAXIMUM_AMOUNT, THREE_DECIMAL, ZERO_DECIMAL_CURRENCIES, exponent, minimum_charge
from webapp.services.pricing import InstallmentTooSmall, PricingError, split_installments

# One currency of each exponent Stripe knows (0, 2, 3), and the zero-decimal ones all.
CURRENCIES = sorted({"usd", "eur", "gbp", *ZERO_DECIMAL_CURRENCIES, *THREE_DECIMAL})


@given(
    currency=st.sampled_from(CURRENCIES),
    count=st.integers(min_value=2, max_value=12),
    total=st.integers(min_value=1, max_value=MAXIMUM_AMOUNT),
)
def test_the_installments_add_up_exactly_and_the_first_carries_the_remainder(currency, count, total):
    try:
        split = split_installments(total, count, currency)
    except InstallmentTooSmall:
        assert total // count < minimum_charge(currency)
        return
    assert sum(split.amounts) == total
    assert len(split.amounts) == count
    assert all(isinstance(a, int) for a in split.amounts)
    assert split.first - split.regular == total % count
    assert 0 <= split.remainder < count
    assert split.regular >= minimum_charge(currency)
    assert exponent(currency) in (0, 2, 3)


@pytest.mark.parametrize(
    ("total", "count", "currency", "amounts"),
    [
        (4999, 3, "usd", (1667, 1666, 1666)),
        (5000, 3, "usd", (1668, 1666, 1666)),
        (10000, 4, "usd", (2500, 2500, 2500, 2500)),
        (10001, 3, "jpy", (3335, 3333, 3333)),
        (30000, 12, "kwd", (2500,) * 12),
    ],
)
def test_known_splits(total, count, currency, amounts):
    assert split_installments(total, count, currency).amounts == amounts


def test_an_installment_below_stripes_minimum_is_refused_with_a_message():
    with pytest.raises(InstallmentTooSmall) as refused:
        split_installments(100, 3, "usd")
    assert isinstance(refused.value, PricingError)
    assert "below the smallest card payment" in str(refused.value) and "Pay in full" in str(refused.value)


@pytest.mark.parametrize("count", [1, 13, 0, -2, True, 2.0])
def test_a_count_outside_2_to_12_is_a_programming_error(count):
    with pytest.raises(ValueError):
        split_installments(4999, count, "usd")


def test_a_float_total_is_refused():
    with pytest.raises(TypeError):
        split_installments(49.99, 3, "usd")
