"""Refunds as Stripe reports them: what was refunded, and mirroring Stripe's refunds into ours.

What may move money: nothing here. `sync_refunds_for_payment_intent` re-reads Stripe's
refunds of a payment and mirrors them (refunds made directly in Stripe's dashboard
included); the enrollment's statuses follow the refunds that succeeded.

An installment plan's payments are one payment intent per installment (found through
`installments.payment_intent_id`); their refunds are filed under the plan's payment session
with `installment_id` set, and the installment's `amount_refunded` follows them.
"""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Enrollment, Installment, InstallmentPlan, PaymentSession, Refund
from webapp.models.base import new_id
from webapp.models.enums import (
    EnrollmentStatus,
    PaymentPlan,
    PaymentSessionStatus,
    PaymentStatus,
    PlanStatus,
    RefundStatus,
)
from webapp.payments.gateway import RefundInfo, get_gateway
from webapp.services.transactions import retry_on_conflict, unit_of_work
from webapp.services.transitions import move_enrollment, move_refund

#: Refunds that count against what remains refundable (a failed or canceled one gives it back).
OPEN_OR_DONE = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)

_STRIPE_STATUS = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.CANCELED,
}


def refund_status_of(info: RefundInfo) -> str:
    return _STRIPE_STATUS.get(info.status, RefundStatus.PENDING)


def lock_enrollment(enrollment_id: str) -> Enrollment | None:
    return db.session.scalar(
        sa.select(Enrollment)
        .where(Enrollment.id == enrollment_id)
        .with_for_update(of=Enrollment)
        .execution_options(populate_existing=True)
    )


def refunded_amounts(payment_session_id: str) -> tuple[int, int]:
    """(succeeded, pending) refunded minor units of one payment session."""
    rows = db.session.execute(
        sa.select(Refund.status, sa.func.coalesce(sa.func.sum(Refund.amount), 0))
        .where(Refund.payment_session_id == payment_session_id, Refund.status.in_(OPEN_OR_DONE))
        .group_by(Refund.status)
    ).all()
    totals = {status: int(total) for status, total in rows}
    return totals.get(RefundStatus.SUCCEEDED, 0), totals.get(RefundStatus.PENDING, 0)


def refundable_amount(enrollment: Enrollment) -> int:
    """What may still be refunded: amount paid minus succeeded and pending refunds."""
    if not enrollment.payment_session_id or enrollment.amount_paid <= 0:
        return 0
    succeeded, pending = refunded_amounts(enrollment.payment_session_id)
    return max(enrollment.amount_paid - succeeded - pending, 0)


def extra_payments(enrollment: Enrollment) -> list[tuple[PaymentSession, int]]:
    """Completed payments linked to this enrollment that did not grant it (a learner who paid
    twice for a course they had), each with what remains refundable of it.

    An installment plan's own payments are not among them (they are refunded installment by
    installment): its checkout, and a balance paid early that the plan counted.
    """
    counted_payoff = sa.exists().where(Installment.payment_session_id == PaymentSession.id)
    sessions = db.session.scalars(
        sa.select(PaymentSession).where(
            PaymentSession.enrollment_id == enrollment.id,
            PaymentSession.status == PaymentSessionStatus.COMPLETED,
            PaymentSession.final_amount > 0,
            PaymentSession.id != (enrollment.payment_session_id or ""),
            PaymentSession.plan != PaymentPlan.INSTALLMENTS,
            ~counted_payoff,
        )
    ).all()
    result = []
    for session in sessions:
        succeeded, pending = refunded_amounts(session.id)
        result.append((session, max(session.final_amount - succeeded - pending, 0)))
    return result


def apply_refund_statuses(enrollment: Enrollment, *, actor: str, event_id: str | None) -> None:
    """Enrollment and payment status from the succeeded refunds (guarded, so re-running is a no-op)."""
    if not enrollment.payment_session_id or enrollment.amount_paid <= 0:
        return
    if enrollment.payment_status in (PaymentStatus.DISPUTED, PaymentStatus.DISPUTE_LOST):
        return  # a chargeback decides these; its events move them on
    succeeded, _pending = refunded_amounts(enrollment.payment_session_id)
    status = enrollment.status
    if succeeded >= enrollment.amount_paid:
        status, payment_status = EnrollmentStatus.REFUNDED, PaymentStatus.REFUNDED
    else:
        payment_status = PaymentStatus.PARTIALLY_REFUNDED if succeeded > 0 else _unrefunded_status(enrollment)
        if status == EnrollmentStatus.REFUNDED:
            status = EnrollmentStatus.ACTIVE  # a refund Stripe later reported failed gives the access back
    move_enrollment(
        enrollment,
        to_status=status,
        to_payment_status=payment_status,
        action="enrollment.refund_status_changed",
        actor=actor,
        event_id=event_id,
        payment_session_id=enrollment.payment_session_id,
        status_before=enrollment.status,
        status=status,
        payment_status_before=enrollment.payment_status,
        payment_status=payment_status,
        refunded=succeeded,
    )


def _unrefunded_status(enrollment: Enrollment) -> PaymentStatus:
    """The payment status with no refund: PAID, or where its installment plan stands."""
    plan_status = db.session.scalar(
        sa.select(InstallmentPlan.status).where(InstallmentPlan.payment_session_id == enrollment.payment_session_id)
    )
    if plan_status is None or plan_status == PlanStatus.PAID:
        return PaymentStatus.PAID
    if plan_status in (PlanStatus.PAST_DUE, PlanStatus.PAUSED):
        return PaymentStatus.PAST_DUE
    return PaymentStatus.INSTALLMENTS


