"""Reconciliation: repairing what webhooks missed, from Stripe's own state (`flask payments reconcile`).

Safe alongside webhooks: every change goes through the same guarded functions
(fulfillment, the payment-session transitions, the event inbox's claim).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import InstallmentPlan, PaymentSession
from webapp.models.base import utcnow
from webapp.models.enums import LIVE_PLAN_STATUSES, OPEN_SESSION_STATUSES, PaymentSessionStatus, PlanStatus
from webapp.payments.gateway import CheckoutSession, GatewayError, get_gateway
from webapp.services.fulfillment import PAID_STATES, fulfill_checkout, lock_payment_session, mark_expired
from webapp.services.plans.sync import sync_plan
from webapp.services.transactions import unit_of_work


def reconcile(*, since_hours: float | None = None) -> list[str]:
    """Repairs PENDING/PROCESSING sessions from Stripe's state; returns one line per repair.

    Paid → fulfilled; complete but unpaid → PROCESSING; expired at Stripe → EXPIRED;
    overdue and still open → expired at Stripe and here; a failed async payment → FAILED.
    Installment plans not yet ended (or paid but not yet bounded at Stripe) are synced with
    their subscription's invoices. Then events whose handling failed or stalled are retried.
    """
    from webapp.services.checkout import expire_overdue
    from webapp.services.webhooks import retry_stuck_events

    now = utcnow()
    query = sa.select(PaymentSession.id, PaymentSession.stripe_session_id).where(
        PaymentSession.status.in_(OPEN_SESSION_STATUSES),
        PaymentSession.stripe_session_id.is_not(None),
    )
    if since_hours is not None:
        query = query.where(PaymentSession.created_at >= now - timedelta(hours=since_hours))
    with unit_of_work():
        candidates = db.session.execute(query.order_by(PaymentSession.created_at)).all()
    lines: list[str] = []
    for session_id, stripe_session_id in candidates:
        remote = _remote_or_note(stripe_session_id, session_id, lines)
        if remote is not None:
            lines += _repair_open(session_id, remote)
    lines += _closed_but_paid(now)
    lines += _sync_plans()
    for expired_id in expire_overdue(now=now):
        lines.append(f"{expired_id}: PENDING -> EXPIRED (overdue)")
    lines += retry_stuck_events(now=now)
    return lines


def _sync_plans() -> list[str]:
    """Every plan Stripe may still bill, brought up to date with its subscription (plans.sync)."""
    with unit_of_work():
        plan_ids = db.session.scalars(
            sa.select(InstallmentPlan.id)
            .where(
                sa.or_(
                    InstallmentPlan.status.in_(LIVE_PLAN_STATUSES),
                    sa.and_(InstallmentPlan.status == PlanStatus.PAID, InstallmentPlan.schedule_ready.is_(False)),
                )
            )
            .order_by(InstallmentPlan.created_at)
        ).all()
    lines: list[str] = []
    for plan_id in plan_ids:
        try:
            lines += sync_plan(plan_id, actor="reconcile")
        except GatewayError as exc:
            lines.append(f"plan {plan_id}: Stripe unavailable ({type(exc).__name__}), try again")
    return lines


def _remote_or_note(stripe_session_id: str, session_id: str, lines: list[str]) -> CheckoutSession | None:
    """Stripe's session, or None with a line saying Stripe could not be reached."""
    try:
        return get_gateway().retrieve_checkout_session(stripe_session_id)
    except GatewayError as exc:
        lines.append(f"{session_id} {stripe_session_id}: could not reach Stripe ({type(exc).__name__}); will retry")
        return None


def _repair_open(session_id: str, remote: CheckoutSession) -> list[str]:
    with unit_of_work():
        before = db.session.get(PaymentSession, session_id).status
    if remote.status == "complete":
        result = fulfill_checkout(remote.id, actor="system", remote=remote)
        # A failed async payment (payment intent back to `requires_payment_method` or
        # `canceled`) is marked FAILED by fulfill_checkout itself.
        return [f"{session_id} {remote.id}: {before} -> {result.state}"] if result.state != before else []
    if remote.status == "expired":
        with unit_of_work():
            expired = mark_expired(lock_payment_session(session_id), actor="system", event_id=None)
        return [f"{session_id} {remote.id}: PENDING -> EXPIRED"] if expired else []
    return []


def _closed_but_paid(now: datetime) -> list[str]:
    """Sessions we cancelled or expired in the last 48 h that Stripe nonetheless completed.

    A Stripe session lives at most 24 h, so after 48 h nothing can still be paid. If one
    was paid (an expire call raced the payment, a lost webhook), the money was taken:
    fulfillment honours it and the audit log says so.
    """
    with unit_of_work():
        rows = db.session.execute(
            sa.select(PaymentSession.id, PaymentSession.stripe_session_id).where(
                PaymentSession.status.in_((PaymentSessionStatus.CANCELED, PaymentSessionStatus.EXPIRED)),
                PaymentSession.stripe_session_id.is_not(None),
                PaymentSession.updated_at >= now - timedelta(hours=48),
            )
        ).all()
    lines: list[str] = []
    for session_id, stripe_session_id in rows:
        remote = _remote_or_note(stripe_session_id, session_id, lines)
        if remote is not None and remote.status == "complete" and remote.payment_status in PAID_STATES:
            result = fulfill_checkout(stripe_session_id, actor="system", remote=remote)
            lines.append(f"{session_id} {stripe_session_id}: paid after it was closed -> {result.state}")
    return lines
