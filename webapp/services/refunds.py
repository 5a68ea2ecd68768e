"""Refunds: an admin's refund of a paid enrollment, and keeping refunds in step with Stripe.

What may move money: `issue_refund` sends money back to the learner's card through Stripe,
at most what remains refundable, exactly once per rendered refund form (its request token
is both our `refunds.idempotency_key` and Stripe's idempotency key, and the enrollment row
is locked while Stripe is asked). `sync_refunds_for_payment_intent` never moves money: it
re-reads Stripe's refunds of a payment and mirrors them, including refunds made directly in
Stripe's dashboard.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Enrollment, PaymentSession, Refund
from webapp.models.base import new_id
from webapp.models.enums import EnrollmentStatus, PaymentSessionStatus, PaymentStatus, RefundStatus
from webapp.payments.gateway import GatewayError, PaymentRejected, RefundInfo, StripeUnavailable, get_gateway
from webapp.services import audit
from webapp.services.errors import Conflict, NotFound, PaymentProviderUnavailable, ServiceError, ValidationFailed
from webapp.services.money import format_money, parse_major_amount

log = logging.getLogger("webapp")

#: Refunds that count against what remains refundable (a failed or canceled one gives it back).
OPEN_OR_DONE = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)

_STRIPE_STATUS = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.CANCELED,
}

MAX_REASON_LENGTH = 500

#: Stripe's refusals that mean our idea of what remains is out of date.
STALE_REMAINDER_CODES = ("amount_too_large", "charge_already_refunded")


def refund_key(enrollment_id: str, request_token: str) -> str:
    """The idempotency key of one rendered refund form for one enrollment."""
    return f"refund:{enrollment_id}:{request_token}"


def _status_of(info: RefundInfo) -> str:
    return _STRIPE_STATUS.get(info.status, RefundStatus.PENDING)


def _lock_enrollment(enrollment_id: str) -> Enrollment | None:
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
    twice for a course they had), each with what remains refundable of it."""
    sessions = db.session.scalars(
        sa.select(PaymentSession).where(
            PaymentSession.enrollment_id == enrollment.id,
            PaymentSession.status == "COMPLETED",
            PaymentSession.final_amount > 0,
            PaymentSession.id != (enrollment.payment_session_id or ""),
        )
    ).all()
    result = []
    for session in sessions:
        succeeded, pending = refunded_amounts(session.id)
        result.append((session, max(session.final_amount - succeeded - pending, 0)))
    return result


def _apply_statuses(enrollment: Enrollment, *, actor: str, event_id: str | None) -> None:
    """Enrollment and payment status from the succeeded refunds (guarded, so re-running is a no-op)."""
    if not enrollment.payment_session_id or enrollment.amount_paid <= 0:
        return
    if enrollment.payment_status in (PaymentStatus.DISPUTED, PaymentStatus.DISPUTE_LOST):
        return  # a chargeback decides these; its events move them on
    succeeded, _pending = refunded_amounts(enrollment.payment_session_id)
    before = (enrollment.status, enrollment.payment_status)
    if succeeded >= enrollment.amount_paid:
        enrollment.payment_status = PaymentStatus.REFUNDED
        enrollment.status = EnrollmentStatus.REFUNDED
    elif succeeded > 0:
        enrollment.payment_status = PaymentStatus.PARTIALLY_REFUNDED
    else:
        enrollment.payment_status = PaymentStatus.PAID
    if enrollment.status == EnrollmentStatus.REFUNDED and succeeded < enrollment.amount_paid:
        # A refund Stripe later reported failed gives the access back.
        enrollment.status = EnrollmentStatus.ACTIVE
    after = (enrollment.status, enrollment.payment_status)
    if after != before:
        audit.record(
            "enrollment.refund_status_changed",
            entity_type="enrollment",
            entity_id=enrollment.id,
            actor=actor,
            payment_session_id=enrollment.payment_session_id,
            enrollment_id=enrollment.id,
            stripe_event_id=event_id,
            status_before=before[0],
            status=after[0],
            payment_status_before=before[1],
            payment_status=after[1],
            refunded=succeeded,
        )


def _gateway_failure(exc: GatewayError) -> ServiceError:
    if isinstance(exc, PaymentRejected):
        detail = getattr(exc, "user_message", None) or "Stripe refused the refund."
        return ServiceError(f"Stripe refused the refund: {detail}", code="refund_refused")
    if isinstance(exc, StripeUnavailable):
        return PaymentProviderUnavailable(
            "We couldn't reach Stripe, so no refund was made. Please try again in a minute."
        )
    return PaymentProviderUnavailable(exc.user_message)


