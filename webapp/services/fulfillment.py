"""Fulfillment: the one idempotent function that turns a paid checkout into an enrollment.

The success page, the webhook and reconciliation all call `fulfill_checkout`. It trusts
only Stripe's view of the session (re-read from Stripe unless the caller hands it a
session it just retrieved), locks our payment-session row, and moves it to COMPLETED at
most once; the enrollment's unique (user, course) key and the guarded transition make any
interleaving — duplicate or out-of-order events, retries, several processes — end with
one enrollment and one coupon use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Coupon, Course, Enrollment, PaymentSession, User
from webapp.models.base import new_id, utcnow
from webapp.models.enums import (
    OPEN_SESSION_STATUSES,
    EnrollmentSource,
    EnrollmentStatus,
    PaymentPlan,
    PaymentSessionStatus,
    PaymentStatus,
)
from webapp.payments.gateway import CheckoutSession, GatewayError, get_gateway
from webapp.services import audit
from webapp.services.catalog import ACCESS_STATUSES
from webapp.services.mail import queue_enrollment_confirmation
from webapp.services.plans.records import lock_plan, open_plan, settle_payoff
from webapp.services.plans.sync import ensure_schedule
from webapp.services.pricing import PriceBreakdown, session_split
from webapp.services.transactions import retry_on_conflict, unit_of_work
from webapp.services.transitions import move_enrollment, move_payment_session

log = logging.getLogger("webapp")

PAID_STATES = ("paid", "no_payment_required")
# A complete-but-unpaid (async) session whose payment intent is back to these has failed.
ASYNC_FAILED_STATES = ("requires_payment_method", "canceled")


@dataclass(frozen=True)
class Fulfillment:
    """What happened: `state` is the payment session's status after the call."""

    payment_session: PaymentSession | None
    enrollment: Enrollment | None
    state: str
    card_brand: str | None = None
    card_last4: str | None = None
    detail: str | None = None
    payment_method_type: str | None = None  # Stripe's type of the payment's method, when read
    installment_plan_id: str | None = None  # the plan this completed session opened or paid off


def find_payment_session_by(
    stripe_session_id: str, *, metadata: dict | None, client_reference_id: str | None
) -> PaymentSession | None:
    """Our row for a Stripe session: by its id, else by the ids we put in its metadata
    (events may arrive before we learned the session id)."""
    session = db.session.scalar(sa.select(PaymentSession).where(PaymentSession.stripe_session_id == stripe_session_id))
    if session is not None:
        return session
    ours = (metadata or {}).get("payment_session_id") or client_reference_id
    return db.session.get(PaymentSession, ours) if isinstance(ours, str) and ours else None


def find_payment_session(remote: CheckoutSession) -> PaymentSession | None:
    return find_payment_session_by(remote.id, metadata=remote.metadata, client_reference_id=remote.client_reference_id)


