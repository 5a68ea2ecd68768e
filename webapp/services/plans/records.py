"""Installment plans in our database: opened by the first payment, moved by Stripe's invoices.

Everything here runs inside the caller's transaction with the plan's row locked
(`lock_plan`), and reads nothing from Stripe: callers hand it the Stripe objects they just
read. An invoice is recorded once (its id is unique on `installments`); a paid invoice
counts once (the installment's OPEN → PAID move); so any order or duplication of events,
the success page and reconciliation give the same plan.

Access follows the plan: ACTIVE (and the enrollment ACTIVE, payment INSTALLMENTS), a failed
installment makes it PAST_DUE (payment PAST_DUE, access kept), past due beyond the grace
period PAUSED (enrollment PAUSED: no access), paid again ACTIVE; the last installment makes
it PAID (payment PAID); Stripe giving up (subscription canceled with installments unpaid)
or an admin cancelling ends it CANCELED (enrollment CANCELLED unless access is kept).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import Enrollment, Installment, InstallmentPlan, PaymentSession
from webapp.models.base import new_id, utcnow
from webapp.models.enums import (
    EnrollmentStatus,
    InstallmentStatus,
    PaymentStatus,
    PlanStatus,
)
from webapp.payments.objects import Invoice, Subscription
from webapp.services import audit
from webapp.services.transitions import move_enrollment, move_installment, move_plan

log = logging.getLogger("webapp")


def at(timestamp: int | None) -> datetime | None:
    """A Stripe timestamp as an aware datetime."""
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


def _note(plan: InstallmentPlan, action: str, *, actor: str, event_id: str | None, **details) -> None:
    """An audit entry about the plan that is not a status move (those are `transitions`')."""
    audit.record(
        action,
        entity_type="installment_plan",
        entity_id=plan.id,
        actor=actor,
        payment_session_id=plan.payment_session_id,
        enrollment_id=plan.enrollment_id,
        stripe_event_id=event_id,
        **details,
    )


def lock_plan(plan_id: str) -> InstallmentPlan | None:
    return db.session.scalar(
        sa.select(InstallmentPlan)
        .where(InstallmentPlan.id == plan_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def plan_for_subscription(subscription_id: str | None) -> InstallmentPlan | None:
    if not subscription_id:
        return None
    return db.session.scalar(
        sa.select(InstallmentPlan).where(InstallmentPlan.stripe_subscription_id == subscription_id)
    )


def installments_of(plan_id: str) -> list[Installment]:
    return list(
        db.session.scalars(sa.select(Installment).where(Installment.plan_id == plan_id).order_by(Installment.sequence))
    )


def _add_installment(plan: InstallmentPlan, sequence: int, amount: int, **fields) -> Installment:
    """A new installment row of the plan (its status is set by the caller's move from None)."""
    row = Installment(id=new_id(), plan_id=plan.id, sequence=sequence, amount=amount, currency=plan.currency, **fields)
    db.session.add(row)
    return row


def _next_sequence(plan_id: str) -> int:
    taken = db.session.scalar(sa.select(sa.func.max(Installment.sequence)).where(Installment.plan_id == plan_id))
    return (taken or 0) + 1


def open_plan(
    session: PaymentSession,
    *,
    enrollment: Enrollment,
    subscription_id: str,
    first_invoice_id: str | None,
    first_amount: int,
    regular_amount: int,
    actor: str,
    event_id: str | None,
) -> InstallmentPlan:
    """The plan of a just-paid installment checkout, with its first installment PAID.

    Called by fulfillment with the payment session locked, once per session (the session
    moves to COMPLETED in the same transaction; `payment_session_id` is unique besides).
    """
    now = utcnow()
    plan = InstallmentPlan(
        id=new_id(),
        user_id=session.user_id,
        course_id=session.course_id,
        payment_session_id=session.id,
        enrollment_id=enrollment.id,
        currency=session.currency,
        total_amount=session.final_amount,
        installment_count=session.installment_count,
        first_amount=first_amount,
        installment_amount=regular_amount,
        paid_count=0,
        amount_paid=0,
        stripe_customer_id=session.stripe_customer_id,
        stripe_subscription_id=subscription_id,
    )
    db.session.add(plan)
    move_plan(
        plan,
        PlanStatus.ACTIVE,
        action="installment_plan.opened",
        actor=actor,
        event_id=event_id,
        subscription=subscription_id,
        installments=plan.installment_count,
        total=plan.total_amount,
        currency=plan.currency,
    )
    db.session.flush()
    session.installment_plan_id = plan.id
    first = _add_installment(
        plan, 1, first_amount, stripe_invoice_id=first_invoice_id, invoiced_at=now, attempt_count=1
    )
    _mark_paid(plan, first, paid_at=now, amount=first_amount, actor=actor, event_id=event_id)
    return plan


def _mark_paid(
    plan: InstallmentPlan,
    installment: Installment,
    *,
    paid_at: datetime,
    amount: int,
    actor: str,
    event_id: str | None,
) -> None:
    """Counts one paid installment (once: the move to PAID happens once) and what it brings."""
    installment.paid_at = paid_at
    installment.next_attempt_at = None
    if amount != installment.amount:
        _note(
            plan,
            "installment.amount_differs",
            actor=actor,
            event_id=event_id,
            expected=installment.amount,
            paid=amount,
            invoice=installment.stripe_invoice_id,
        )
        installment.amount = amount
    move_installment(
        installment, InstallmentStatus.PAID, plan=plan, action="installment.paid", actor=actor, event_id=event_id
    )
    db.session.flush()
    plan.paid_count += 1
    plan.amount_paid += amount
    enrollment = _enrollment_paid_by(plan)
    if enrollment is not None:
        enrollment.amount_paid = plan.amount_paid
    if plan.paid_count >= plan.installment_count or plan.amount_paid >= plan.total_amount:
        _paid_in_full(plan, enrollment, actor=actor, event_id=event_id)
    elif not _has_failed_open(plan.id):
        _back_in_good_standing(plan, enrollment, actor=actor, event_id=event_id)


def _enrollment_of(plan: InstallmentPlan) -> Enrollment | None:
    return db.session.get(Enrollment, plan.enrollment_id) if plan.enrollment_id else None


def _enrollment_paid_by(plan: InstallmentPlan) -> Enrollment | None:
    """The plan's enrollment when the plan pays for it (not access the learner had from another payment)."""
    enrollment = _enrollment_of(plan)
    return enrollment if enrollment is not None and enrollment.payment_session_id == plan.payment_session_id else None


def _has_failed_open(plan_id: str) -> bool:
    return bool(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Installment)
            .where(
                Installment.plan_id == plan_id,
                Installment.status == InstallmentStatus.OPEN,
                Installment.failed_at.is_not(None),
            )
        )
    )


def _paid_in_full(plan: InstallmentPlan, enrollment: Enrollment | None, *, actor: str, event_id: str | None) -> None:
    plan.next_due_at = None
    plan.past_due_since = None
    plan.ended_at = plan.ended_at or utcnow()
    move_plan(
        plan,
        PlanStatus.PAID,
        action="installment_plan.paid_in_full",
        actor=actor,
        event_id=event_id,
        amount_paid=plan.amount_paid,
        installments_paid=plan.paid_count,
    )
    if enrollment is None:
        return
    # A refund already made keeps its payment status (PARTIALLY_REFUNDED says more than PAID).
    paying = enrollment.payment_status in (PaymentStatus.INSTALLMENTS, PaymentStatus.PAST_DUE)
    move_enrollment(
        enrollment,
        to_status=_resumed_status(enrollment),
        to_payment_status=PaymentStatus.PAID if paying else None,
        action="enrollment.paid_in_full",
        actor=actor,
        event_id=event_id,
        payment_session_id=plan.payment_session_id,
    )


def _resumed_status(enrollment: Enrollment) -> EnrollmentStatus | None:
    """What a paused enrollment goes back to (None: it isn't paused, leave it)."""
    if enrollment.status != EnrollmentStatus.PAUSED:
        return None
    return EnrollmentStatus.COMPLETED if enrollment.completed_at else EnrollmentStatus.ACTIVE


def _back_in_good_standing(
    plan: InstallmentPlan, enrollment: Enrollment | None, *, actor: str, event_id: str | None
) -> None:
    if plan.status not in (PlanStatus.PAST_DUE, PlanStatus.PAUSED):
        return
    plan.past_due_since = None
    plan.paused_at = None
    move_plan(plan, PlanStatus.ACTIVE, action="installment_plan.resumed", actor=actor, event_id=event_id)
    if enrollment is None:
        return
    move_enrollment(
        enrollment,
        to_status=_resumed_status(enrollment),
        to_payment_status=PaymentStatus.INSTALLMENTS if enrollment.payment_status == PaymentStatus.PAST_DUE else None,
        action="enrollment.resumed",
        actor=actor,
        event_id=event_id,
        payment_session_id=plan.payment_session_id,
    )


def apply_invoice(plan: InstallmentPlan, invoice: Invoice, *, actor: str, event_id: str | None, now: datetime) -> str:
    """Records one of the plan's invoices as Stripe reports it; returns what happened.

    New invoices get the next sequence number. Paid → the installment counts (once).
    Open after a failed attempt → the plan is past due since the invoice's date. Void or
    uncollectible → the installment is VOID. A draft, or an open invoice not yet tried,
    is only recorded.
    """
    installment = db.session.scalar(sa.select(Installment).where(Installment.stripe_invoice_id == invoice.id))
    if installment is None:
        installment = _new_installment(plan, invoice, actor=actor, event_id=event_id)
        if installment is None:
            return "beyond_plan"
    if invoice.payment_intent_id and not installment.payment_intent_id:
        installment.payment_intent_id = invoice.payment_intent_id
    installment.attempt_count = max(installment.attempt_count, invoice.attempt_count)
    if installment.status == InstallmentStatus.PAID:
        return "already_paid"
    if invoice.status == "paid":
        _mark_paid(
            plan,
            installment,
            paid_at=at(invoice.paid_at) or now,
            amount=invoice.amount_paid,
            actor=actor,
            event_id=event_id,
        )
        return "paid"
    if invoice.status in ("void", "uncollectible"):
        move_installment(
            installment,
            InstallmentStatus.VOID,
            plan=plan,
            action="installment.void",
            actor=actor,
            event_id=event_id,
            invoice_status=invoice.status,
        )
        return "void"
    if invoice.status == "open" and invoice.attempt_count > 0:
        installment.next_attempt_at = at(invoice.next_payment_attempt)
        _failed(plan, installment, invoice, actor=actor, event_id=event_id)
        return "failed"
    return "recorded"


def _new_installment(
    plan: InstallmentPlan, invoice: Invoice, *, actor: str, event_id: str | None
) -> Installment | None:
    """The row of an invoice seen for the first time (None: more invoices than the plan has)."""
    if invoice.billing_reason == "subscription_create":
        first = db.session.scalar(
            sa.select(Installment).where(Installment.plan_id == plan.id, Installment.sequence == 1)
        )
        if first is not None:  # recorded with the checkout, perhaps before its invoice id was known
            first.stripe_invoice_id = first.stripe_invoice_id or invoice.id
            return first
        sequence = 1
    else:
        sequence = max(_next_sequence(plan.id), 2)
    if sequence > plan.installment_count:
        # Never expected: the schedule ends the subscription after the last installment.
        _note(
            plan,
            "installment_plan.invoice_beyond_plan",
            actor=actor,
            event_id=event_id,
            invoice=invoice.id,
            invoice_status=invoice.status,
            amount=invoice.amount_due,
        )
        log.error("invoice beyond the installment plan", extra={"fields": {"plan_id": plan.id, "invoice": invoice.id}})
        return None
    installment = _add_installment(
        plan,
        sequence,
        plan.amount_of(sequence),
        stripe_invoice_id=invoice.id,
        payment_intent_id=invoice.payment_intent_id,
        invoiced_at=at(invoice.created),
    )
    move_installment(
        installment, InstallmentStatus.OPEN, plan=plan, action="installment.invoiced", actor=actor, event_id=event_id
    )
    db.session.flush()
    return installment


def _failed(
    plan: InstallmentPlan, installment: Installment, invoice: Invoice, *, actor: str, event_id: str | None
) -> None:
    first_failure = installment.failed_at is None
    installment.failed_at = installment.failed_at or at(invoice.created)
    if first_failure:
        _note(
            plan,
            "installment.failed",
            actor=actor,
            event_id=event_id,
            installment_id=installment.id,
            sequence=installment.sequence,
            invoice=invoice.id,
            attempts=invoice.attempt_count,
        )
    if plan.status != PlanStatus.ACTIVE:
        return
    plan.past_due_since = installment.failed_at
    move_plan(
        plan,
        PlanStatus.PAST_DUE,
        action="installment_plan.past_due",
        actor=actor,
        event_id=event_id,
        invoice=invoice.id,
    )
    enrollment = _enrollment_paid_by(plan)
    if enrollment is not None and enrollment.payment_status == PaymentStatus.INSTALLMENTS:
        move_enrollment(
            enrollment,
            to_payment_status=PaymentStatus.PAST_DUE,
            action="enrollment.past_due",
            actor=actor,
            event_id=event_id,
            payment_session_id=plan.payment_session_id,
        )


def grace_period() -> timedelta:
    return timedelta(days=int(current_app.config.get("INSTALLMENT_GRACE_DAYS", 7)))


def pause_if_overdue(plan: InstallmentPlan, *, now: datetime, actor: str, event_id: str | None) -> bool:
    """PAST_DUE for longer than the grace period (at `now`, Stripe's time) → PAUSED, access paused."""
    if plan.status != PlanStatus.PAST_DUE or plan.past_due_since is None:
        return False
    if now < plan.past_due_since + grace_period():
        return False
    plan.paused_at = now
    move_plan(
        plan,
        PlanStatus.PAUSED,
        action="installment_plan.paused",
        actor=actor,
        event_id=event_id,
        past_due_since=plan.past_due_since.isoformat(),
    )
    enrollment = _enrollment_paid_by(plan)
    if enrollment is not None and enrollment.status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED):
        move_enrollment(
            enrollment,
            to_status=EnrollmentStatus.PAUSED,
            action="enrollment.paused",
            actor=actor,
            event_id=event_id,
            payment_session_id=plan.payment_session_id,
        )
    return True


