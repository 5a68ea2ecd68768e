from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import IdColumn, StatusColumn, UTCDateTime, new_id, status_check, utcnow
from webapp.models.coupon import Coupon
from webapp.models.course import Course
from webapp.models.enums import PaymentPlan, PaymentSessionStatus, RefundStatus
from webapp.models.user import User


class PaymentSession(db.Model):
    """One attempt to pay for a course, mirrored 1:1 with a Stripe Checkout Session.

    `amount` is the course price at creation, `discount_amount` the coupon's discount and
    `final_amount` the price after the coupon, all in minor units of `currency`. With
    `plan` "installments" Stripe charges the first of `installment_count` installments of
    `final_amount` now; "payoff" pays the balance of installment plan `installment_plan_id`.
    """

    __tablename__ = "payment_sessions"
    __table_args__ = (
        sa.CheckConstraint("amount >= 0 AND discount_amount >= 0 AND final_amount >= 0", name="amounts_non_negative"),
        status_check("status", PaymentSessionStatus),
        status_check("plan", PaymentPlan),
        sa.Index("ix_payment_sessions_user_id_course_id_status", "user_id", "course_id", "status"),
        sa.Index("ix_payment_sessions_status_expires_at", "status", "expires_at"),
        sa.Index("ix_payment_sessions_coupon_id_status", "coupon_id", "status"),
        sa.Index("ix_payment_sessions_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("courses.id"), index=True)
    status: Mapped[str] = mapped_column(StatusColumn(PaymentSessionStatus), default=PaymentSessionStatus.PENDING)
    amount: Mapped[int] = mapped_column(sa.Integer)
    currency: Mapped[str] = mapped_column(sa.String(3))
    discount_amount: Mapped[int] = mapped_column(sa.Integer, default=0)
    final_amount: Mapped[int] = mapped_column(sa.Integer)
    coupon_id: Mapped[str | None] = mapped_column(sa.ForeignKey("coupons.id"))
    coupon_code: Mapped[str | None] = mapped_column(sa.String(64))
    plan: Mapped[str] = mapped_column(sa.String(16), default=PaymentPlan.FULL, server_default=PaymentPlan.FULL)
    installment_count: Mapped[int | None] = mapped_column(sa.Integer)
    installment_plan_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("installment_plans.id", use_alter=True, ondelete="SET NULL"), index=True
    )
    stripe_session_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(255))
    checkout_url: Mapped[str | None] = mapped_column(sa.Text)
    payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    enrollment_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("enrollments.id", use_alter=True, ondelete="SET NULL"), index=True
    )
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", sa.JSON)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    failure_reason: Mapped[str | None] = mapped_column(sa.String(500))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()
    course: Mapped[Course] = relationship()
    coupon: Mapped[Coupon | None] = relationship()


class PaymentMethod(db.Model):
    """A saved card, mirrored from Stripe; at most one `is_default` per user."""

    __tablename__ = "payment_methods"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    stripe_payment_method_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    type: Mapped[str] = mapped_column(sa.String(32), default="card")
    brand: Mapped[str | None] = mapped_column(sa.String(32))
    last4: Mapped[str | None] = mapped_column(sa.String(4))
    exp_month: Mapped[int | None] = mapped_column(sa.Integer)
    exp_year: Mapped[int | None] = mapped_column(sa.Integer)
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Refund(db.Model):
    """A refund of (part of) an enrollment's payment; `amount` in minor units."""

    __tablename__ = "refunds"
    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"), status_check("status", RefundStatus))

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    enrollment_id: Mapped[str | None] = mapped_column(sa.ForeignKey("enrollments.id"), index=True)
    payment_session_id: Mapped[str] = mapped_column(sa.ForeignKey("payment_sessions.id"), index=True)
    # The installment whose charge this refunds (installment plans), else None.
    installment_id: Mapped[str | None] = mapped_column(sa.ForeignKey("installments.id"), index=True)
    stripe_refund_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    amount: Mapped[int] = mapped_column(sa.Integer)
    currency: Mapped[str] = mapped_column(sa.String(3))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(StatusColumn(RefundStatus), default=RefundStatus.PENDING)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    created_by: Mapped[str | None] = mapped_column(sa.String(255))
    failure_reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
