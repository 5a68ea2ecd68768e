"""One enrollment's history for the admin: payment sessions, Stripe events, refunds, audit entries.

An installment plan's entries (its audit rows, filed under entity type "installment_plan",
and Stripe's events about its subscription, invoices and their payments) are part of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import AuditLog, Enrollment, Installment, InstallmentPlan, PaymentSession, Refund, StripeEvent
from webapp.services.money import format_money

# Entries at the same instant read in the order things happen: checkout, Stripe's event,
# the refund it reports, then what our code logged about it.
_KIND_ORDER = {"payment_session": 0, "stripe_event": 1, "refund": 2, "audit": 3}

#: Readable titles of the installment plans' audit actions ({sequence}: the installment's).
PLAN_ACTION_LABELS = {
    "installment_plan.opened": "Installment plan opened",
    "installment.invoiced": "Installment {sequence} invoiced",
    "installment.paid": "Installment {sequence} paid",
    "installment.failed": "Installment {sequence} failed",
    "installment.void": "Installment {sequence} voided",
    "installment.amount_differs": "Installment paid with a different amount",
    "installment_plan.past_due": "Plan past due",
    "installment_plan.paused": "Plan paused: access paused",
    "installment_plan.resumed": "Plan back in good standing",
    "installment_plan.paid_in_full": "Plan paid in full",
    "installment_plan.ended": "Plan ended",
    "installment_plan.invoice_beyond_plan": "Invoice beyond the plan",
    "installment_plan.payoff_not_needed": "Balance paid after the plan was settled",
    "installment_plan.payoff_amount_differs": "Balance paid with a different amount",
}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # payment_session | stripe_event | audit | refund
    title: str
    detail: str = ""
    status: str = ""
    ref: str = ""
    action: str = ""  # an audit entry's action code, when the title is its readable label


def enrollment_timeline(enrollment: Enrollment) -> list[TimelineEntry]:
    """Payment sessions, Stripe events, audit entries and refunds of one enrollment, oldest first."""
    sessions = _sessions_of(enrollment)
    session_ids = [s.id for s in sessions]
    plan_ids, plan_objects = _plans_of(enrollment, session_ids)
    refunds = list(
        db.session.scalars(
            sa.select(Refund).where(
                sa.or_(Refund.enrollment_id == enrollment.id, Refund.payment_session_id.in_(session_ids or [""]))
            )
        )
    )
    entries = [entry for s in sessions for entry in _session_entries(s)]
    entries += [_event_entry(e) for e in _events_of(sessions, refunds, plan_objects)]
    entries += [_audit_entry(a) for a in _audits_of(enrollment, session_ids, refunds, plan_ids)]
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


def _plans_of(enrollment: Enrollment, session_ids: list[str]) -> tuple[list[str], list[str]]:
    """Its installment plans' ids, and their Stripe objects (subscription, invoices, payments)."""
    rows = db.session.execute(
        sa.select(
            InstallmentPlan.id,
            InstallmentPlan.stripe_subscription_id,
            Installment.stripe_invoice_id,
            Installment.payment_intent_id,
        )
        .outerjoin(Installment, Installment.plan_id == InstallmentPlan.id)
        .where(
            sa.or_(
                InstallmentPlan.enrollment_id == enrollment.id,
                InstallmentPlan.payment_session_id.in_(session_ids or [""]),
            )
        )
    ).all()
    plan_ids = sorted({row[0] for row in rows})
    objects = {value for row in rows for value in row[1:] if value}
    return plan_ids, sorted(objects)


def _events_of(sessions: list[PaymentSession], refunds: list[Refund], plan_objects: list[str]) -> list[StripeEvent]:
    """Events about those sessions, or about their Stripe objects (checkout, payment, refunds,
    installment plans' subscriptions and invoices)."""
    object_ids = list(plan_objects)
    object_ids += [s.stripe_session_id for s in sessions if s.stripe_session_id]
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


def _audits_of(
    enrollment: Enrollment, session_ids: list[str], refunds: list[Refund], plan_ids: list[str]
) -> list[AuditLog]:
    return list(
        db.session.scalars(
            sa.select(AuditLog).where(
                sa.or_(
                    AuditLog.enrollment_id == enrollment.id,
                    AuditLog.payment_session_id.in_(session_ids or [""]),
                    sa.and_(AuditLog.entity_type == "refund", AuditLog.entity_id.in_([r.id for r in refunds] or [""])),
                    sa.and_(AuditLog.entity_type == "installment_plan", AuditLog.entity_id.in_(plan_ids or [""])),
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
    label = PLAN_ACTION_LABELS.get(a.action)
    if label is None:
        return TimelineEntry(a.created_at, "audit", a.action, _describe(a.data), f"by {a.actor}", str(a.id))
    data = a.data or {}
    title = label.format(sequence=data.get("sequence", "?"))
    details = {k: v for k, v in data.items() if k not in ("sequence", "installment_id")}
    return TimelineEntry(a.created_at, "audit", title, _describe(details), f"by {a.actor}", str(a.id), a.action)


def _refund_entry(r: Refund) -> TimelineEntry:
    detail = r.reason or ""
    if r.failure_reason:
        detail = f"{detail} — failed: {r.failure_reason}"
    return TimelineEntry(r.created_at, "refund", f"Refund {format_money(r.amount, r.currency)}", detail, r.status, r.id)


def _describe(data: dict[str, Any] | None) -> str:
    if not data:
        return ""
    return ", ".join(f"{k}={v}" for k, v in data.items() if v not in (None, "", [], {}))
