"""Refunds: an admin's refund of a paid enrollment through Stripe.

What may move money: `issue_refund` sends money back to the learner's card through Stripe,
at most what remains refundable, exactly once per rendered refund form (its request token
is both our `refunds.idempotency_key` and Stripe's idempotency key, and the enrollment row
is locked while Stripe is asked). Keeping refunds in step with Stripe afterwards is
services.refund_mirror's (its public names are importable from here too).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Enrollment, PaymentSession, Refund
from webapp.models.base import new_id
from webapp.payments.gateway import GatewayError, PaymentRejected, RefundInfo, StripeUnavailable, get_gateway
from webapp.services.errors import Conflict, NotFound, PaymentProviderUnavailable, ServiceError, ValidationFailed
from webapp.services.money import format_money, parse_major_amount
from webapp.services.refund_mirror import (
    OPEN_OR_DONE,
    apply_refund_statuses,
    extra_payments,
    lock_enrollment,
    queue_refund_notices,
    refund_status_of,
    refundable_amount,
    refunded_amounts,
    sync_refunds_for_payment_intent,
)
from webapp.services.transactions import unit_of_work
from webapp.services.transitions import REFUND, move_refund

log = logging.getLogger("webapp")

__all__ = [
    "OPEN_OR_DONE",
    "extra_payments",
    "issue_refund",
    "payment_card_label",
    "refund_key",
    "refundable_amount",
    "refunded_amounts",
    "sync_refunds_for_payment_intent",
]

MAX_REASON_LENGTH = 500

#: Stripe's refusals that mean our idea of what remains is out of date.
STALE_REMAINDER_CODES = ("amount_too_large", "charge_already_refunded")


def refund_key(enrollment_id: str, request_token: str) -> str:
    """The idempotency key of one rendered refund form for one enrollment."""
    return f"refund:{enrollment_id}:{request_token}"


def _gateway_failure(exc: GatewayError) -> ServiceError:
    if isinstance(exc, PaymentRejected):
        detail = getattr(exc, "user_message", None) or "Stripe refused the refund."
        return ServiceError(f"Stripe refused the refund: {detail}", code="refund_refused")
    if isinstance(exc, StripeUnavailable):
        return PaymentProviderUnavailable(
            "We couldn't reach Stripe, so no refund was made. Please try again in a minute."
        )
    return PaymentProviderUnavailable(exc.user_message)


@dataclass(frozen=True)
class _RefundPlan:
    """What one refund form asks for, checked under the enrollment's lock."""

    enrollment: Enrollment
    session: PaymentSession
    amount: int
    grants_access: bool  # the payment refunded is the one that granted the enrollment


