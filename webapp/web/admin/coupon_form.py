"""The admin's coupon forms read into the coupon service's types.

Syntax only (whole numbers, dates, the major-unit amount of a fixed discount, tick
boxes); which values a coupon may have is the service's rule (`coupon_admin.check_terms`).
ValidationFailed names the field, so the page can mark it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from webapp.models.enums import DiscountType
from webapp.services.coupon_admin import CouponTerms, NewCoupon
from webapp.services.errors import ValidationFailed
from webapp.services.money import is_supported, parse_major_amount


def new_coupon_from_form(form: Mapping[str, str], course_ids: list[str]) -> NewCoupon:
    """The create form: `value` is a percent, or for a fixed discount an amount in the major
    unit of `currency` ("5.00"); minimum amount and maximum discount are minor units."""
    kind = _text(form, "discount_type").upper()
    currency = _text(form, "currency").lower() or None
    value = _text(form, "value")
    if not value:
        raise ValidationFailed("Enter the discount value.", field="value")
    if kind == DiscountType.FIXED:
        value = _fixed_amount(value, currency)
    elif kind == DiscountType.PERCENTAGE:
        currency = None
    return NewCoupon(
        code=_text(form, "code"),
        discount_type=kind,
        value=value,
        currency=currency,
        terms=coupon_terms_from_form(form, course_ids),
    )


def coupon_terms_from_form(form: Mapping[str, str], course_ids: list[str]) -> CouponTerms:
    """The editable terms, from the create or the edit form. An absent `is_active` means active."""
    description = _text(form, "description") or None
    if description and len(description) > 500:
        raise ValidationFailed("Keep the description under 500 characters.", field="description")
    return CouponTerms(
        description=description,
        max_uses=_whole(form, "max_uses", "Max uses"),
        max_uses_per_user=_whole(form, "max_uses_per_user", "Max uses per learner"),
        valid_from=_moment(form, "valid_from", "Valid from"),
        valid_until=_moment(form, "valid_until", "Valid until"),
        minimum_amount=_whole(form, "minimum_amount", "Minimum amount"),
        maximum_discount=_whole(form, "maximum_discount", "Maximum discount"),
        course_ids=tuple(c for c in (c.strip() for c in course_ids) if c),
        is_public=_flag(form, "is_public"),
        is_active=_flag(form, "is_active") if "is_active" in form else True,
    )


def _fixed_amount(value: str, currency: str | None) -> str:
    """A major-unit amount ("5.00") as minor units of `currency` ("500")."""
    if not currency:
        raise ValidationFailed("A fixed discount needs a currency.", field="currency")
    if not is_supported(currency):
        raise ValidationFailed(f"Unknown or unsupported currency {currency.upper()!r}.", field="currency")
    try:
        return str(parse_major_amount(value, currency))
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="value") from None


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