def end_plan(
    plan: InstallmentPlan, *, reason: str, actor: str, event_id: str | None, keep_access: bool = False
) -> bool:
    """A plan ended before it was paid in full: CANCELED, access ends unless `keep_access`."""
    if plan.status not in (PlanStatus.ACTIVE, PlanStatus.PAST_DUE, PlanStatus.PAUSED):
        return False
    plan.ended_at = utcnow()
    plan.end_reason = reason[:64]
    plan.next_due_at = None
    move_plan(
        plan,
        PlanStatus.CANCELED,
        action="installment_plan.ended",
        actor=actor,
        event_id=event_id,
        reason=reason,
        amount_paid=plan.amount_paid,
        installments_paid=plan.paid_count,
        keep_access=keep_access,
    )
    enrollment = _enrollment_paid_by(plan)
    if enrollment is None:
        return True
    if keep_access:
        move_enrollment(
            enrollment,
            to_status=_resumed_status(enrollment),
            action="enrollment.access_kept",
            actor=actor,
            event_id=event_id,
            payment_session_id=plan.payment_session_id,
            always_record=True,
        )
    elif enrollment.status != EnrollmentStatus.CANCELLED:
        enrollment.cancelled_at = utcnow()
        move_enrollment(
            enrollment,
            to_status=EnrollmentStatus.CANCELLED,
            action="enrollment.plan_ended",
            actor=actor,
            event_id=event_id,
            payment_session_id=plan.payment_session_id,
            reason=reason,
        )
    return True


