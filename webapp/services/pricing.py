"""What a course costs with a coupon: pure arithmetic, no database, no Flask.

Every amount is an int in the minor unit of the course currency (see services.money).
Percentages are applied in Decimal and rounded half-up to the minor unit, never through
binary floats, so a displayed price, the amount sent to Stripe and the amount checked at
fulfillment are the same number everywhere.

Coupon rules that need the database (active, validity window, uses, applicable courses,
per-user limit) live in the coupon service; it hands this module plain CouponTerms.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, Inexact, localcontext

from webapp.models.enums import PaymentPlan
from webapp.services.errors import ServiceError
from webapp.services.money import exponent, format_money, minimum_charge

PERCENTAGE = "PERCENTAGE"
FIXED = "FIXED"
_DISCOUNT_TYPES = frozenset({PERCENTAGE, FIXED})
_HUNDRED = Decimal(100)


class PricingError(ServiceError, ValueError):
    """A coupon cannot be applied to this price; `str(error)` is safe to show the learner.

    A ServiceError, so views and the API answer it like every other refusal (400, with
    `code` equal to `reason`), and a ValueError, as befits bad input to a calculation.
    `reason` is a short machine code for the API and templates; `params` holds the
    amounts behind the message (minor units, lower-case currency) so a view can word it
    in another locale.
    """

    reason: str = "pricing_error"

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message, code=self.reason)
        self.params: dict[str, object] = params


class CurrencyMismatch(PricingError):
    """A fixed-amount coupon in one currency was applied to a course priced in another."""

    reason = "other_currency"


class BelowMinimumAmount(PricingError):
    """The course price is below the coupon's `minimum_amount`."""

    reason = "below_minimum_amount"


class BelowMinimumCharge(PricingError):
    """The total is above 0 but below what Stripe will charge in that currency."""

    reason = "below_minimum_charge"


def _require_amount(name: str, value: int) -> int:
    # bool passes isinstance(int); a float here means the minor-unit conversion was skipped.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int in minor units, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


@dataclass(frozen=True)
class CouponTerms:
    """The pricing-relevant part of a coupon.

    `value` is a percent for PERCENTAGE (Decimal("12.5"), 0..100) and whole minor units of
    `currency` for FIXED (Decimal("500") or Decimal("500.0000") as the Numeric column
    returns it). `currency` is required for FIXED and ignored for PERCENTAGE.
    `maximum_discount` caps the discount and `minimum_amount` is the lowest course price
    the coupon accepts, both in minor units of the course currency.

    Construction raises ValueError for terms no coupon should have (unknown type,
    percent outside 0..100, fractional or negative fixed value, FIXED without currency,
    negative limits) and TypeError for a float value, so bad data fails where it is read,
    not mid-checkout.
    """

    discount_type: str
    value: Decimal
    currency: str | None = None
    maximum_discount: int | None = None
    minimum_amount: int | None = None

    def __post_init__(self) -> None:
        if self.discount_type not in _DISCOUNT_TYPES:
            raise ValueError(f"discount_type must be PERCENTAGE or FIXED, got {self.discount_type!r}")
        value = self.value
        if isinstance(value, int) and not isinstance(value, bool):
            value = Decimal(value)
            object.__setattr__(self, "value", value)
        if not isinstance(value, Decimal):
            raise TypeError(f"value must be a Decimal, got {type(value).__name__}")
        if not value.is_finite() or value < 0:
            raise ValueError(f"value must be a finite, non-negative number, got {value}")
        if self.discount_type == PERCENTAGE and value > _HUNDRED:
            raise ValueError(f"a percentage discount cannot exceed 100, got {value}")
        if self.discount_type == FIXED:
            if value != value.to_integral_value():
                raise ValueError(f"a fixed discount is whole minor units, got {value}")
            if not self.currency:
                raise ValueError("a fixed discount needs a currency")
            exponent(self.currency)  # raises ValueError for a malformed code
        for name in ("maximum_discount", "minimum_amount"):
            limit = getattr(self, name)
            if limit is not None:
                _require_amount(name, limit)


