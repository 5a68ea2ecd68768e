"""Coupons: creation, lookup by code and the rules that decide whether one applies."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Coupon, Course
from webapp.models.base import utcnow
from webapp.models.enums import DiscountType, PaymentSessionStatus
from webapp.services import audit
from webapp.services.errors import ServiceError, ValidationFailed
from webapp.services.money import is_supported
from webapp.services.pricing import CouponTerms, PriceBreakdown, PricingError, evaluate_coupon
from webapp.services.transactions import unit_of_work

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
    actor: str | None = None,
) -> Coupon:
    """Creates a coupon after validating every field; raises ValidationFailed naming the field.

    With an `actor` (an admin id, "cli"), the audit entry is written in the same transaction
    as the coupon: there is never a coupon without its "coupon.created" entry.

    PERCENTAGE values are percents (0 < v ≤ 100, up to 2 decimals); FIXED values are whole
    minor units of `currency`, which is required for them. Codes are unique ignoring case.
    """
    normalized = normalize_code(code)
    if normalized is None:
        raise ValidationFailed("Code must be 2–64 ASCII letters, digits, dashes or underscores.", field="code")
    kind = (discount_type or "").strip().upper()
    if kind not in {t.value for t in DiscountType}:
        raise ValidationFailed("Type must be 'percentage' or 'fixed'.", field="type")
    amount = _discount_value(value)
    if kind == DiscountType.PERCENTAGE:
        _check_percentage(amount, currency)
        currency = None
    else:
        currency = _checked_fixed(amount, currency)
    _check_limits(
        max_uses=max_uses,
        max_uses_per_user=max_uses_per_user,
        minimum_amount=minimum_amount,
        maximum_discount=maximum_discount,
    )
    _check_window(valid_from, valid_until)
    courses = _courses(course_ids or [])
    if db.session.scalar(sa.select(Coupon.id).where(Coupon.code == normalized)) is not None:
        raise ValidationFailed(f"A coupon with code {normalized!r} already exists.", field="code")
    duplicate = ValidationFailed(f"A coupon with code {normalized!r} already exists.", field="code")
    with unit_of_work(on_conflict=lambda _: duplicate):
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
        if actor is not None:
            db.session.flush()  # the coupon's id, and a duplicate code refused here
            audit.record("coupon.created", entity_type="coupon", entity_id=coupon.id, actor=actor, code=coupon.code)
    return coupon


def _discount_value(value: str | Decimal) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed(f"Value {value!r} is not a number.", field="value") from None
    if not amount.is_finite():
        raise ValidationFailed("Value must be a finite number.", field="value")
    return amount


def _check_percentage(amount: Decimal, currency: str | None) -> None:
    if amount <= 0 or amount > 100:
        raise ValidationFailed("A percentage must be above 0 and at most 100.", field="value")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationFailed("A percentage may have at most two decimals.", field="value")
    if currency:
        raise ValidationFailed("A percentage coupon takes no currency.", field="currency")


def _checked_fixed(amount: Decimal, currency: str | None) -> str:
    """A fixed discount's checks; returns its currency, normalised."""
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
    return currency


def _check_limits(
    *, max_uses: int | None, max_uses_per_user: int | None, minimum_amount: int | None, maximum_discount: int | None
) -> None:
    for field, number in (("max_uses", max_uses), ("max_uses_per_user", max_uses_per_user)):
        if number is not None and number < 1:
            raise ValidationFailed(f"{field.replace('_', ' ').capitalize()} must be at least 1.", field=field)
    for field, number in (("minimum_amount", minimum_amount), ("maximum_discount", maximum_discount)):
        if number is not None and number < 0:
            raise ValidationFailed(f"{field.replace('_', ' ').capitalize()} cannot be negative.", field=field)
    if maximum_discount == 0:
        raise ValidationFailed("Maximum discount must be above 0 (leave it out for no cap).", field="maximum_discount")


def _check_window(valid_from: datetime | None, valid_until: datetime | None) -> None:
    for field, moment in (("valid_from", valid_from), ("valid_until", valid_until)):
        if moment is not None and moment.tzinfo is None:
            raise ValidationFailed(f"{field} needs a timezone (e.g. 2026-12-31T23:59:59Z).", field=field)
    if valid_from and valid_until and valid_until <= valid_from:
        raise ValidationFailed("valid_until must be after valid_from.", field="valid_until")


def _courses(course_ids: list[str]) -> list[Course]:
    courses: list[Course] = []
    for course_id in course_ids:
        course = db.session.get(Course, course_id)
        if course is None:
            raise ValidationFailed(f"Unknown course id {course_id!r}.", field="courses")
        courses.append(course)
    return courses


class CouponRefused(ServiceError):
    """The code cannot be used for this checkout; `code` names the reason, the message says it."""

    status = 400


REFUSALS = {
    "unknown": "We don't recognise that coupon code.",
    "inactive": "That coupon is no longer active.",
    "not_yet_valid": "That coupon isn't valid yet.",
    "expired": "That coupon has expired.",
    "used_up": "That coupon has been fully redeemed.",
    "not_for_course": "That coupon doesn't apply to this course.",
    "per_user_limit": "You've already used that coupon the maximum number of times.",
}


