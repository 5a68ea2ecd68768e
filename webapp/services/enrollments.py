"""Enrollments as their learner sees them: listing, cancelling, progress, direct enrollment.

What may move money: nothing here. Cancelling removes access and is not a refund (refunds
are an admin action, services.refunds); `enroll_direct` only ever enrolls for free or on a
payment Stripe already completed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import Course, Enrollment, InstallmentPlan, PaymentSession
from webapp.models.base import utcnow
from webapp.models.enums import LIVE_PLAN_STATUSES, OPEN_SESSION_STATUSES, EnrollmentStatus, PaymentSessionStatus
from webapp.services.catalog import ACCESS_STATUSES, active_enrollment
from webapp.services.errors import Conflict, NotFound, ServiceError, ValidationFailed
from webapp.services.receipts import refunded_by_session
from webapp.services.transactions import unit_of_work
from webapp.services.transitions import move_enrollment

NOT_FOUND_MESSAGE = "We couldn't find that enrollment."
_ROW_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_STRIPE_OR_ROW_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")


def is_row_id(value: object) -> bool:
    """Whether `value` could be one of our primary keys (anything else is simply not found)."""
    return isinstance(value, str) and _ROW_ID.fullmatch(value) is not None


class PaymentRequired(ServiceError):
    """A paid course asked for without a completed payment of the caller."""

    status = 403
    code = "payment_required"


def list_for_user(user_id: str) -> list[Enrollment]:
    """The learner's enrollments, newest first (course joined in the same query)."""
    return list(
        db.session.scalars(
            sa.select(Enrollment)
            .options(joinedload(Enrollment.course))
            .where(Enrollment.user_id == user_id)
            .order_by(Enrollment.enrolled_at.desc())
        ).unique()
    )


@dataclass(frozen=True)
class AccountEnrollment:
    """One row of "My courses": the enrollment and, for a paid one, the Stripe session of its receipt."""

    enrollment: Enrollment
    receipt_session_id: str | None
    refunded: int = 0  # minor units refunded of its payment (succeeded and pending refunds)


@dataclass(frozen=True)
class MyCourses:
    """The "My courses" page: the enrollments, and purchases whose payment has not settled."""

    rows: list[AccountEnrollment]
    pending: list[PaymentSession]


def list_with_receipts(user_id: str) -> list[AccountEnrollment]:
    """`list_for_user` plus, for each paid enrollment, the Stripe Checkout id of its receipt
    and what was refunded of it (three queries)."""
    enrollments = list_for_user(user_id)
    session_ids = [e.payment_session_id for e in enrollments if e.payment_session_id and e.amount_paid > 0]
    stripe_ids = (
        dict(
            db.session.execute(
                sa.select(PaymentSession.id, PaymentSession.stripe_session_id).where(
                    PaymentSession.id.in_(session_ids), PaymentSession.user_id == user_id
                )
            ).all()
        )
        if session_ids
        else {}
    )
    refunded = refunded_by_session(session_ids)
    return [
        AccountEnrollment(e, stripe_ids.get(e.payment_session_id), refunded.get(e.payment_session_id or "", 0))
        for e in enrollments
    ]


def processing_purchases(user_id: str) -> list[PaymentSession]:
    """The learner's checkouts paid by a method that has not settled yet (PROCESSING), with course."""
    return list(
        db.session.scalars(
            sa.select(PaymentSession)
            .options(joinedload(PaymentSession.course))
            .where(PaymentSession.user_id == user_id, PaymentSession.status == PaymentSessionStatus.PROCESSING)
            .order_by(PaymentSession.created_at.desc())
        )
    )


def my_courses(user_id: str) -> MyCourses:
    """Everything the "My courses" page shows."""
    return MyCourses(list_with_receipts(user_id), processing_purchases(user_id))


def _owned_query(user_id: str, enrollment_id: object):
    if not is_row_id(enrollment_id):
        raise NotFound(NOT_FOUND_MESSAGE)
    return sa.select(Enrollment).where(Enrollment.id == enrollment_id, Enrollment.user_id == user_id)


