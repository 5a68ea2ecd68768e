from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.base import IdColumn, StatusColumn, UTCDateTime, new_id, status_check, utcnow
from webapp.models.enums import InstallmentStatus, PlanStatus


class InstallmentPlan(db.Model):
    """A course bought in `installment_count` monthly installments, mirrored with a Stripe subscription.

    `total_amount` is the price after the coupon; `first_amount` (which carries the
    remainder of the split) and `installment_amount` add up to it exactly. `paid_count` and
    `amount_paid` count the installments whose invoices Stripe reported paid, each once.
    Times that come from Stripe (`past_due_since`, `next_due_at`) are Stripe's clock.
    """

    __tablename__ = "installment_plans"
    __table_args__ = (
        sa.CheckConstraint("installment_count BETWEEN 2 AND 12", name="count_range"),
        sa.CheckConstraint(
            "total_amount > 0 AND first_amount > 0 AND installment_amount > 0 AND amount_paid >= 0",
            name="amounts_positive",
        ),
        sa.CheckConstraint("paid_count >= 0 AND paid_count <= installment_count", name="paid_count_range"),
        status_check("status", PlanStatus),
        sa.Index("ix_installment_plans_status_past_due_since", "status", "past_due_since"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), index=True)
    course_id: Mapped[str] = mapped_column(sa.ForeignKey("courses.id"), index=True)
    payment_session_id: Mapped[str] = mapped_column(sa.ForeignKey("payment_sessions.id"), unique=True)
    enrollment_id: Mapped[str | None] = mapped_column(sa.ForeignKey("enrollments.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(StatusColumn(PlanStatus), default=PlanStatus.ACTIVE)
    currency: Mapped[str] = mapped_column(sa.String(3))
    total_amount: Mapped[int] = mapped_column(sa.Integer)
    installment_count: Mapped[int] = mapped_column(sa.Integer)
    first_amount: Mapped[int] = mapped_column(sa.Integer)
    installment_amount: Mapped[int] = mapped_column(sa.Integer)
    paid_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    amount_paid: Mapped[int] = mapped_column(sa.Integer, default=0)
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(255))
    stripe_subscription_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    stripe_schedule_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    # True once Stripe has been told to end the subscription after the last installment.
    schedule_ready: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def remaining_amount(self) -> int:
        return self.total_amount - self.amount_paid

    def amount_of(self, sequence: int) -> int:
        """What installment `sequence` (1-based) costs."""
        return self.first_amount if sequence == 1 else self.installment_amount


class Installment(db.Model):
    """One installment: one Stripe invoice of the plan's subscription (or the balance paid early).

    `stripe_invoice_id` is unique, so an invoice is recorded once whatever the order or
    duplication of its events; `sequence` is its place in the plan (1 = paid at checkout).
    """

    __tablename__ = "installments"
    __table_args__ = (
        sa.UniqueConstraint("plan_id", "sequence"),
        sa.CheckConstraint("amount > 0 AND amount_refunded >= 0", name="amounts_valid"),
        status_check("status", InstallmentStatus),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    plan_id: Mapped[str] = mapped_column(sa.ForeignKey("installment_plans.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(StatusColumn(InstallmentStatus), default=InstallmentStatus.OPEN)
    amount: Mapped[int] = mapped_column(sa.Integer)
    currency: Mapped[str] = mapped_column(sa.String(3))
    stripe_invoice_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    charge_id: Mapped[str | None] = mapped_column(sa.String(255))
    # The payment session of a balance paid early (Checkout in payment mode), else None.
    payment_session_id: Mapped[str | None] = mapped_column(sa.ForeignKey("payment_sessions.id"), unique=True)
    card_brand: Mapped[str | None] = mapped_column(sa.String(32))
    card_last4: Mapped[str | None] = mapped_column(sa.String(4))
    attempt_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    failure_message: Mapped[str | None] = mapped_column(sa.String(500))
    amount_refunded: Mapped[int] = mapped_column(sa.Integer, default=0)
    invoiced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
