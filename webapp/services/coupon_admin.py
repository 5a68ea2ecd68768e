"""Coupons as admins manage them: create from a form, edit, deactivate — all audit-logged.

Creation goes through `services.coupons.create_coupon` (the one set of creation rules);
this module only reads what an admin typed. Code, type, value and currency are fixed once
a coupon exists (checkouts already priced with them); everything else may change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from webapp.extensions import db
from webapp.models import Coupon, Course
from webapp.models.enums import DiscountType
from webapp.services import audit
from webapp.services.coupons import create_coupon
from webapp.services.errors import NotFound, ValidationFailed
from webapp.services.money import is_supported, parse_major_amount


@dataclass(frozen=True)
class CouponLimits:
    """The editable terms of a coupon, parsed from a form."""

    description: str | None
    max_uses: int | None
    max_uses_per_user: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    minimum_amount: int | None
    maximum_discount: int | None
    course_ids: list[str]
    is_public: bool
    is_active: bool


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


def _limits(form: Mapping[str, str], course_ids: list[str]) -> CouponLimits:
    description = _text(form, "description") or None
    if description and len(description) > 500:
        raise ValidationFailed("Keep the description under 500 characters.", field="description")
    limits = CouponLimits(
        description=description,
        max_uses=_whole(form, "max_uses", "Max uses"),
        max_uses_per_user=_whole(form, "max_uses_per_user", "Max uses per learner"),
        valid_from=_moment(form, "valid_from", "Valid from"),
        valid_until=_moment(form, "valid_until", "Valid until"),
        minimum_amount=_whole(form, "minimum_amount", "Minimum amount"),
        maximum_discount=_whole(form, "maximum_discount", "Maximum discount"),
        course_ids=[c for c in (c.strip() for c in course_ids) if c],
        is_public=_flag(form, "is_public"),
        is_active=_flag(form, "is_active") if "is_active" in form else True,
    )
    for field, number in (("max_uses", limits.max_uses), ("max_uses_per_user", limits.max_uses_per_user)):
        if number is not None and number < 1:
            raise ValidationFailed(f"{field.replace('_', ' ').capitalize()} must be at least 1.", field=field)
    if limits.maximum_discount == 0:
        raise ValidationFailed(
            "Maximum discount must be above 0 (leave it empty for no cap).", field="maximum_discount"
        )
    if limits.valid_from and limits.valid_until and limits.valid_until <= limits.valid_from:
        raise ValidationFailed("Valid until must be after valid from.", field="valid_until")
    return limits


def create_coupon_from_form(form: Mapping[str, str], course_ids: list[str], *, admin_id: str) -> Coupon:
    """Creates a coupon from an admin's form and audit-logs it; ValidationFailed names the field.

    `value` is a percent for percentage coupons and an amount in the major unit of
    `currency` for fixed ones ("5.00"); minimum amount and maximum discount are minor units.
    """
    kind = _text(form, "discount_type").upper()
    currency = _text(form, "currency").lower() or None
    value = _text(form, "value")
    if not value:
        raise ValidationFailed("Enter the discount value.", field="value")
    if kind == DiscountType.FIXED:
        if not currency:
            raise ValidationFailed("A fixed discount needs a currency.", field="currency")
        if not is_supported(currency):
            raise ValidationFailed(f"Unknown or unsupported currency {currency.upper()!r}.", field="currency")
        try:
            value = str(parse_major_amount(value, currency))
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="value") from None
    elif kind == DiscountType.PERCENTAGE:
        currency = None
    limits = _limits(form, course_ids)
    coupon = create_coupon(
        code=_text(form, "code"),
        discount_type=kind,
        value=value,
        currency=currency,
        max_uses=limits.max_uses,
        max_uses_per_user=limits.max_uses_per_user,
        valid_from=limits.valid_from,
        valid_until=limits.valid_until,
        minimum_amount=limits.minimum_amount,
        maximum_discount=limits.maximum_discount,
        course_ids=limits.course_ids,
        is_active=limits.is_active,
        is_public=limits.is_public,
        description=limits.description,
        actor=admin_id,
    )
    return coupon


def _get(coupon_id: str) -> Coupon:
    coupon = db.session.get(Coupon, coupon_id, with_for_update=True)
    if coupon is None:
        db.session.rollback()
        raise NotFound("That coupon does not exist.")
    return coupon


def update_coupon(coupon_id: str, form: Mapping[str, str], course_ids: list[str], *, admin_id: str) -> Coupon:
    """Changes a coupon's editable terms (not code, type, value or currency) and audit-logs the change.

    Max uses cannot go below the uses already made. Raises NotFound / ValidationFailed.
    """
    try:
        limits = _limits(form, course_ids)
    except ValidationFailed:
        db.session.rollback()
        raise
    coupon = _get(coupon_id)
    if limits.max_uses is not None and limits.max_uses < coupon.current_uses:
        db.session.rollback()
        raise ValidationFailed(
            f"Max uses cannot be below the {coupon.current_uses} uses already made.", field="max_uses"
        )
    courses = []
    for course_id in limits.course_ids:
        course = db.session.get(Course, course_id)
        if course is None:
            db.session.rollback()
            raise ValidationFailed(f"Unknown course id {course_id!r}.", field="courses")
        courses.append(course)
    changes: dict[str, object] = {}
    for name in (
        "description",
        "max_uses",
        "max_uses_per_user",
        "valid_from",
        "valid_until",
        "minimum_amount",
        "maximum_discount",
        "is_public",
        "is_active",
    ):
        new = getattr(limits, name)
        if getattr(coupon, name) != new:
            changes[name] = new.isoformat() if isinstance(new, datetime) else new
            setattr(coupon, name, new)
    if sorted(c.id for c in courses) != sorted(coupon.applicable_course_ids):
        changes["course_ids"] = [c.id for c in courses]
        coupon.applicable_courses = courses
    if changes:
        audit.record(
            "coupon.updated",
            entity_type="coupon",
            entity_id=coupon.id,
            actor=admin_id,
            code=coupon.code,
            changes=changes,
        )
    db.session.commit()
    return coupon


def deactivate_coupon(coupon_id: str, *, admin_id: str) -> Coupon:
    """Stops a coupon applying to new checkouts (open checkouts keep their price). Idempotent."""
    coupon = _get(coupon_id)
    if coupon.is_active:
        coupon.is_active = False
        audit.record("coupon.deactivated", entity_type="coupon", entity_id=coupon.id, actor=admin_id, code=coupon.code)
    db.session.commit()
    return coupon
