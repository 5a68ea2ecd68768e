from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import IdColumn, UTCDateTime, new_id, utcnow
from webapp.models.course import Course

coupon_courses = sa.Table(
    "coupon_courses",
    db.metadata,
    sa.Column("coupon_id", IdColumn, sa.ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("course_id", IdColumn, sa.ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Coupon(db.Model):
    """A discount code.

    `code` is stored upper-case and trimmed, so the unique constraint is case-insensitive.
    `discount_value` is a percent (`12.5`) for PERCENTAGE and minor units of `currency`
    for FIXED. `current_uses` counts completed checkouts only; open checkouts hold a use
    through their PENDING payment session (see services.coupons).
    """

    __tablename__ = "coupons"
    __table_args__ = (
        sa.CheckConstraint("discount_value >= 0", name="discount_value_non_negative"),
        sa.CheckConstraint("current_uses >= 0", name="current_uses_non_negative"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    description: Mapped[str | None] = mapped_column(sa.String(500))
    discount_type: Mapped[str] = mapped_column(sa.String(20))
    discount_value: Mapped[Decimal] = mapped_column(sa.Numeric(12, 4))
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    max_uses: Mapped[int | None] = mapped_column(sa.Integer)
    current_uses: Mapped[int] = mapped_column(sa.Integer, default=0)
    max_uses_per_user: Mapped[int | None] = mapped_column(sa.Integer)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    minimum_amount: Mapped[int | None] = mapped_column(sa.Integer)
    maximum_discount: Mapped[int | None] = mapped_column(sa.Integer)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    is_public: Mapped[bool] = mapped_column(sa.Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    applicable_courses: Mapped[list[Course]] = relationship(secondary=coupon_courses, lazy="selectin")

    @property
    def applicable_course_ids(self) -> list[str]:
        return [c.id for c in self.applicable_courses]
