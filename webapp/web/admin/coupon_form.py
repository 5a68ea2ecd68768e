"""The admin's coupon forms read into the coupon service's types.

Syntax only (whole numbers, dates, amounts of money in the major unit, tick boxes); which
values a coupon may have is the service's rule (`coupon_admin.check_terms`). Every field
is read before anything is refused: ValidationFailed names the first bad field (`field`)
and lists them all in `details` ({"field", "message"}), so the page marks each at once.

Money is typed as money ("20.00") in the major unit of the coupon's currency — of a
percentage coupon, which has none, in the form's currency if one is given, else with two
decimals — and stored in minor units. More decimals than the currency has are refused,
never rounded; a zero-decimal currency takes whole numbers only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from webapp.models.enums import DiscountType
from webapp.services.coupon_admin import CouponTerms, NewCoupon
from webapp.services.errors import ValidationFailed
from webapp.services.money import exponent, is_supported, parse_major_amount

T = TypeVar("T")

#: Amounts of a coupon without a currency are read with two decimals, as most currencies have.
DEFAULT_AMOUNT_CURRENCY = "usd"


class _Errors:
    """The form's errors, field → message, first one first."""

    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def read(self, reader: Callable[[], T]) -> T | None:
        try:
            return reader()
        except ValidationFailed as exc:
            for detail in exc.details or [{"field": exc.field or "form", "message": exc.message}]:
                self.found.setdefault(detail["field"], detail["message"])
            return None

    def raise_any(self) -> None:
        if self.found:
            field, message = next(iter(self.found.items()))
            details = [{"field": f, "message": m} for f, m in self.found.items()]
            raise ValidationFailed(message, field=field, details=details)


def amount_currency(currency: str | None) -> str:
    """The currency whose major unit a coupon's amounts are typed in."""
    currency = (currency or "").strip().lower()
    return currency if currency and is_supported(currency) else DEFAULT_AMOUNT_CURRENCY


def errors_of(exc: ValidationFailed) -> dict[str, str]:
    """field → message of a refusal, for the page's per-field messages."""
    found = {d["field"]: d["message"] for d in exc.details or [] if d.get("field")}
    return found or ({exc.field: exc.message} if exc.field else {})


def new_coupon_from_form(form: Mapping[str, str], course_ids: list[str]) -> NewCoupon:
    """The create form: `value` is a percent, or for a fixed discount an amount in the major
    unit of `currency` ("5.00"); minimum amount and maximum discount are major-unit amounts too."""
    errors = _Errors()
    kind = _text(form, "discount_type").upper()
    currency = _text(form, "currency").lower() or None
    value = _text(form, "value")
    if not value:
        errors.found["value"] = "Enter the discount value."
    elif kind == DiscountType.FIXED:
        value = errors.read(lambda: _fixed_amount(value, currency))
    if kind == DiscountType.FIXED and not value and "currency" not in errors.found and not currency:
        errors.found["currency"] = "A fixed discount needs a currency."
    terms = errors.read(lambda: coupon_terms_from_form(form, course_ids, currency=amount_currency(currency)))
    errors.raise_any()
    return NewCoupon(
        code=_text(form, "code"),
        discount_type=kind,
        value=value,
        currency=currency if kind != DiscountType.PERCENTAGE else None,
        terms=terms,
    )


def coupon_terms_from_form(form: Mapping[str, str], course_ids: list[str], *, currency: str) -> CouponTerms:
    """The editable terms, from the create or the edit form; amounts in the major unit of
    `currency` (see `amount_currency`). An absent `is_active` means active."""
    errors = _Errors()
    description = _text(form, "description") or None
    if description and len(description) > 500:
        errors.found["description"] = "Keep the description under 500 characters."
    terms = CouponTerms(
        description=description,
        max_uses=errors.read(lambda: _whole(form, "max_uses", "Max uses")),
        max_uses_per_user=errors.read(lambda: _whole(form, "max_uses_per_user", "Max uses per learner")),
        valid_from=errors.read(lambda: _moment(form, "valid_from", "Valid from")),
        valid_until=errors.read(lambda: _moment(form, "valid_until", "Valid until")),
        minimum_amount=errors.read(lambda: _money(form, "minimum_amount", "Minimum price", currency)),
        maximum_discount=errors.read(lambda: _money(form, "maximum_discount", "Maximum discount", currency)),
        course_ids=tuple(c for c in (c.strip() for c in course_ids) if c),
        is_public=_flag(form, "is_public"),
        is_active=_flag(form, "is_active") if "is_active" in form else True,
    )
    errors.raise_any()
    return terms


def _fixed_amount(value: str, currency: str | None) -> str:
    """A major-unit amount ("5.00") as minor units of `currency` ("500")."""
    if not currency:
        raise ValidationFailed("A fixed discount needs a currency.", field="currency")
    if not is_supported(currency):
        raise ValidationFailed(f"Unknown or unsupported currency {currency.upper()!r}.", field="currency")
    return str(_major(value, currency, "value"))


def _major(raw: str, currency: str, field: str) -> int:
    if exponent(currency) == 0 and "." in raw:
        raise ValidationFailed(
            f"{currency.upper()} has no decimal places; type a whole amount such as 500.", field=field
        )
    try:
        return parse_major_amount(raw, currency)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field=field) from None


def _money(form: Mapping[str, str], name: str, label: str, currency: str) -> int | None:
    raw = _text(form, name)
    if not raw:
        return None
    try:
        return _major(raw, currency, name)
    except ValidationFailed as exc:
        raise ValidationFailed(f"{label}: {exc.message}", field=name) from None


def _text(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _whole(form: Mapping[str, str], name: str, label: str) -> int | None:
    raw = _text(form, name)
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise ValidationFailed(f"{label} must be a whole number.", field=name)
    return int(raw)


def _moment(form: Mapping[str, str], name: str, label: str) -> datetime | None:
    """A date (`2026-12-31`) or date-time (`2026-12-31T23:59`), read as UTC."""
    raw = _text(form, name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{label} must be a date such as 2026-12-31 or 2026-12-31T23:59.", field=name) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _flag(form: Mapping[str, str], name: str) -> bool:
    return _text(form, name).lower() in {"1", "on", "true", "yes"}
