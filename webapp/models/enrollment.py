from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import IdColumn, StatusColumn, UTCDateTime, new_id, status_check, utcnow
from webapp.models.course import Course
from webapp.models.enums import EnrollmentStatus, PaymentStatus
from webapp.models.user import User


class Enrollment(db.Model):
    """A learner's access to a course: at most one per (user, course)."""

    __tablename__ = "enrollments"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "course_id"),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
        status_check("status", EnrollmentStatus),
        status_check("payment_status", PaymentStatus),
        sa.Index("ix_enrollments_course_id_enrolled_at", "course_id", "enrolled_at"),
        sa.Index("ix_enrollments_status_enrolled_at", "status", "enrolled_at"),
        sa.Index("ix_enrollments_payment_status_enrolled_at", "payment_status", "enrolled_at"),
        sa.Index("ix_enrollments_enrolled_at_id", "enrolled_at", "id"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("courses.id"))
    status: Mapped[str] = mapped_column(StatusColumn(EnrollmentStatus), default=EnrollmentStatus.ACTIVE)
    payment_status: Mapped[str] = mapped_column(StatusColumn(PaymentStatus, 24))
    source: Mapped[str] = mapped_column(sa.String(20))
    payment_session_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("payment_sessions.id", ondelete="SET NULL"), unique=True
    )
    coupon_id: Mapped[str | None] = mapped_column(sa.ForeignKey("coupons.id"), index=True)
    amount_paid: Mapped[int] = mapped_column(sa.Integer, default=0)
    discount_applied: Mapped[int] = mapped_column(sa.Integer, default=0)
    currency: Mapped[str] = mapped_column(sa.String(3))
    progress: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2), default=0)  # percent, DECIMAL(5,2) as the design
    current_lecture: Mapped[int | None] = mapped_column(sa.Integer)
    # The design's opaque lecture id, as the front end sends it; `current_lecture` is our number.
    current_lecture_id: Mapped[str | None] = mapped_column(sa.String(255))
    completed_lectures: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_accessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()
    course: Mapped[Course] = relationship()
