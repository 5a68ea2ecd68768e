from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.base import IdColumn, StatusColumn, UTCDateTime, new_id, status_check, utcnow
from webapp.models.enums import OutboxEmailStatus


class OutboxEmail(db.Model):
    """A learner email, written in the same transaction as what caused it.

    `dedupe_key` (e.g. `enrollment-confirmation:<enrollment id>`) is unique, so however many
    paths race to fulfil one payment, one email row exists; it is sent after commit.
    """

    __tablename__ = "email_outbox"
    __table_args__ = (
        sa.Index("ix_email_outbox_status_created_at", "status", "created_at"),
        status_check("status", OutboxEmailStatus),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    dedupe_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(50))
    to_address: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(StatusColumn(OutboxEmailStatus), default=OutboxEmailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
