"""Coupons: creation, lookup by code and the rules that decide whether one applies."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Coupon, Course
from webapp.models.enums import DiscountType
from webapp.services.errors import ValidationFailed
from webapp.services.money import is_supported

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,63}$")


def normalize_code(raw: str | None) -> str | None:
    """The canonical form of a typed code, or None when it cannot be a code.

    Surrounding whitespace is ignored and ASCII letters are upper-cased. Anything non-ASCII
    is refused outright: Unicode case mapping would let look-alikes match (Turkish `ı`
    upper-cases to `I`, fullwidth `Ｓ` is not `S`), so they never reach the lookup.
    """
    if raw is None:
        return None
    code = raw.strip()
    if not code or not code.isascii():
        return None
    code = code.upper()
    return code if CODE_RE.match(code) else None


def find_coupon(raw_code: str | None, *, for_update: bool = False) -> Coupon | None:
    code = normalize_code(raw_code)
    if code is None:
        return None
    query = sa.select(Coupon).where(Coupon.code == code)
    if for_update:
        query = query.with_for_update()
    return db.session.scalar(query)


def create_coupon(
    *,
    code: str,
    discount_type: str,
    value: str | Decimal,
    currency: str | None = None,
    max_uses: int | None = None,
    max_uses_per_user: int | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    minimum_amount: int | None = None,
    maximum_discount: int | None = None,
    course_ids: list[str] | None = None,
    is_active: bool = True,
    is_public: bool = False,
    description: str | None = None,
) -> Coupon:
    """Creates a coupon after validating every field; raises ValidationFailed naming the field.

    PERCENTAGE values are percents (0 < v ≤ 100, up to 2 decimals); FIXED values are whole
    minor units of `currency`, which is required for them. Codes are unique ignoring case.
    """
    normalized = normalize_code(code)
    if normalized is None:
        raise ValidationFailed(
            "Code must be 2–64 ASCII letters, digits, dashes or underscores.", field="code"
        )
    kind = (discount_type or "").strip().upper()
    if kind not in {t.value for t in DiscountType}:
        raise ValidationFailed("Type must be 'percentage' or 'fixed'.", field="type")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed(f"Value {value!r} is not a number.", field="value") from None
    if not amount.is_finite():
        raise ValidationFailed("Value must be a finite number.", field="value")
    if kind == DiscountType.PERCENTAGE:
        if amount <= 0 or amount > 100:
            raise ValidationFailed("A percentage must be above 0 and at most 100.", field="value")
        if amount != amount.quantize(Decimal("0.01")):
            raise ValidationFailed("A percentage may have at most two decimals.", field="value")
        if currency:
            raise ValidationFailed("A percentage coupon takes no currency.", field="currency")
        currency = None
    else:
        if amount <= 0:
            raise ValidationFailed("A fixed discount must be a positive number of minor units.", field="value")
        if amount != amount.to_integral_value():
            raise ValidationFailed("A fixed discount is a whole number of minor units (e.g. 500 for $5.00).", field="value")
        if amount > 99_999_999:
            raise ValidationFailed("A fixed discount is larger than any price.", field="value")
        if not currency:
            raise ValidationFailed("A fixed discount needs --currency (the discount's currency).", field="currency")
        currency = currency.strip().lower()
        if not is_supported(currency):
            raise ValidationFailed(f"Unknown or unsupported currency {currency.upper()!r}.", field="currency")
    for field, number in (
        ("max_uses", max_uses),
        ("max_uses_per_user", max_uses_per_user),
    ):
        if number is not None and number < 1:
            raise ValidationFailed(f"{field.replace('_', ' ').capitalize()} must be at least 1.", field=field)
    for field, number in (("minimum_amount", minimum_amount), ("maximum_discount", maximum_discount)):
        if number is not None and number < 0:
            raise ValidationFailed(f"{field.replace('_', ' ').capitalize()} cannot be negative.", field=field)
    if maximum_discount == 0:
        raise ValidationFailed("Maximum discount must be above 0 (leave it out for no cap).", field="maximum_discount")
    for field, moment in (("valid_from", valid_from), ("valid_until", valid_until)):
        if moment is not None and moment.tzinfo is None:
            raise ValidationFailed(f"{field} needs a timezone (e.g. 2026-12-31T23:59:59Z).", field=field)
    if valid_from and valid_until and valid_until <= valid_from:
        raise ValidationFailed("valid_until must be after valid_from.", field="valid_until")
    courses: list[Course] = []
    for course_id in course_ids or []:
        course = db.session.get(Course, course_id)
        if course is None:
            raise ValidationFailed(f"Unknown course id {course_id!r}.", field="courses")
        courses.append(course)
    if db.session.scalar(sa.select(Coupon.id).where(Coupon.code == normalized)) is not None:
        raise ValidationFailed(f"A coupon with code {normalized!r} already exists.", field="code")
    coupon = Coupon(
        code=normalized,
        discount_type=kind,
        discount_value=amount,
        currency=currency,
        max_uses=max_uses,
        max_uses_per_user=max_uses_per_user,
        valid_from=valid_from,
        valid_until=valid_until,
        minimum_amount=minimum_amount,
        maximum_discount=maximum_discount,
        is_active=is_active,
        is_public=is_public,
        description=description,
        current_uses=0,
    )
    coupon.applicable_courses = courses
    db.session.add(coupon)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ValidationFailed(f"A coupon with code {normalized!r} already exists.", field="code") from None
    return coupon