def lock_payment_session(session_id: str) -> PaymentSession | None:
    """Our payment-session row, locked FOR UPDATE and re-read (never a stale identity-map copy)."""
    return db.session.scalar(
        sa.select(PaymentSession)
        .where(PaymentSession.id == session_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _prepare_grant(
    *,
    user_id: str,
    course: Course,
    payment_session: PaymentSession | None,
    source: str,
    amount_paid: int,
    discount: int,
    coupon_id: str | None,
) -> tuple[Enrollment, bool]:
    """The enrollment a payment grants: a new one, or a cancelled/refunded one re-opened.

    Returns it with whether the learner already had access (that enrollment, left as it is).
    Its statuses are set afterwards by `_open_enrollment`, the transition with its audit entry.
    """
    enrollment = db.session.scalar(
        sa.select(Enrollment).where(Enrollment.user_id == user_id, Enrollment.course_id == course.id).with_for_update()
    )
    now = utcnow()
    if enrollment is None:
        enrollment = Enrollment(id=new_id(), user_id=user_id, course_id=course.id, enrolled_at=now)
        db.session.add(enrollment)
    elif enrollment.status in ACCESS_STATUSES:
        return enrollment, True
    enrollment.source = source
    enrollment.payment_session_id = payment_session.id if payment_session else None
    enrollment.amount_paid = amount_paid
    enrollment.discount_applied = discount
    enrollment.currency = course.currency
    enrollment.coupon_id = coupon_id
    enrollment.cancelled_at = None
    enrollment.enrolled_at = now
    enrollment.progress = enrollment.progress or 0
    enrollment.completed_lectures = enrollment.completed_lectures or 0
    return enrollment, False


def _consume_coupon(coupon_id: str | None) -> None:
    if coupon_id:
        db.session.execute(sa.update(Coupon).where(Coupon.id == coupon_id).values(current_uses=Coupon.current_uses + 1))


def _complete(
    session: PaymentSession,
    *,
    actor: str,
    event_id: str | None,
    payment_intent_id: str | None,
    source: str,
    payment_status: str,
) -> Enrollment:
    """Marks the locked session COMPLETED and grants access (same transaction)."""
    course = db.session.get(Course, session.course_id)
    enrollment, had_access = _prepare_grant(
        user_id=session.user_id,
        course=course,
        payment_session=session,
        source=source,
        amount_paid=session.final_amount,
        discount=session.discount_amount,
        coupon_id=session.coupon_id,
    )
    session.completed_at = utcnow()
    session.enrollment_id = enrollment.id
    if payment_intent_id:
        session.payment_intent_id = payment_intent_id
    move_payment_session(
        session,
        PaymentSessionStatus.COMPLETED,
        action="payment_session.completed",
        actor=actor,
        event_id=event_id,
        enrollment_id=enrollment.id,
        amount=session.final_amount,
        currency=session.currency,
        coupon_code=session.coupon_code,
    )
    if had_access and enrollment.payment_session_id != session.id:
        # A second payment for a course the learner already had: never silently kept.
        audit.record(
            "payment_session.duplicate_payment",
            entity_type="payment_session",
            entity_id=session.id,
            actor=actor,
            payment_session_id=session.id,
            enrollment_id=enrollment.id,
            stripe_event_id=event_id,
            note="learner already enrolled; refund this payment",
        )
    elif not had_access:
        move_enrollment(
            enrollment,
            to_status=EnrollmentStatus.ACTIVE,
            to_payment_status=payment_status,
            action="enrollment.created",
            actor=actor,
            event_id=event_id,
            payment_session_id=session.id,
            source=source,
        )
    db.session.flush()  # a concurrent enrollment of the same (user, course) fails here: IntegrityError
    _consume_coupon(session.coupon_id)
    if not had_access:
        queue_enrollment_confirmation(enrollment, session)
    return enrollment


def fulfill_checkout(
    stripe_session_id: str,
    *,
    actor: str,
    event_id: str | None = None,
    remote: CheckoutSession | None = None,
) -> Fulfillment:
    """Idempotently fulfils a Stripe Checkout Session.

    Requires Stripe's `payment_status` to be `paid` or `no_payment_required`, and the
    amount and currency to match our row (a mismatch is flagged in the audit log and
    never enrolled). A complete-but-unpaid session (bank transfer) becomes PROCESSING.
    Raises GatewayError subclasses when Stripe cannot be read (callers retry); pages and
    the API use `confirm_payment`, which turns that into the services' own error.
    """
    remote = remote or get_gateway().retrieve_checkout_session(stripe_session_id)
    # Another process may insert the enrollment between our read and write: re-read once.
    result = retry_on_conflict(lambda: _fulfill_once(remote, actor=actor, event_id=event_id))
    if result.installment_plan_id:
        # Installments: Stripe told to stop after the last one; a balance paid early: the
        # subscription cancelled. Best effort: every later sync retries it.
        ensure_schedule(result.installment_plan_id)
    return result


def _expected_charge(session: PaymentSession) -> tuple[str, int]:
    """The Checkout mode and amount Stripe must report for our row: the first installment of a plan."""
    split = session_split(session)
    return ("subscription", split.first) if split else ("payment", session.final_amount)


def _fulfill_once(remote: CheckoutSession, *, actor: str, event_id: str | None) -> Fulfillment:
    with unit_of_work():
        found = find_payment_session(remote)
        if found is None:
            return Fulfillment(None, None, "UNKNOWN", detail="not our session")
        session = lock_payment_session(found.id)
        mode, amount = _expected_charge(session)
        if remote.mode != mode and session.status != PaymentSessionStatus.COMPLETED:
            return Fulfillment(session, None, session.status, detail="not a payment session")
        if session.stripe_session_id is None:
            session.stripe_session_id = remote.id
        card = (remote.card_brand, remote.card_last4)
        method = remote.payment_method_type
        if session.status == PaymentSessionStatus.COMPLETED:
            enrollment = db.session.get(Enrollment, session.enrollment_id) if session.enrollment_id else None
            return Fulfillment(
                session,
                enrollment,
                session.status,
                *card,
                payment_method_type=method,
                installment_plan_id=session.installment_plan_id,
            )
        if remote.status != "complete":
            return Fulfillment(session, None, session.status, *card, payment_method_type=method)
        if remote.payment_status not in PAID_STATES:
            _settling(session, remote, actor=actor, event_id=event_id)
            return Fulfillment(session, None, session.status, *card, payment_method_type=method)
        if remote.amount_total != amount or (remote.currency or "").lower() != session.currency:
            _flag_amount_mismatch(session, remote, actor=actor, event_id=event_id)
            return Fulfillment(
                session, None, session.status, *card, detail="amount_mismatch", payment_method_type=method
            )
        enrollment = _complete_paid(session, remote, actor=actor, event_id=event_id)
        return Fulfillment(
            session,
            enrollment,
            session.status,
            *card,
            payment_method_type=method,
            installment_plan_id=session.installment_plan_id,
        )


def _settling(session: PaymentSession, remote: CheckoutSession, *, actor: str, event_id: str | None) -> None:
    """Complete but not paid yet (a bank transfer): PROCESSING, or FAILED when the transfer failed."""
    if remote.payment_intent_status in ASYNC_FAILED_STATES:
        # The same outcome as `async_payment_failed`, so the success page says so (and the
        # hold is released) even if that webhook is late.
        mark_failed(session, actor=actor, event_id=event_id, reason="async_payment_failed")
        return
    if session.status == PaymentSessionStatus.PENDING:
        if remote.payment_intent_id:
            session.payment_intent_id = remote.payment_intent_id
        move_payment_session(
            session,
            PaymentSessionStatus.PROCESSING,
            action="payment_session.processing",
            actor=actor,
            event_id=event_id,
        )


def _flag_amount_mismatch(
    session: PaymentSession, remote: CheckoutSession, *, actor: str, event_id: str | None
) -> None:
    """Stripe charged another amount than ours: never enrolled, flagged once in the audit log."""
    if session.failure_reason == "amount_mismatch":
        return
    session.failure_reason = "amount_mismatch"
    # FAILED, not left PENDING: the learner is told, and the coupon hold is released.
    failed = PaymentSessionStatus.FAILED if session.status in OPEN_SESSION_STATUSES else session.status
    move_payment_session(
        session,
        failed,
        action="payment_session.amount_mismatch",
        actor=actor,
        event_id=event_id,
        always_record=True,
        expected_amount=session.final_amount,
        expected_currency=session.currency,
        stripe_amount=remote.amount_total,
        stripe_currency=remote.currency,
    )
    log.error("amount mismatch, not enrolled", extra={"fields": {"payment_session_id": session.id}})


def _complete_paid(session: PaymentSession, remote: CheckoutSession, *, actor: str, event_id: str | None) -> Enrollment:
    if session.status not in OPEN_SESSION_STATUSES:
        # Paid although we had cancelled or expired it (Stripe's expire raced the payment):
        # the money was taken, so the learner gets what they paid for.
        audit.record(
            "payment_session.paid_after_close",
            entity_type="payment_session",
            entity_id=session.id,
            actor=actor,
            payment_session_id=session.id,
            stripe_event_id=event_id,
            previous=session.status,
        )
    free = session.final_amount == 0
    if session.plan == PaymentPlan.PAYOFF and session.installment_plan_id:
        return _complete_payoff(session, remote, actor=actor, event_id=event_id)
    if session.plan == PaymentPlan.INSTALLMENTS and remote.subscription_id:
        return _complete_first_installment(session, remote, actor=actor, event_id=event_id)
    return _complete(
        session,
        actor=actor,
        event_id=event_id,
        payment_intent_id=remote.payment_intent_id,
        source=EnrollmentSource.COUPON if free else EnrollmentSource.PURCHASE,
        payment_status=PaymentStatus.FREE if free else PaymentStatus.PAID,
    )


def _complete_payoff(
    session: PaymentSession, remote: CheckoutSession, *, actor: str, event_id: str | None
) -> Enrollment | None:
    """A plan's balance paid early: the session COMPLETED and the plan settled (no new enrollment)."""
    plan = lock_plan(session.installment_plan_id)
    session.completed_at = utcnow()
    session.payment_intent_id = remote.payment_intent_id or session.payment_intent_id
    session.enrollment_id = plan.enrollment_id
    move_payment_session(
        session,
        PaymentSessionStatus.COMPLETED,
        action="payment_session.completed",
        actor=actor,
        event_id=event_id,
        enrollment_id=plan.enrollment_id,
        amount=session.final_amount,
        currency=session.currency,
        plan=session.plan,
    )
    return settle_payoff(plan, session, payment_intent_id=remote.payment_intent_id, actor=actor, event_id=event_id)


def _complete_first_installment(
    session: PaymentSession, remote: CheckoutSession, *, actor: str, event_id: str | None
) -> Enrollment:
    """The first installment paid: the enrollment (paying by plan) and its plan, in one transaction."""
    enrollment = _complete(
        session,
        actor=actor,
        event_id=event_id,
        payment_intent_id=None,
        source=EnrollmentSource.PURCHASE,
        payment_status=PaymentStatus.INSTALLMENTS,
    )
    split = session_split(session)
    open_plan(
        session,
        enrollment=enrollment,
        subscription_id=remote.subscription_id,
        first_invoice_id=remote.invoice_id,
        first_amount=split.first,
        regular_amount=split.regular,
        actor=actor,
        event_id=event_id,
    )
    return enrollment


def refresh_open_session(session: PaymentSession, *, actor: str) -> PaymentSession:
    """Brings a PENDING/PROCESSING session up to date with Stripe (fulfils it if paid).

    Best effort: when Stripe can't be reached the last known state is returned.
    """
    if session.status in OPEN_SESSION_STATUSES and session.stripe_session_id:
        try:
            fulfill_checkout(session.stripe_session_id, actor=actor)
        except GatewayError:
            pass  # fulfill_checkout left no transaction open: the Stripe read comes first
        session = db.session.get(PaymentSession, session.id, populate_existing=True)
    return session


def enroll_without_payment(
    *,
    user: User,
    course: Course,
    coupon: Coupon | None,
    breakdown: PriceBreakdown,
    metadata: dict | None = None,
) -> PaymentSession:
    """A free course or a 100 %-off coupon: a COMPLETED session with final 0, no Stripe.

    Runs inside the caller's transaction (which holds the learner's and coupon's locks).
    """
    session = PaymentSession(
        id=new_id(),
        user_id=user.id,
        course_id=course.id,
        amount=breakdown.original,
        currency=course.currency,
        discount_amount=breakdown.discount,
        final_amount=0,
        coupon_id=coupon.id if coupon else None,
        coupon_code=coupon.code if coupon else None,
        metadata_=metadata or {},
        expires_at=utcnow(),
    )
    db.session.add(session)
    db.session.flush()  # created PENDING (the column's default), then completed at once
    source = EnrollmentSource.COUPON if coupon else EnrollmentSource.FREE
    _complete(
        session, actor=user.id, event_id=None, payment_intent_id=None, source=source, payment_status=PaymentStatus.FREE
    )
    return session


def mark_failed(session: PaymentSession, *, actor: str, event_id: str | None, reason: str) -> bool:
    """PENDING/PROCESSING → FAILED (releases the coupon hold). Never touches a COMPLETED session."""
    if session.status not in OPEN_SESSION_STATUSES:
        return False
    session.failure_reason = reason[:500]
    return move_payment_session(
        session,
        PaymentSessionStatus.FAILED,
        action="payment_session.failed",
        actor=actor,
        event_id=event_id,
        reason=reason,
    )


def mark_expired(session: PaymentSession, *, actor: str, event_id: str | None) -> bool:
    """PENDING → EXPIRED (releases the coupon hold). Never touches a COMPLETED session."""
    if session.status != PaymentSessionStatus.PENDING:
        return False
    return move_payment_session(
        session, PaymentSessionStatus.EXPIRED, action="payment_session.expired", actor=actor, event_id=event_id
    )
