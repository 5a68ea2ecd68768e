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


# Admin search is `lower(email) LIKE '%…%'`: a trigram index keeps it off a scan of every user
# (bench/admin_list.py measures it). PostgreSQL only (pg_trgm, migration 0002); SQLite, for
# development, scans.
sa.Index(
    "ix_users_email_trgm",
    sa.func.lower(User.email).label("email_lower"),
    postgresql_using="gin",
    postgresql_ops={"email_lower": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")
