"""One enrollment's history for the admin: payment sessions, Stripe events, refunds, audit entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import AuditLog, Enrollment, PaymentSession, Refund, StripeEvent
from webapp.services.money import format_money

# Entries at the same instant read in the order things happen: checkout, Stripe's event,
# the refund it reports, then what our code logged about it.
_KIND_ORDER = {"payment_session": 0, "stripe_event": 1, "refund": 2, "audit": 3}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # payment_session | stripe_event | audit | refund
    title: str
    detail: str = ""
    status: str = ""
    ref: str = ""


def enrollment_timeline(enrollment: Enrollment) -> list[TimelineEntry]:
    """Payment sessions, Stripe events, audit entries and refunds of one enrollment, oldest first."""
    sessions = _sessions_of(enrollment)
    session_ids = [s.id for s in sessions]
    refunds = list(
        db.session.scalars(
            sa.select(Refund).where(
                sa.or_(Refund.enrollment_id == enrollment.id, Refund.payment_session_id.in_(session_ids or [""]))
            )
        )
    )
    entries = [entry for s in sessions for entry in _session_entries(s)]
    entries += [_event_entry(e) for e in _events_of(sessions, refunds)]
    entries += [_audit_entry(a) for a in _audits_of(enrollment, session_ids, refunds)]
    entries += [_refund_entry(r) for r in refunds]
    entries.sort(key=lambda t: (t.at, _KIND_ORDER[t.kind], t.ref))
    return entries


def refunds_of(enrollment: Enrollment) -> list[Refund]:
    """Refunds of the enrollment's payment and of any extra payment linked to it, oldest first."""
    condition = Refund.enrollment_id == enrollment.id
    if enrollment.payment_session_id:
        condition = sa.or_(condition, Refund.payment_session_id == enrollment.payment_session_id)
    return list(db.session.scalars(sa.select(Refund).where(condition).order_by(Refund.created_at, Refund.id)))


# -- what belongs to the enrollment ----------------------------------------------------------


def _sessions_of(enrollment: Enrollment) -> list[PaymentSession]:
    """Its payment, sessions linked to it, and every checkout of the same learner and course."""
    return list(
        db.session.scalars(
            sa.select(PaymentSession).where(
                sa.or_(
                    PaymentSession.enrollment_id == enrollment.id,
                    PaymentSession.id == enrollment.payment_session_id,
                    sa.and_(
                        PaymentSession.user_id == enrollment.user_id, PaymentSession.course_id == enrollment.course_id
                    ),
                )
            )
        ).unique()
    )


def _events_of(sessions: list[PaymentSession], refunds: list[Refund]) -> list[StripeEvent]:
    """Events about those sessions, or about their Stripe objects (checkout, payment, refunds)."""
    object_ids = [s.stripe_session_id for s in sessions if s.stripe_session_id]
    object_ids += [s.payment_intent_id for s in sessions if s.payment_intent_id]
    object_ids += [r.stripe_refund_id for r in refunds if r.stripe_refund_id]
    return list(
        db.session.scalars(
            sa.select(StripeEvent).where(
                sa.or_(
                    StripeEvent.payment_session_id.in_([s.id for s in sessions] or [""]),
                    StripeEvent.object_id.in_(object_ids or [""]),
                )
            )
        )
    )


def _audits_of(enrollment: Enrollment, session_ids: list[str], refunds: list[Refund]) -> list[AuditLog]:
    return list(
        db.session.scalars(
            sa.select(AuditLog).where(
                sa.or_(
                    AuditLog.enrollment_id == enrollment.id,
                    AuditLog.payment_session_id.in_(session_ids or [""]),
                    sa.and_(AuditLog.entity_type == "refund", AuditLog.entity_id.in_([r.id for r in refunds] or [""])),
                )
            )
        )
    )


# -- entries ---------------------------------------------------------------------------------


def _session_entries(s: PaymentSession) -> list[TimelineEntry]:
    coupon = f", coupon {s.coupon_code}" if s.coupon_code else ""
    entries = [
        TimelineEntry(
            s.created_at,
            "payment_session",
            "Checkout started",
            f"{s.stripe_session_id or s.id}{coupon}",
            s.status,
            s.id,
        )
    ]
    if s.completed_at:
        entries.append(
            TimelineEntry(
                s.completed_at, "payment_session", "Checkout completed", s.payment_intent_id or "", s.status, s.id
            )
        )
    return entries


def _event_entry(e: StripeEvent) -> TimelineEntry:
    return TimelineEntry(e.received_at, "stripe_event", e.type, e.id, e.status, e.id)


def _audit_entry(a: AuditLog) -> TimelineEntry:
    return TimelineEntry(a.created_at, "audit", a.action, _describe(a.data), f"by {a.actor}", str(a.id))


def _refund_entry(r: Refund) -> TimelineEntry:
    detail = r.reason or ""
    if r.failure_reason:
        detail = f"{detail} — failed: {r.failure_reason}"
    return TimelineEntry(r.created_at, "refund", f"Refund {format_money(r.amount, r.currency)}", detail, r.status, r.id)


def _describe(data: dict[str, Any] | None) -> str:
    if not data:
        return ""
    return ", ".join(f"{k}={v}" for k, v in data.items() if v not in (None, "", [], {}))
