"""Coupons as admins manage them: create, edit, deactivate — all audit-logged.

Creation goes through `services.coupons.create_coupon` (the one set of creation rules).
Code, type, value and currency are fixed once a coupon exists (checkouts already priced
with them); the other terms (`CouponTerms`) may change. Reading an admin's form into
these types is the admin pages' job (webapp.web.admin.coupon_form).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from webapp.extensions import db
from webapp.models import Coupon, Course
from webapp.services import audit, coupons
from webapp.services.errors import NotFound, ValidationFailed
from webapp.services.transactions import unit_of_work

DESCRIPTION_MAX = 500


@dataclass(frozen=True)
class CouponTerms:
    """The editable terms of a coupon. Amounts are minor units; moments are UTC."""

    description: str | None = None
    max_uses: int | None = None
    max_uses_per_user: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    minimum_amount: int | None = None
    maximum_discount: int | None = None
    course_ids: tuple[str, ...] = ()
    is_public: bool = False
    is_active: bool = True


@dataclass(frozen=True)
class NewCoupon:
    """A coupon to create: `value` is a percent for PERCENTAGE, minor units of `currency` for FIXED."""

    code: str
    discount_type: str
    value: str
    currency: str | None
    terms: CouponTerms


# Terms copied onto the coupon as they are (the course list is compared by id instead).
_PLAIN_TERMS = tuple(f.name for f in fields(CouponTerms) if f.name != "course_ids")


def check_terms(terms: CouponTerms) -> None:
    """ValidationFailed naming the first field whose value no coupon may have."""
    if terms.description and len(terms.description) > DESCRIPTION_MAX:
        raise ValidationFailed(f"Keep the description under {DESCRIPTION_MAX} characters.", field="description")
    for field, number in (("max_uses", terms.max_uses), ("max_uses_per_user", terms.max_uses_per_user)):
        if number is not None and number < 1:
            raise ValidationFailed(f"{field.replace('_', ' ').capitalize()} must be at least 1.", field=field)
    if terms.maximum_discount == 0:
        raise ValidationFailed(
            "Maximum discount must be above 0 (leave it empty for no cap).", field="maximum_discount"
        )
    if terms.valid_from and terms.valid_until and terms.valid_until <= terms.valid_from:
        raise ValidationFailed("Valid until must be after valid from.", field="valid_until")


def create_coupon(new: NewCoupon, *, admin_id: str) -> Coupon:
    """Creates a coupon and its "coupon.created" audit entry; ValidationFailed names the field."""
    check_terms(new.terms)
    terms = new.terms
    return coupons.create_coupon(
        code=new.code,
        discount_type=new.discount_type,
        value=new.value,
        currency=new.currency,
        max_uses=terms.max_uses,
        max_uses_per_user=terms.max_uses_per_user,
        valid_from=terms.valid_from,
        valid_until=terms.valid_until,
        minimum_amount=terms.minimum_amount,
        maximum_discount=terms.maximum_discount,
        course_ids=list(terms.course_ids),
        is_active=terms.is_active,
        is_public=terms.is_public,
        description=terms.description,
        actor=admin_id,
    )


def update_coupon(coupon_id: str, terms: CouponTerms, *, admin_id: str) -> Coupon:
    """Changes a coupon's editable terms (not code, type, value or currency) and audit-logs the change.

    Max uses cannot go below the uses already made. Raises NotFound / ValidationFailed,
    having changed nothing.
    """
    check_terms(terms)
    with unit_of_work():
        coupon = _locked(coupon_id)
        if terms.max_uses is not None and terms.max_uses < coupon.current_uses:
            raise ValidationFailed(
                f"Max uses cannot be below the {coupon.current_uses} uses already made.", field="max_uses"
            )
        courses = _courses(terms.course_ids)
        changes = _apply_terms(coupon, terms, courses)
        if changes:
            audit.record(
                "coupon.updated",
                entity_type="coupon",
                entity_id=coupon.id,
                actor=admin_id,
                code=coupon.code,
                changes=changes,
            )
    return coupon


def deactivate_coupon(coupon_id: str, *, admin_id: str) -> Coupon:
    """Stops a coupon applying to new checkouts (open checkouts keep their price). Idempotent."""
    with unit_of_work():
        coupon = _locked(coupon_id)
        if coupon.is_active:
            coupon.is_active = False
            audit.record(
                "coupon.deactivated", entity_type="coupon", entity_id=coupon.id, actor=admin_id, code=coupon.code
            )
    return coupon


def _locked(coupon_id: str) -> Coupon:
    coupon = db.session.get(Coupon, coupon_id, with_for_update=True)
    if coupon is None:
        raise NotFound("That coupon does not exist.")
    return coupon


def _courses(course_ids: tuple[str, ...]) -> list[Course]:
    courses = []
    for course_id in course_ids:
        course = db.session.get(Course, course_id)
        if course is None:
            raise ValidationFailed(f"Unknown course id {course_id!r}.", field="courses")
        courses.append(course)
    return courses


def _apply_terms(coupon: Coupon, terms: CouponTerms, courses: list[Course]) -> dict[str, object]:
    """Sets the terms that differ on `coupon`; returns what changed, as the audit entry records it."""
    changes: dict[str, object] = {}
    for name in _PLAIN_TERMS:
        new = getattr(terms, name)
        if getattr(coupon, name) != new:
            changes[name] = new.isoformat() if isinstance(new, datetime) else new
            setattr(coupon, name, new)
    if sorted(c.id for c in courses) != sorted(coupon.applicable_course_ids):
        changes["course_ids"] = [c.id for c in courses]
        coupon.applicable_courses = courses
    return changes
