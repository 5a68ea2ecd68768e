"""What a checkout looks up before it starts: the published course, the owner's payment session.

Reads only; every change to a payment session belongs to `services.checkout`.
"""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Course, PaymentSession, Refund
from webapp.services.enrollments import is_row_id
from webapp.services.errors import NotFound


def published_course(course_id: str) -> Course:
    """The published course with this id; NotFound otherwise (unknown and unpublished look alike)."""
    course = db.session.get(Course, course_id) if is_row_id(course_id) else None
    if course is None or not course.published:
        raise NotFound("We couldn't find that course.")
    return course


def owned_payment_session(session_id: str, user_id: str) -> PaymentSession:
    """The user's payment session by our id; NotFound for unknown ids and for anyone else's."""
    session = db.session.get(PaymentSession, session_id) if is_row_id(session_id) else None
    if session is None or session.user_id != user_id:
        raise NotFound("We couldn't find that payment session.")
    return session


def refunds_of(payment_session: PaymentSession) -> list[Refund]:
    """The refunds of one payment session, oldest first."""
    return list(
        db.session.scalars(
            sa.select(Refund).where(Refund.payment_session_id == payment_session.id).order_by(Refund.created_at)
        )
    )
