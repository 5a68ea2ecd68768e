"""Free enrollments granted by hand by an admin, with the reason kept in the audit log."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Course, Enrollment, User
from webapp.models.base import new_id, utcnow
from webapp.models.enums import EnrollmentSource, EnrollmentStatus, PaymentStatus
from webapp.services.errors import Conflict, ValidationFailed
from webapp.services.transactions import unit_of_work
from webapp.services.transitions import move_enrollment

MAX_REASON_LENGTH = 500


def find_learner(user_ref: str) -> User | None:
    """A user by exact id, else by email (case-insensitive)."""
    ref = (user_ref or "").strip()
    if not ref:
        return None
    user = db.session.get(User, ref)
    if user is None and "@" in ref:
        user = db.session.scalar(
            sa.select(User).where(sa.func.lower(User.email) == ref.lower()).order_by(User.created_at).limit(1)
        )
    return user


def grant_enrollment(*, user_ref: str, course_id: str, reason: str, admin_id: str) -> Enrollment:
    """Enrolls a learner (by user id or email) in a course for free, by hand.

    The learner must have signed in once (their user row exists). A cancelled or refunded
    enrollment is re-activated; an active one is refused (Conflict). The reason is required
    and recorded in the audit log with the admin's id. Raises ValidationFailed naming the
    field for bad input.
    """
    reason = (reason or "").strip()
    if not (user_ref or "").strip():
        raise ValidationFailed("Enter the learner's user id or email.", field="user")
    if not reason:
        raise ValidationFailed("Give a reason for the grant.", field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationFailed(f"Keep the reason under {MAX_REASON_LENGTH} characters.", field="reason")
    user = find_learner(user_ref)
    if user is None:
        raise ValidationFailed("No learner with that user id or email; they need to sign in once first.", field="user")
    course = db.session.get(Course, (course_id or "").strip()) if course_id else None
    if course is None:
        raise ValidationFailed("Choose a course.", field="course")
    already = Conflict(f"{user.email or user.id} is already enrolled in {course.title}.", code="already_enrolled")
    with unit_of_work(on_conflict=lambda _: already):
        enrollment = db.session.scalar(
            sa.select(Enrollment)
            .where(Enrollment.user_id == user.id, Enrollment.course_id == course.id)
            .with_for_update(of=Enrollment)
        )
        if enrollment is not None and enrollment.status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED):
            raise already
        if enrollment is None:
            enrollment = Enrollment(id=new_id(), user_id=user.id, course_id=course.id, progress=0, completed_lectures=0)
            db.session.add(enrollment)
        enrollment.source = EnrollmentSource.ADMIN_GRANT
        enrollment.payment_session_id = None
        enrollment.coupon_id = None
        enrollment.amount_paid = 0
        enrollment.discount_applied = 0
        enrollment.currency = course.currency
        enrollment.cancelled_at = None
        enrollment.enrolled_at = utcnow()
        move_enrollment(
            enrollment,
            to_status=EnrollmentStatus.ACTIVE,
            to_payment_status=PaymentStatus.FREE,
            action="enrollment.granted",
            actor=admin_id,
            user_id=user.id,
            course_id=course.id,
            reason=reason,
        )
        db.session.flush()  # a concurrent enrollment of the same learner and course fails here
    return enrollment