def issue_refund(
    enrollment_id: str,
    *,
    amount_text: str,
    reason: str,
    admin_id: str,
    request_token: str,
    payment_session_id: str | None = None,
) -> Refund:
    """Refunds (part of) a paid enrollment through Stripe and records Stripe's answer.

    `amount_text` is what the admin typed in the currency's major unit ("10.00"); empty
    means all that remains refundable. `reason` is required. Never refunds more than the
    amount paid minus succeeded and pending refunds. Idempotent per `request_token`: a
    repeated submit of the same form returns the first refund (one Stripe refund, one row),
    even when the submits race (the enrollment row is locked on PostgreSQL).

    A full refund makes the enrollment REFUNDED (access removed) with payment status
    REFUNDED; a partial one PARTIALLY_REFUNDED. Raises ValidationFailed for bad input,
    NotFound for an unknown enrollment, Conflict when nothing is refundable, ServiceError /
    PaymentProviderUnavailable when Stripe refuses or is unreachable (nothing changed).

    `payment_session_id` names one of `extra_payments(enrollment)` — a second payment for a
    course the learner already had — to refund that payment instead; the enrollment's own
    status is then left alone (its access was granted by the other payment).
    """
    token = (request_token or "").strip()
    if not token or len(token) > 128:
        raise ValidationFailed("This refund form has expired; reload the page and try again.", field="request_token")
    key = refund_key(enrollment_id, token)
    existing = db.session.scalar(sa.select(Refund).where(Refund.idempotency_key == key))
    if existing is not None:
        return existing
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Give a reason for the refund.", field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationFailed(f"Keep the reason under {MAX_REASON_LENGTH} characters.", field="reason")

    enrollment = _lock_enrollment(enrollment_id)
    if enrollment is None:
        db.session.rollback()
        raise NotFound("That enrollment does not exist.")
    # A concurrent submit of the same form may have committed while we waited for the lock.
    existing = db.session.scalar(
        sa.select(Refund).where(Refund.idempotency_key == key).execution_options(populate_existing=True)
    )
    if existing is not None:
        db.session.commit()
        return existing
    if payment_session_id and payment_session_id != enrollment.payment_session_id:
        extra = {s.id: left for s, left in extra_payments(enrollment)}
        if payment_session_id not in extra:
            db.session.rollback()
            raise NotFound("That payment does not belong to this enrollment.")
        session = db.session.get(PaymentSession, payment_session_id)
        remaining = extra[payment_session_id]
        grants_access = False
    else:
        session = (
            db.session.get(PaymentSession, enrollment.payment_session_id) if enrollment.payment_session_id else None
        )
        remaining = refundable_amount(enrollment)
        grants_access = True
    if session is None or session.final_amount <= 0 or not session.payment_intent_id:
        db.session.rollback()
        raise Conflict("This enrollment has no card payment to refund.", code="nothing_to_refund")
    if remaining <= 0:
        db.session.rollback()
        raise Conflict("This payment has already been refunded in full.", code="nothing_to_refund")
    currency = session.currency
    if (amount_text or "").strip():
        try:
            amount = parse_major_amount(amount_text, currency)
        except ValueError as exc:
            db.session.rollback()
            raise ValidationFailed(str(exc), field="amount") from None
    else:
        amount = remaining
    if amount <= 0:
        db.session.rollback()
        raise ValidationFailed("The refund amount must be more than zero.", field="amount")
    if amount > remaining:
        db.session.rollback()
        raise ValidationFailed(
            f"At most {format_money(remaining, currency)} remains refundable; "
            f"{format_money(amount, currency)} is too much.",
            field="amount",
        )

    refund_id = new_id()
    try:
        info = get_gateway().create_refund(
            payment_intent_id=session.payment_intent_id,
            amount=amount,
            reason_metadata={
                "refund_id": refund_id,
                "enrollment_id": enrollment.id,
                "payment_session_id": session.id,
                "reason": reason[:450],
                "admin_id": admin_id,
            },
            idempotency_key=key,
        )
    except GatewayError as exc:
        db.session.rollback()
        log.warning(
            "refund refused or failed at stripe",
            extra={"fields": {"enrollment_id": enrollment_id, "error": type(exc).__name__, "code": exc.code}},
        )
        if isinstance(exc, PaymentRejected) and exc.code in STALE_REMAINDER_CODES:
            # Stripe knows of refunds we have no row for (made in its dashboard, webhook not
            # yet here): mirror them now so the page shows what really remains.
            try:
                sync_refunds_for_payment_intent(session.payment_intent_id, event_id=None)
            except GatewayError:
                db.session.rollback()
            raise Conflict(
                "Stripe says less remains refundable than we had recorded (a refund was probably made "
                "directly at Stripe). The refunds have been re-read; check the amount and try again.",
                code="refund_refused",
            ) from None
        raise _gateway_failure(exc) from None

    refund = db.session.scalar(sa.select(Refund).where(Refund.stripe_refund_id == info.id))
    if refund is None:
        refund = Refund(id=refund_id, stripe_refund_id=info.id)
        db.session.add(refund)
    refund.enrollment_id = enrollment.id
    refund.payment_session_id = session.id
    refund.amount = info.amount
    refund.currency = info.currency
    refund.reason = reason
    refund.status = _status_of(info)
    refund.failure_reason = info.failure_reason
    refund.idempotency_key = key
    refund.created_by = admin_id
    db.session.flush()
    audit.record(
        "refund.issued",
        entity_type="refund",
        entity_id=refund.id,
        actor=admin_id,
        payment_session_id=session.id,
        enrollment_id=enrollment.id,
        amount=info.amount,
        currency=info.currency,
        reason=reason,
        stripe_refund_id=info.id,
        stripe_status=info.status,
    )
    if grants_access:
        _apply_statuses(enrollment, actor=admin_id, event_id=None)
    _notify_succeeded(session.id)
    db.session.commit()
    return refund


