from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.base import StatusColumn, UTCDateTime, status_check, utcnow
from webapp.models.enums import StripeEventStatus


class StripeEvent(db.Model):
    """The webhook inbox: every Stripe event id exactly once."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        sa.Index("ix_stripe_events_received_at", "received_at"),
        status_check("status", StripeEventStatus),
    )

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(100), index=True)
    livemode: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    status: Mapped[str] = mapped_column(StatusColumn(StripeEventStatus), default=StripeEventStatus.RECEIVED, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    object_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    payment_session_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # While one delivery processes the event, others answer "duplicate"; a crashed claim lapses.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLog(db.Model):
    """An append-only record of every payment state change and admin action."""

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_entity_type_entity_id", "entity_type", "entity_id"),
        sa.Index("ix_audit_log_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(sa.String(255))
    action: Mapped[str] = mapped_column(sa.String(100))
    entity_type: Mapped[str] = mapped_column(sa.String(50))
    entity_id: Mapped[str] = mapped_column(sa.String(255))
    payment_session_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    enrollment_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    stripe_event_id: Mapped[str | None] = mapped_column(sa.String(255))
    data: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
