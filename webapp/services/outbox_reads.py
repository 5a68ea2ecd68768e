"""The email outbox as the development mail viewer reads it."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import OutboxEmail

RECENT_LIMIT = 100


def recent_emails(limit: int = RECENT_LIMIT) -> list[OutboxEmail]:
    """The newest outbox emails, newest first."""
    return list(db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.created_at.desc()).limit(limit)))


def find_email(email_id: str) -> OutboxEmail | None:
    """One outbox email by id, or None."""
    return db.session.get(OutboxEmail, email_id)
