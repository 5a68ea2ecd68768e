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
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Coupon, Course, Enrollment, PaymentSession, User
from webapp.models.base import new_id, utcnow
from webapp.models.enums import EnrollmentSource, EnrollmentStatus, PaymentSessionStatus, PaymentStatus
from webapp.payments.gateway import CheckoutSession, GatewayError, get_gateway
from webapp.services import audit
from webapp.services.catalog import ACCESS_STATUSES
from webapp.services.mail import queue_enrollment_confirmation
from webapp.services.pricing import PriceBreakdown

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


def _grant(
    *,
    user_id: str,
    course: Course,
    payment_session: PaymentSession | None,
    source: str,
    payment_status: str,
    amount_paid: int,
    discount: int,
    coupon_id: str | None,
) -> tuple[Enrollment, bool]:
    """Creates the enrollment, or re-opens a cancelled/refunded one for a new payment.

    Returns it with whether the learner already had access (that enrollment, left as it is).
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
    enrollment.status = EnrollmentStatus.ACTIVE
    enrollment.payment_status = payment_status
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
    db.session.flush()
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
    """Marks the locked PENDING/PROCESSING session COMPLETED and grants access (same transaction)."""
    course = db.session.get(Course, session.course_id)
    enrollment, had_access = _grant(
        user_id=session.user_id,
        course=course,
        payment_session=session,
        source=source,
        payment_status=payment_status,
        amount_paid=session.final_amount,
        discount=session.discount_amount,
        coupon_id=session.coupon_id,
    )
    session.status = PaymentSessionStatus.COMPLETED
    session.completed_at = utcnow()
    session.enrollment_id = enrollment.id
    if payment_intent_id:
        session.payment_intent_id = payment_intent_id
    _consume_coupon(session.coupon_id)
    audit.record(
        "payment_session.completed",
        entity_type="payment_session",
        entity_id=session.id,
        actor=actor,
        payment_session_id=session.id,
        enrollment_id=enrollment.id,
        stripe_event_id=event_id,
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
    else:
        audit.record(
            "enrollment.created",
            entity_type="enrollment",
            entity_id=enrollment.id,
            actor=actor,
            payment_session_id=session.id,
            enrollment_id=enrollment.id,
            stripe_event_id=event_id,
            source=source,
        )
        queue_enrollment_confirmation(enrollment, session)
    return enrollment


def fulfill_checkout(
    stripe_session_id: str,
    *,
    actor: str,
    event_id: str | None = None,
    remote: CheckoutSession | None = None,
) -> Fulfillment:
    """Idempotently fulfils a Stripe Checkout Session (SPEC §6 "Rules").

    Requires Stripe's `payment_status` to be `paid` or `no_payment_required`, and the
    amount and currency to match our row (a mismatch is flagged in the audit log and
    never enrolled). A complete-but-unpaid session (bank transfer) becomes PROCESSING.
    Raises GatewayError subclasses when Stripe cannot be read (callers retry).
    """
    remote = remote or get_gateway().retrieve_checkout_session(stripe_session_id)
    for attempt in range(2):
        try:
            return _fulfill_once(remote, actor=actor, event_id=event_id)
        except IntegrityError:
            # Another process inserted the enrollment between our read and write; re-read.
            db.session.rollback()
            if attempt:
                raise
    raise AssertionError("unreachable")


def _fulfill_once(remote: CheckoutSession, *, actor: str, event_id: str | None) -> Fulfillment:
    found = find_payment_session(remote)
    if found is None:
        db.session.rollback()
        return Fulfillment(None, None, "UNKNOWN", detail="not our session")
    session = lock_payment_session(found.id)
    card = (remote.card_brand, remote.card_last4)
    if session.stripe_session_id is None:
        session.stripe_session_id = remote.id
    if session.status == PaymentSessionStatus.COMPLETED:
        enrollment = db.session.get(Enrollment, session.enrollment_id) if session.enrollment_id else None
        db.session.commit()
        return Fulfillment(session, enrollment, session.status, *card)
    if remote.mode != "payment":
        db.session.rollback()
        return Fulfillment(session, None, session.status, detail="not a payment session")
    if remote.status != "complete":
        db.session.commit()
        return Fulfillment(session, None, session.status, *card)
    if remote.payment_status not in PAID_STATES:
        if remote.payment_intent_status in ASYNC_FAILED_STATES:
            # The bank transfer failed: the same outcome as `async_payment_failed`, so the
            # success page says so (and the hold is released) even if that webhook is late.
            mark_failed(session, actor=actor, event_id=event_id, reason="async_payment_failed")
            db.session.commit()
            return Fulfillment(session, None, session.status, *card)
        if session.status == PaymentSessionStatus.PENDING:
            session.status = PaymentSessionStatus.PROCESSING
            if remote.payment_intent_id:
                session.payment_intent_id = remote.payment_intent_id
            audit.record(
                "payment_session.processing",
                entity_type="payment_session",
                entity_id=session.id,
                actor=actor,
                payment_session_id=session.id,
                stripe_event_id=event_id,
            )
        db.session.commit()
        return Fulfillment(session, None, session.status, *card)
    if remote.amount_total != session.final_amount or (remote.currency or "").lower() != session.currency:
        if session.failure_reason != "amount_mismatch":
            if session.status in (PaymentSessionStatus.PENDING, PaymentSessionStatus.PROCESSING):
                # FAILED, not left PENDING: the learner is told, and the coupon hold is released.
                session.status = PaymentSessionStatus.FAILED
            session.failure_reason = "amount_mismatch"
            audit.record(
                "payment_session.amount_mismatch",
                entity_type="payment_session",
                entity_id=session.id,
                actor=actor,
                payment_session_id=session.id,
                stripe_event_id=event_id,
                expected_amount=session.final_amount,
                expected_currency=session.currency,
                stripe_amount=remote.amount_total,
                stripe_currency=remote.currency,
            )
            log.error("amount mismatch, not enrolled", extra={"fields": {"payment_session_id": session.id}})
        db.session.commit()
        return Fulfillment(session, None, session.status, *card, detail="amount_mismatch")
    if session.status != PaymentSessionStatus.PENDING and session.status != PaymentSessionStatus.PROCESSING:
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
    source = EnrollmentSource.COUPON if session.final_amount == 0 else EnrollmentSource.PURCHASE
    payment_status = PaymentStatus.FREE if session.final_amount == 0 else PaymentStatus.PAID
    enrollment = _complete(
        session,
        actor=actor,
        event_id=event_id,
        payment_intent_id=remote.payment_intent_id,
        source=source,
        payment_status=payment_status,
    )
    db.session.commit()
    return Fulfillment(session, enrollment, session.status, *card)


def refresh_open_session(session: PaymentSession, *, actor: str) -> PaymentSession:
    """Brings a PENDING/PROCESSING session up to date with Stripe (fulfils it if paid).

    Best effort: when Stripe can't be reached the last known state is returned.
    """
    if session.status in (PaymentSessionStatus.PENDING, PaymentSessionStatus.PROCESSING) and session.stripe_session_id:
        try:
            fulfill_checkout(session.stripe_session_id, actor=actor)
        except GatewayError:
            db.session.rollback()
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
        status=PaymentSessionStatus.PENDING,
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
    db.session.flush()
    source = EnrollmentSource.COUPON if coupon else EnrollmentSource.FREE
    _complete(
        session, actor=user.id, event_id=None, payment_intent_id=None, source=source, payment_status=PaymentStatus.FREE
    )
    return session


def mark_failed(session: PaymentSession, *, actor: str, event_id: str | None, reason: str) -> bool:
    """PENDING/PROCESSING → FAILED (releases the coupon hold). Never touches a COMPLETED session."""
    if session.status not in (PaymentSessionStatus.PENDING, PaymentSessionStatus.PROCESSING):
        return False
    session.status = PaymentSessionStatus.FAILED
    session.failure_reason = reason[:500]
    audit.record(
        "payment_session.failed",
        entity_type="payment_session",
        entity_id=session.id,
        actor=actor,
        payment_session_id=session.id,
        stripe_event_id=event_id,
        reason=reason,
    )
    return True


def mark_expired(session: PaymentSession, *, actor: str, event_id: str | None) -> bool:
    """PENDING → EXPIRED (releases the coupon hold). Never touches a COMPLETED session."""
    if session.status != PaymentSessionStatus.PENDING:
        return False
    session.status = PaymentSessionStatus.EXPIRED
    audit.record(
        "payment_session.expired",
        entity_type="payment_session",
        entity_id=session.id,
        actor=actor,
        payment_session_id=session.id,
        stripe_event_id=event_id,
    )
    return True
