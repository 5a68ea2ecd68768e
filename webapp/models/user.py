from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.base import UTCDateTime, utcnow


class User(db.Model):
    """A learner or admin; `id` is the Clerk user id (the token's `sub`)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    email: Mapped[str | None] = mapped_column(sa.String(320), index=True)
    name: Mapped[str | None] = mapped_column(sa.String(255))
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