def follow_subscription(
    plan: InstallmentPlan, subscription: Subscription, *, actor: str, event_id: str | None
) -> str | None:
    """What the subscription's state means for the plan: its next due date, or its end."""
    if subscription.status == "canceled" or subscription.status == "unpaid":
        if plan.status in (PlanStatus.PAID, PlanStatus.CANCELED):
            return None
        end_plan(plan, reason=f"subscription_{subscription.status}", actor=actor, event_id=event_id)
        return "ended"
    if plan.status in (PlanStatus.ACTIVE, PlanStatus.PAST_DUE, PlanStatus.PAUSED):
        plan.next_due_at = at(subscription.current_period_end)
    return None


def settle_payoff(
    plan: InstallmentPlan, session: PaymentSession, *, payment_intent_id: str | None, actor: str, event_id: str | None
) -> Enrollment | None:
    """The remaining balance paid early (a "payoff" payment session): one installment row for it,
    the plan PAID. Open installments will not be collected (the subscription is cancelled
    after this commits: `sync.ensure_schedule` on a PAID plan not yet bounded)."""
    remaining = plan.remaining_amount
    if plan.status in (PlanStatus.PAID, PlanStatus.CANCELED) or remaining <= 0:
        _note(
            plan,
            "installment_plan.payoff_not_needed",
            actor=actor,
            event_id=event_id,
            payment_session=session.id,
            paid=session.final_amount,
            note="the plan was already settled; refund this payment",
        )
        return _enrollment_of(plan)
    for row in installments_of(plan.id):
        if row.status == InstallmentStatus.OPEN:
            move_installment(
                row,
                InstallmentStatus.VOID,
                plan=plan,
                action="installment.void",
                actor=actor,
                event_id=event_id,
                reason="balance_paid",
            )
    row = _add_installment(
        plan,
        _next_sequence(plan.id),
        remaining,
        payment_intent_id=payment_intent_id,
        payment_session_id=session.id,
        invoiced_at=utcnow(),
        attempt_count=1,
    )
    plan.schedule_ready = False  # the subscription must now be cancelled, whatever its schedule says
    if session.final_amount != remaining:
        _note(
            plan,
            "installment_plan.payoff_amount_differs",
            actor=actor,
            event_id=event_id,
            payment_session=session.id,
            paid=session.final_amount,
            remaining=remaining,
        )
    _mark_paid(plan, row, paid_at=utcnow(), amount=session.final_amount, actor=actor, event_id=event_id)
    return _enrollment_of(plan)