@dataclass(frozen=True)
class PriceBreakdown:
    """What the learner pays: `original` - `discount` = `total`, in minor units of `currency`.

    `currency` is the lower-case ISO code. Invariants: 0 <= discount <= original and
    total == original - discount.
    """

    original: int
    discount: int
    total: int
    currency: str

    @property
    def is_free(self) -> bool:
        """True when nothing is charged, so checkout enrolls without Stripe."""
        return self.total == 0


def _percentage_of(price: int, percent: Decimal) -> int:
    """price * percent / 100, rounded half-up to a whole minor unit, computed exactly."""
    with localcontext() as ctx:
        # Enough digits for the exact product (digits add under multiplication; dividing
        # by 100 only moves the exponent), and Inexact trapped so a precision mistake
        # raises instead of double-rounding a customer's price.
        ctx.prec = len(str(price)) + len(percent.as_tuple().digits) + 5
        ctx.traps[Inexact] = True
        exact = Decimal(price) * percent / _HUNDRED
        # Rounding to the minor unit is the one intended inexact step.
        ctx.traps[Inexact] = False
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _same_currency(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def discount_for(price: int, currency: str, terms: CouponTerms) -> int:
    """The discount, in minor units of `currency`, that `terms` give on `price`.

    PERCENTAGE: price * value / 100 in Decimal, rounded half-up to a whole minor unit
    (12.5 % of 4999 = 624.875 -> 625). FIXED: `value` itself, but only when the coupon's
    currency is the course currency (case-insensitive), otherwise CurrencyMismatch.
    Either way the result is capped by `maximum_discount` and by `price`, so
    0 <= discount <= price. Does not check `minimum_amount` or Stripe's minimum charge;
    evaluate_coupon does. Raises TypeError/ValueError for a non-int or negative price.
    """
    _require_amount("price", price)
    exponent(currency)  # a malformed course currency is a bug, not a pricing outcome
    if terms.discount_type == FIXED:
        # Never empty: CouponTerms requires a currency for FIXED.
        coupon_currency = terms.currency or ""
        if not _same_currency(coupon_currency, currency):
            raise CurrencyMismatch(
                f"This coupon is for {coupon_currency.upper()} purchases and cannot be used "
                f"on a course priced in {currency.upper()}.",
                coupon_currency=coupon_currency.lower(),
                currency=currency.lower(),
            )
        discount = int(terms.value)
    else:
        discount = _percentage_of(price, terms.value)
    if terms.maximum_discount is not None:
        discount = min(discount, terms.maximum_discount)
    return max(0, min(discount, price))


def price_breakdown(price: int, currency: str, terms: CouponTerms | None) -> PriceBreakdown:
    """Original, discount and total for `price` with `terms` (None: no coupon, no discount).

    Applies discount_for only; use evaluate_coupon to also enforce the coupon's minimum
    amount and Stripe's minimum charge. The currency is returned lower-case.
    """
    if terms is None:
        _require_amount("price", price)
        exponent(currency)
        discount = 0
    else:
        discount = discount_for(price, currency, terms)
    return PriceBreakdown(
        original=price,
        discount=discount,
        total=price - discount,
        currency=currency.lower(),
    )


def check_minimum_charge(total: int, currency: str) -> None:
    """Raises BelowMinimumCharge when 0 < total < Stripe's minimum charge for `currency`.

    A total of 0 passes: the learner is enrolled without a charge.
    """
    _require_amount("total", total)
    minimum = minimum_charge(currency)
    if 0 < total < minimum:
        raise BelowMinimumCharge(
            f"The total of {format_money(total, currency)} is below the smallest card payment "
            f"possible in {currency.upper()} ({format_money(minimum, currency)}).",
            total=total,
            minimum=minimum,
            currency=currency.lower(),
        )


def evaluate_coupon(price: int, currency: str, terms: CouponTerms) -> PriceBreakdown:
    """The price breakdown for `terms` on `price`, or the first rule it breaks.

    Checks in this order, raising the matching PricingError: the course price reaches
    the coupon's `minimum_amount` (BelowMinimumAmount), a fixed coupon is in the course
    currency (CurrencyMismatch), the discounted total is 0 or at least Stripe's minimum
    charge (BelowMinimumCharge).
    """
    _require_amount("price", price)
    if terms.minimum_amount is not None and price < terms.minimum_amount:
        raise BelowMinimumAmount(
            f"This coupon applies to courses priced at {format_money(terms.minimum_amount, currency)} or more.",
            minimum_amount=terms.minimum_amount,
            price=price,
            currency=currency.lower(),
        )
    breakdown = price_breakdown(price, currency, terms)
    check_minimum_charge(breakdown.total, currency)
    return breakdown


MIN_INSTALLMENTS = 2
MAX_INSTALLMENTS = 12


class InstallmentTooSmall(PricingError):
    """Split into installments, the total gives one below Stripe's minimum charge."""

    reason = "installment_below_minimum_charge"


@dataclass(frozen=True)
class InstallmentSplit:
    """`total` in `count` monthly installments: `first` (paid today, carrying the remainder),
    then `count - 1` of `regular`. `first + regular * (count - 1) == total`, exactly."""

    total: int
    count: int
    first: int
    regular: int
    currency: str

    @property
    def amounts(self) -> tuple[int, ...]:
        return (self.first, *([self.regular] * (self.count - 1)))

    @property
    def remainder(self) -> int:
        """What the first installment carries above the others (Stripe bills it as a one-time item)."""
        return self.first - self.regular


def split_installments(total: int, count: int, currency: str) -> InstallmentSplit:
    """Splits `total` (minor units) into `count` installments that add up to it exactly.

    Integer division in the minor unit, whatever the currency's exponent: every installment
    gets `total // count` and the first also carries the remainder (4999 in 3 → 1667, 1666,
    1666). Raises InstallmentTooSmall when an installment would be below Stripe's minimum
    charge for the currency, ValueError for a count outside 2–12 or a total of 0.
    """
    _require_amount("total", total)
    if isinstance(count, bool) or not isinstance(count, int) or not MIN_INSTALLMENTS <= count <= MAX_INSTALLMENTS:
        raise ValueError(f"count must be an int from {MIN_INSTALLMENTS} to {MAX_INSTALLMENTS}, got {count!r}")
    if total == 0:
        raise ValueError("a total of 0 is not paid in installments")
    regular, remainder = divmod(total, count)
    minimum = minimum_charge(currency)
    if regular < minimum:
        raise InstallmentTooSmall(
            f"{format_money(total, currency)} in {count} installments would charge "
            f"{format_money(regular, currency)} a month, below the smallest card payment possible in "
            f"{currency.upper()} ({format_money(minimum, currency)}). Pay in full instead.",
            total=total,
            count=count,
            minimum=minimum,
            currency=currency.lower(),
        )
    return InstallmentSplit(
        total=total, count=count, first=regular + remainder, regular=regular, currency=currency.lower()
    )


def split_if_possible(total: int, count: int, currency: str) -> InstallmentSplit | None:
    """`split_installments`, or None where an installment would be below Stripe's minimum (or nothing is owed)."""
    if total == 0:
        return None
    try:
        return split_installments(total, count, currency)
    except InstallmentTooSmall:
        return None


def session_split(session) -> InstallmentSplit | None:
    """The installments a payment session pays the first of (its `plan` is "installments"), else None.

    `session` is anything with the payment session's `plan`, `installment_count`,
    `final_amount` and `currency`.
    """
    if session.plan != PaymentPlan.INSTALLMENTS or not session.installment_count:
        return None
    return split_installments(session.final_amount, session.installment_count, session.currency)
