from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.base import IdColumn, UTCDateTime, new_id, utcnow


class Course(db.Model):
    """A course for sale. `price` is in the minor unit of `currency` (lower-case ISO code)."""

    __tablename__ = "courses"
    __table_args__ = (
        sa.CheckConstraint("price >= 0", name="price_non_negative"),
        sa.CheckConstraint("installments IS NULL OR installments BETWEEN 2 AND 12", name="installments_range"),
        sa.Index("ix_courses_published_created_at", "published", "created_at"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(sa.String(120), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    short_description: Mapped[str] = mapped_column(sa.String(500), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    thumbnail_url: Mapped[str | None] = mapped_column(sa.String(500))
    price: Mapped[int] = mapped_column(sa.Integer)
    currency: Mapped[str] = mapped_column(sa.String(3))
    published: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    total_lectures: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Offered in this many monthly installments beside paying in full (None: not offered).
    installments: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_free(self) -> bool:
        return self.price == 0