def get_for_user(user_id: str, enrollment_id: str) -> Enrollment:
    """The learner's own enrollment; NotFound for unknown ids and for anyone else's."""
    enrollment = db.session.scalar(_owned_query(user_id, enrollment_id))
    if enrollment is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return enrollment


def _lock_owned(user_id: str, enrollment_id: str) -> Enrollment:
    """The learner's own enrollment, locked (call inside a unit of work); NotFound otherwise."""
    enrollment = db.session.scalar(
        _owned_query(user_id, enrollment_id).with_for_update().execution_options(populate_existing=True)
    )
    if enrollment is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return enrollment


def cancel_enrollment(user_id: str, enrollment_id: str) -> Enrollment:
    """The learner gives up access: status CANCELLED, `cancelled_at` set, one audit entry.

    Not a refund — no money moves. Idempotent (a cancelled enrollment is returned as it
    is). A refunded enrollment has no access left to cancel (Conflict). NotFound for
    anyone else's enrollment. An installment plan still running is cancelled at Stripe
    first, so nothing more is charged for a course the learner left.
    """
    _cancel_live_plan(user_id, enrollment_id)
    with unit_of_work():
        enrollment = _lock_owned(user_id, enrollment_id)
        if enrollment.status == EnrollmentStatus.CANCELLED:
            return enrollment
        if enrollment.status == EnrollmentStatus.REFUNDED:
            raise Conflict("This enrollment was refunded, so there is nothing left to cancel.", code="already_refunded")
        previous = enrollment.status
        enrollment.cancelled_at = utcnow()
        move_enrollment(
            enrollment,
            to_status=EnrollmentStatus.CANCELLED,
            action="enrollment.cancelled",
            actor=user_id,
            payment_session_id=enrollment.payment_session_id,
            previous=previous,
            refunded=False,
        )
    return enrollment


def _cancel_live_plan(user_id: str, enrollment_id: str) -> None:
    from webapp.services.plans.actions import cancel_remaining

    if not is_row_id(enrollment_id):
        return
    live = db.session.scalar(
        sa.select(InstallmentPlan.id).where(
            InstallmentPlan.enrollment_id == enrollment_id,
            InstallmentPlan.user_id == user_id,
            InstallmentPlan.status.in_(LIVE_PLAN_STATUSES),
        )
    )
    if live is not None:
        cancel_remaining(live, actor=user_id, keep_access=False, reason="cancelled_by_learner")