def _notify_succeeded(payment_session_id: str) -> None:
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
    are ignored (None, nothing read or written). Raises GatewayError when Stripe cannot be
    read (the webhook answers 5xx and Stripe retries).
    """
    if not payment_intent_id:
        return None
    session = db.session.scalar(
        sa.select(PaymentSession)
        .where(PaymentSession.payment_intent_id == payment_intent_id)
        .order_by(sa.case((PaymentSession.status == PaymentSessionStatus.COMPLETED, 0), else_=1))
        .limit(1)
    )
    if session is None:
        return None
    session_id = session.id  # read once: each attempt commits or rolls back, expiring `session`
    remote = get_gateway().list_refunds(payment_intent_id)
    for attempt in range(2):
        try:
            _sync_once(session_id, remote, event_id=event_id)
            return session_id
        except IntegrityError:
            # Another process inserted the same Stripe refund between our read and write.
            db.session.rollback()
            if attempt:
                raise


def _sync_once(session_id: str, remote: list[RefundInfo], *, event_id: str | None) -> None:
    session = db.session.get(PaymentSession, session_id)
    enrollment_id = session.enrollment_id
    if enrollment_id is None:
        enrollment_id = db.session.scalar(sa.select(Enrollment.id).where(Enrollment.payment_session_id == session_id))
    enrollment = _lock_enrollment(enrollment_id) if enrollment_id else None
    if enrollment is None:
        db.session.scalar(sa.select(PaymentSession).where(PaymentSession.id == session_id).with_for_update())
    for info in remote:
        refund = db.session.scalar(
            sa.select(Refund).where(Refund.stripe_refund_id == info.id).execution_options(populate_existing=True)
        )
        ours = info.metadata.get("refund_id")
        if refund is None and ours:
            refund = db.session.get(Refund, ours)
        status = _status_of(info)
        if refund is None:
            refund = Refund(
                id=new_id(),
                enrollment_id=enrollment.id if enrollment else None,
                payment_session_id=session_id,
                stripe_refund_id=info.id,
                amount=info.amount,
                currency=info.currency,
                reason=info.metadata.get("reason") or "Refunded at Stripe",
                status=status,
                failure_reason=info.failure_reason,
                created_by="stripe",
            )
            db.session.add(refund)
            db.session.flush()
            audit.record(
                "refund.synced",
                entity_type="refund",
                entity_id=refund.id,
                actor="stripe",
                payment_session_id=session_id,
                enrollment_id=refund.enrollment_id,
                stripe_event_id=event_id,
                amount=info.amount,
                currency=info.currency,
                stripe_refund_id=info.id,
                stripe_status=info.status,
            )
            continue
        if (
            refund.status != status
            or refund.stripe_refund_id != info.id
            or refund.failure_reason != info.failure_reason
        ):
            previous = refund.status
            refund.status = status
            refund.stripe_refund_id = info.id
            refund.failure_reason = info.failure_reason
            audit.record(
                "refund.updated",
                entity_type="refund",
                entity_id=refund.id,
                actor="stripe",
                payment_session_id=session_id,
                enrollment_id=refund.enrollment_id,
                stripe_event_id=event_id,
                status_before=previous,
                status=status,
                stripe_refund_id=info.id,
            )
    db.session.flush()
    if enrollment is not None:
        _apply_statuses(enrollment, actor="stripe", event_id=event_id)
    _notify_succeeded(session_id)
    db.session.commit()