def installment_refunded(installment_id: str) -> int:
    """Minor units of one installment refunded or on their way back (succeeded and pending refunds)."""
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0)).where(
                Refund.installment_id == installment_id, Refund.status.in_(OPEN_OR_DONE)
            )
        )
    )


def update_installment_refunded(installment: Installment) -> None:
    """`amount_refunded` from the installment's refund rows (flushed first)."""
    db.session.flush()
    installment.amount_refunded = installment_refunded(installment.id)


def queue_refund_notices(payment_session_id: str) -> None:
    """Queues one refund notice per succeeded refund (the outbox's unique key makes it once)."""
    from webapp.services.mail import queue_refund_notice

    succeeded = db.session.scalars(
        sa.select(Refund).where(
            Refund.payment_session_id == payment_session_id, Refund.status == RefundStatus.SUCCEEDED
        )
    ).all()
    for refund in succeeded:
        queue_refund_notice(refund)


def sync_refunds_for_payment_intent(payment_intent_id: str | None, *, event_id: str | None) -> str | None:
    """Mirrors Stripe's refunds of a payment intent into `refunds` and recomputes statuses.

    Called by the webhook for `charge.refunded`, `refund.created` and `refund.updated`; the
    event is only a trigger, the refunds are re-read from Stripe. Refunds made directly at
    Stripe get a row of their own. Returns our payment session's id; unknown payment intents
    are ignored (None, nothing read from Stripe or written). Raises GatewayError when Stripe
    cannot be read (the webhook answers 5xx and Stripe retries).
    """
    if not payment_intent_id:
        return None
    with unit_of_work():
        session_id, installment_id = _owner_of(payment_intent_id)
    if session_id is None:
        return None
    remote = get_gateway().list_refunds(payment_intent_id)
    # Another process may insert the same Stripe refund between our read and write: re-read once.
    retry_on_conflict(lambda: _sync_once(session_id, remote, event_id=event_id, installment_id=installment_id))
    return session_id


def _owner_of(payment_intent_id: str) -> tuple[str | None, str | None]:
    """(our payment session, installment or None) the payment intent belongs to.

    An installment's payment (a balance paid early included) is filed under its plan's session.
    """
    row = db.session.execute(
        sa.select(InstallmentPlan.payment_session_id, Installment.id)
        .join(InstallmentPlan, InstallmentPlan.id == Installment.plan_id)
        .where(Installment.payment_intent_id == payment_intent_id)
        .limit(1)
    ).first()
    if row is not None:
        return row[0], row[1]
    session_id = db.session.scalar(
        sa.select(PaymentSession.id)
        .where(PaymentSession.payment_intent_id == payment_intent_id)
        .order_by(sa.case((PaymentSession.status == PaymentSessionStatus.COMPLETED, 0), else_=1))
        .limit(1)
    )
    return session_id, None


def _sync_once(
    session_id: str, remote: list[RefundInfo], *, event_id: str | None, installment_id: str | None = None
) -> None:
    with unit_of_work():
        session = db.session.get(PaymentSession, session_id)
        enrollment_id = session.enrollment_id
        if enrollment_id is None:
            enrollment_id = db.session.scalar(
                sa.select(Enrollment.id).where(Enrollment.payment_session_id == session_id)
            )
        enrollment = lock_enrollment(enrollment_id) if enrollment_id else None
        if enrollment is None:
            db.session.scalar(sa.select(PaymentSession).where(PaymentSession.id == session_id).with_for_update())
        for info in remote:
            refund = _mirror(info, session_id=session_id, enrollment=enrollment, event_id=event_id)
            if installment_id and refund.installment_id is None:
                refund.installment_id = installment_id
        db.session.flush()
        installment = db.session.get(Installment, installment_id) if installment_id else None
        if installment is not None:
            update_installment_refunded(installment)
        if enrollment is not None:
            apply_refund_statuses(enrollment, actor="stripe", event_id=event_id)
        queue_refund_notices(session_id)


def _mirror(info: RefundInfo, *, session_id: str, enrollment: Enrollment | None, event_id: str | None) -> Refund:
    """One Stripe refund into our row: created (made at Stripe) or brought up to date."""
    refund = db.session.scalar(
        sa.select(Refund).where(Refund.stripe_refund_id == info.id).execution_options(populate_existing=True)
    )
    ours = info.metadata.get("refund_id")
    if refund is None and ours:
        refund = db.session.get(Refund, ours)
    status = refund_status_of(info)
    if refund is None:
        refund = Refund(
            id=new_id(),
            enrollment_id=enrollment.id if enrollment else None,
            payment_session_id=session_id,
            stripe_refund_id=info.id,
            amount=info.amount,
            currency=info.currency,
            reason=info.metadata.get("reason") or "Refunded at Stripe",
            failure_reason=info.failure_reason,
            created_by="stripe",
        )
        db.session.add(refund)
        move_refund(
            refund,
            status,
            action="refund.synced",
            actor="stripe",
            event_id=event_id,
            amount=info.amount,
            currency=info.currency,
            stripe_refund_id=info.id,
            stripe_status=info.status,
        )
        return refund
    if refund.status != status or refund.stripe_refund_id != info.id or refund.failure_reason != info.failure_reason:
        previous = refund.status
        refund.stripe_refund_id = info.id
        refund.failure_reason = info.failure_reason
        move_refund(
            refund,
            status,
            action="refund.updated",
            actor="stripe",
            event_id=event_id,
            always_record=True,
            status_before=previous,
            status=status,
            stripe_refund_id=info.id,
        )
    return refund