def _int_field(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{name} must be a whole number.", field=name)
    return value


def _percent_field(name: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValidationFailed(f"{name} must be a number.", field=name)
    percent = Decimal(value)
    if not percent.is_finite() or percent != percent.quantize(Decimal("0.01")) or not 0 <= percent <= 100:
        raise ValidationFailed(f"{name} must be between 0 and 100, with at most two decimals.", field=name)
    return percent


def update_progress(
    user_id: str,
    enrollment_id: str,
    *,
    progress: int | Decimal | None = None,
    current_lecture: int | None = None,
    completed_lectures: int | None = None,
    current_lecture_id: str | None = None,
) -> Enrollment:
    """Records the learner's progress; `last_accessed_at` becomes now.

    `progress` is 0–100 with at most two decimals (DECIMAL(5,2)), `current_lecture_id` the
    front end's opaque lecture id, `completed_lectures` 0–the course's total lectures,
    `current_lecture` 1–total lectures; an out-of-range or non-integer value raises
    ValidationFailed naming the field (`progress`, `current_lecture`, `completed_lectures`)
    and nothing is written. Reaching 100 sets `completed_at` and status COMPLETED, and a
    completed course stays completed. Only ACTIVE/COMPLETED enrollments (Conflict
    otherwise); NotFound for anyone else's.
    """
    values: dict[str, object] = {
        name: _int_field(name, value)
        for name, value in (
            ("current_lecture", current_lecture),
            ("completed_lectures", completed_lectures),
        )
        if value is not None
    }
    if progress is not None:
        values["progress"] = _percent_field("progress", progress)
    if current_lecture_id is not None:
        values["current_lecture_id"] = current_lecture_id
    with unit_of_work():
        enrollment = _lock_owned(user_id, enrollment_id)
        _check_progress(enrollment, values)
        now = utcnow()
        for name, value in values.items():
            setattr(enrollment, name, value)
        enrollment.last_accessed_at = now
        if enrollment.progress == 100 and enrollment.status != EnrollmentStatus.COMPLETED:
            enrollment.completed_at = now
            move_enrollment(
                enrollment, to_status=EnrollmentStatus.COMPLETED, action="enrollment.completed", actor=user_id
            )
    return enrollment


def _check_progress(enrollment: Enrollment, values: dict) -> None:
    total = enrollment.course.total_lectures or 0
    if "completed_lectures" in values and not 0 <= values["completed_lectures"] <= total:
        raise ValidationFailed(
            f"completed_lectures must be between 0 and {total}, the course's number of lectures.",
            field="completed_lectures",
        )
    if "current_lecture" in values and not 1 <= values["current_lecture"] <= total:
        raise ValidationFailed(
            f"current_lecture must be between 1 and {total}, the course's number of lectures."
            if total
            else "current_lecture can't be set: this course has no lectures yet.",
            field="current_lecture",
        )
    if enrollment.status not in ACCESS_STATUSES:
        raise Conflict(
            f"This enrollment is {enrollment.status.lower()}, so its progress can't change.",
            code="enrollment_inactive",
        )


def enroll_direct(user_id: str, course_id: str, payment_session_id: str | None) -> Enrollment:
    """Enrollment for the JSON API's `POST /api/enrollments`; idempotent.

    - The learner already has access → that enrollment, nothing changes.
    - `payment_session_id` (ours, or the Stripe `cs_…` id) of the caller for this course →
      its enrollment once Stripe says it is paid (fulfilled here if the webhook hasn't yet);
      another learner's session → NotFound; not paid → PaymentRequired (403).
    - A free published course → enrolled without Stripe (checkout's free path).
    - Otherwise PaymentRequired: paid courses are bought through a payment session.
    Unknown or unpublished course → NotFound.
    """
    if not is_row_id(course_id):
        raise NotFound("We couldn't find that course.")
    course = db.session.get(Course, course_id)
    if course is None or not course.published:
        raise NotFound("We couldn't find that course.")
    if payment_session_id is not None:
        return _enrollment_of_payment(user_id, course, payment_session_id)
    existing = active_enrollment(user_id, course.id)
    if existing is not None:
        return existing
    if not course.is_free:
        raise PaymentRequired(
            "This course isn't free: start a payment session (POST /api/payments/sessions) to buy it.",
            code="payment_required",
        )
    return _enroll_free(user_id, course)


def _enrollment_of_payment(user_id: str, course: Course, payment_session_id: object) -> Enrollment:
    """The enrollment the caller's payment session for `course` granted (fulfilled here if paid)."""
    from webapp.services import checkout
    from webapp.services.confirmation import confirm_payment

    if not isinstance(payment_session_id, str) or _STRIPE_OR_ROW_ID.fullmatch(payment_session_id) is None:
        raise ValidationFailed("payment_session_id must be a payment session id.", field="payment_session_id")
    session = checkout.session_for_owner(payment_session_id, user_id)
    if session.course_id != course.id:
        raise ValidationFailed("That payment session is for a different course.", field="payment_session_id")
    if session.status in OPEN_SESSION_STATUSES and session.stripe_session_id:
        confirm_payment(session.stripe_session_id, actor=user_id)
        db.session.refresh(session)
    if session.status != PaymentSessionStatus.COMPLETED or not session.enrollment_id:
        raise PaymentRequired(
            "That payment hasn't completed, so there is no enrollment for it yet.", field="payment_session_id"
        )
    enrollment = db.session.get(Enrollment, session.enrollment_id)
    if enrollment is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return enrollment


def _enroll_free(user_id: str, course: Course) -> Enrollment:
    """A free published course: checkout's free path (no Stripe)."""
    from webapp.services import checkout

    try:
        started = checkout.create_checkout(user_id=user_id, course=course, raw_code=None)
    except Conflict:
        # Enrolled by a concurrent request between our read and the checkout's lock.
        existing = active_enrollment(user_id, course.id)
        if existing is None:
            raise
        return existing
    enrollment = db.session.get(Enrollment, started.payment_session.enrollment_id)
    assert enrollment is not None
    return enrollment