def issue_refund(
    enrollment_id: str,
    *,
    amount_text: str,
    reason: str,
    admin_id: str,
    request_token: str,
    payment_session_id: str | None = None,
    refund_all: bool = False,
) -> Refund:
    """Refunds (part of) a paid enrollment through Stripe and records Stripe's answer.

    `amount_text` is what the admin typed in the currency's major unit ("10.00");
    `refund_all` (with no amount typed) refunds all that remains refundable — an empty
    amount alone is refused, so a full refund is always an explicit choice. `reason` is
    required. Never refunds more than the amount paid minus succeeded and pending refunds.
    Idempotent per `request_token`: a repeated submit of the same form returns the first
    refund (one Stripe refund, one row), even when the submits race (the enrollment row is
    locked on PostgreSQL).

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
    existing = _refund_by_key(key)
    if existing is not None:
        return existing
    reason = _valid_reason(reason)
    _check_choice(amount_text, refund_all=refund_all)
    plan = None
    try:
        with unit_of_work():
            enrollment = lock_enrollment(enrollment_id)
            if enrollment is None:
                raise NotFound("That enrollment does not exist.")
            # A concurrent submit of the same form may have committed while we waited for the lock.
            existing = _refund_by_key(key, fresh=True)
            if existing is not None:
                return existing
            plan = _plan_refund(
                enrollment, amount_text=amount_text, payment_session_id=payment_session_id, refund_all=refund_all
            )
            refund_id = new_id()
            info = _create_at_stripe(plan, refund_id=refund_id, reason=reason, admin_id=admin_id, key=key)
            return _record_issued(plan, info, refund_id=refund_id, reason=reason, admin_id=admin_id, key=key)
    except GatewayError as exc:  # rolled back: nothing was written
        raise _refused(exc, enrollment_id, plan.session.payment_intent_id if plan else None) from None


def _refund_by_key(key: str, *, fresh: bool = False) -> Refund | None:
    query = sa.select(Refund).where(Refund.idempotency_key == key)
    return db.session.scalar(query.execution_options(populate_existing=True) if fresh else query)


def _valid_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Give a reason for the refund.", field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationFailed(f"Keep the reason under {MAX_REASON_LENGTH} characters.", field="reason")
    return reason


def _check_choice(amount_text: str, *, refund_all: bool) -> None:
    """An amount, or "refund all" — exactly one of them (before anything is locked or asked)."""
    typed = bool((amount_text or "").strip())
    if refund_all and typed:
        raise ValidationFailed("Either type an amount or tick “Refund all that remains”, not both.", field="amount")
    if not refund_all and not typed:
        raise ValidationFailed("Enter the amount to refund, or tick “Refund all that remains”.", field="amount")


def _plan_refund(
    enrollment: Enrollment, *, amount_text: str, payment_session_id: str | None, refund_all: bool
) -> _RefundPlan:
    """The payment to refund and how much, or the domain error saying why not."""
    if payment_session_id and payment_session_id != enrollment.payment_session_id:
        extra = {s.id: left for s, left in extra_payments(enrollment)}
        if payment_session_id not in extra:
            raise NotFound("That payment does not belong to this enrollment.")
        session = db.session.get(PaymentSession, payment_session_id)
        remaining, grants_access = extra[payment_session_id], False
    else:
        session = (
            db.session.get(PaymentSession, enrollment.payment_session_id) if enrollment.payment_session_id else None
        )
        remaining, grants_access = refundable_amount(enrollment), True
    if session is None or session.final_amount <= 0 or not session.payment_intent_id:
        raise Conflict("This enrollment has no card payment to refund.", code="nothing_to_refund")
    if remaining <= 0:
        raise Conflict("This payment has already been refunded in full.", code="nothing_to_refund")
    amount = remaining if refund_all else _refund_amount(amount_text, remaining=remaining, currency=session.currency)
    return _RefundPlan(enrollment, session, amount, grants_access)


def _refund_amount(amount_text: str, *, remaining: int, currency: str) -> int:
    """The typed amount in minor units, at most `remaining`."""
    try:
        amount = parse_major_amount(amount_text, currency)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="amount") from None
    if amount <= 0:
        raise ValidationFailed("The refund amount must be more than zero.", field="amount")
    if amount > remaining:
        raise ValidationFailed(
            f"At most {format_money(remaining, currency)} remains refundable; "
            f"{format_money(amount, currency)} is too much.",
            field="amount",
        )
    return amount


def payment_card_label(enrollment: Enrollment) -> str | None:
    """ "Visa ending in 4242": the card the enrollment's payment was made with, as Stripe has
    it; None when it was no card, nothing was paid, or Stripe cannot be reached just now."""
    session = db.session.get(PaymentSession, enrollment.payment_session_id) if enrollment.payment_session_id else None
    if session is None or session.final_amount <= 0 or not session.payment_intent_id:
        return None
    try:
        intent = get_gateway().retrieve_payment_intent(session.payment_intent_id)
    except GatewayError:
        return None
    if not intent.card_last4:
        return None
    return f"{(intent.card_brand or 'card').title()} ending in {intent.card_last4}"


def _create_at_stripe(plan: _RefundPlan, *, refund_id: str, reason: str, admin_id: str, key: str) -> RefundInfo:
    return get_gateway().create_refund(
        payment_intent_id=plan.session.payment_intent_id,
        amount=plan.amount,
        reason_metadata={
            "refund_id": refund_id,
            "enrollment_id": plan.enrollment.id,
            "payment_session_id": plan.session.id,
            "reason": reason[:450],
            "admin_id": admin_id,
        },
        idempotency_key=key,
    )


def _record_issued(plan: _RefundPlan, info: RefundInfo, *, refund_id: str, reason: str, admin_id: str, key: str):
    """Our row for the refund Stripe made (a webhook may have mirrored it already), and its effects."""
    refund = db.session.scalar(sa.select(Refund).where(Refund.stripe_refund_id == info.id))
    if refund is None:
        refund = Refund(id=refund_id, stripe_refund_id=info.id)
        db.session.add(refund)
    refund.enrollment_id = plan.enrollment.id
    refund.payment_session_id = plan.session.id
    refund.amount = info.amount
    refund.currency = info.currency
    refund.reason = reason
    refund.failure_reason = info.failure_reason
    refund.idempotency_key = key
    refund.created_by = admin_id
    status = refund_status_of(info)
    if refund.status is not None and not REFUND.allows(refund.status, status):
        status = refund.status  # the mirror already saw a later state than Stripe's answer
    move_refund(
        refund,
        status,
        action="refund.issued",
        actor=admin_id,
        always_record=True,
        amount=info.amount,
        currency=info.currency,
        reason=reason,
        stripe_refund_id=info.id,
        stripe_status=info.status,
    )
    if plan.grants_access:
        apply_refund_statuses(plan.enrollment, actor=admin_id, event_id=None)
    queue_refund_notices(plan.session.id)
    return refund


def _refused(exc: GatewayError, enrollment_id: str, payment_intent_id: str | None) -> ServiceError:
    log.warning(
        "refund refused or failed at stripe",
        extra={"fields": {"enrollment_id": enrollment_id, "error": type(exc).__name__, "code": exc.code}},
    )
    if isinstance(exc, PaymentRejected) and exc.code in STALE_REMAINDER_CODES and payment_intent_id:
        # Stripe knows of refunds we have no row for (made in its dashboard, webhook not
        # yet here): mirror them now so the page shows what really remains.
        try:
            sync_refunds_for_payment_intent(payment_intent_id, event_id=None)
        except GatewayError:
            pass  # the message below stands; the next webhook or page load re-reads them
        return Conflict(
            "Stripe says less remains refundable than we had recorded (a refund was probably made "
            "directly at Stripe). The refunds have been re-read; check the amount and try again.",
            code="refund_refused",
        )
    return _gateway_failure(exc)