def _refuse(reason: str, message: str | None = None) -> CouponRefused:
    return CouponRefused(message or REFUSALS[reason], code=reason, field="code")


def terms_of(coupon: Coupon) -> CouponTerms:
    return CouponTerms(
        discount_type=coupon.discount_type,
        value=Decimal(coupon.discount_value),
        currency=coupon.currency,
        maximum_discount=coupon.maximum_discount,
        minimum_amount=coupon.minimum_amount,
    )


def held_uses(coupon_id: str, *, now: datetime, exclude_session_id: str | None = None) -> int:
    """Uses held by open checkouts: unexpired PENDING sessions, and PROCESSING ones (paid by a
    method that settles later — they become a use, or release it when the payment fails)."""
    from webapp.models import PaymentSession

    query = sa.select(sa.func.count()).where(
        PaymentSession.coupon_id == coupon_id,
        sa.or_(
            sa.and_(PaymentSession.status == PaymentSessionStatus.PENDING, PaymentSession.expires_at > now),
            PaymentSession.status == PaymentSessionStatus.PROCESSING,
        ),
    )
    if exclude_session_id:
        query = query.where(PaymentSession.id != exclude_session_id)
    return db.session.scalar(query) or 0


def uses_by_user(coupon_id: str, user_id: str, *, now: datetime, exclude_session_id: str | None = None) -> int:
    """Completed uses plus open holds (PENDING unexpired, PROCESSING) of one learner."""
    from webapp.models import PaymentSession

    query = sa.select(sa.func.count()).where(
        PaymentSession.coupon_id == coupon_id,
        PaymentSession.user_id == user_id,
        sa.or_(
            PaymentSession.status.in_((PaymentSessionStatus.COMPLETED, PaymentSessionStatus.PROCESSING)),
            sa.and_(PaymentSession.status == PaymentSessionStatus.PENDING, PaymentSession.expires_at > now),
        ),
    )
    if exclude_session_id:
        query = query.where(PaymentSession.id != exclude_session_id)
    return db.session.scalar(query) or 0


def assess_coupon(
    raw_code: str | None,
    *,
    course: Course,
    user_id: str | None,
    now: datetime,
    for_update: bool = False,
    exclude_session_id: str | None = None,
) -> tuple[Coupon, PriceBreakdown]:
    """The coupon and the price it gives for this course and learner, or CouponRefused.

    Checks in the order a learner would want to hear them: existence, active, dates,
    course, per-course price rules (minimum amount, currency, Stripe's minimum charge),
    then availability (max uses counting open holds, per-learner limit). With
    `for_update` a capped coupon's row is locked (PostgreSQL) so concurrent checkouts see
    each other's holds; the caller must hold the learner's row lock for the per-learner
    limit.
    """
    coupon = find_coupon(raw_code)
    if coupon is None:
        raise _refuse("unknown")
    if for_update and coupon.max_uses is not None:
        # Only a global cap needs the coupon row locked (holds are counted under it); the
        # per-learner limit is already serialised by the caller's lock on the learner's row,
        # so unlimited coupons never queue checkouts behind one another.
        coupon = db.session.scalar(
            sa.select(Coupon).where(Coupon.id == coupon.id).with_for_update().execution_options(populate_existing=True)
        )
    if not coupon.is_active:
        raise _refuse("inactive")
    if coupon.valid_from and now < coupon.valid_from:
        raise _refuse("not_yet_valid", f"That coupon is valid from {coupon.valid_from:%d %b %Y %H:%M} UTC.")
    if coupon.valid_until and now > coupon.valid_until:
        raise _refuse("expired")
    applicable = coupon.applicable_course_ids
    if applicable and course.id not in applicable:
        raise _refuse("not_for_course")
    try:
        breakdown = evaluate_coupon(course.price, course.currency, terms_of(coupon))
    except PricingError as exc:
        raise CouponRefused(str(exc), code=exc.reason, field="code") from None
    if coupon.max_uses is not None:
        taken = coupon.current_uses + held_uses(coupon.id, now=now, exclude_session_id=exclude_session_id)
        if taken >= coupon.max_uses:
            raise _refuse("used_up")
    if coupon.max_uses_per_user is not None and user_id is not None:
        if uses_by_user(coupon.id, user_id, now=now, exclude_session_id=exclude_session_id) >= coupon.max_uses_per_user:
            raise _refuse("per_user_limit")
    return coupon, breakdown


def offered_coupons(*, include_all: bool) -> list[Coupon]:
    """Coupons on offer to learners — public, active, in date and not used up — or, for
    admins (`include_all`), every coupon."""
    query = sa.select(Coupon).order_by(Coupon.code)
    if not include_all:
        now = utcnow()
        query = query.where(
            Coupon.is_active.is_(True),
            Coupon.is_public.is_(True),
            sa.or_(Coupon.valid_from.is_(None), Coupon.valid_from <= now),
            sa.or_(Coupon.valid_until.is_(None), Coupon.valid_until >= now),
            sa.or_(Coupon.max_uses.is_(None), Coupon.current_uses < Coupon.max_uses),
        )
    return list(db.session.scalars(query))
