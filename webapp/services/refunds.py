"""Refunds: an admin's refund of a paid enrollment through Stripe.

What may move money: `issue_refund` sends money back to the learner's card through Stripe,
at most what remains refundable, exactly once per rendered refund form (its request token
is both our `refunds.idempotency_key` and Stripe's idempotency key, and the enrollment row
is locked while Stripe is asked). Keeping refunds in step with Stripe afterwards is
services.refund_mirror's (its public names are importable from here too).

An enrollment paid by installment plan has one Stripe payment per installment:
`refund_installment` refunds (part of) one installment's charge, `refund_plan_payments` all
that was paid, one Stripe refund per paid installment. Neither stops the installments still
to come (an admin cancels those separately, services.plans.actions.cancel_remaining).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Enrollment, Installment, InstallmentPlan, PaymentSession, Refund
from webapp.models.base import new_id
from webapp.models.enums import InstallmentStatus, PaymentPlan
from webapp.payments.gateway import GatewayError, PaymentRejected, RefundInfo, StripeUnavailable, get_gateway
from webapp.services.errors import Conflict, NotFound, PaymentProviderUnavailable, ServiceError, ValidationFailed
from webapp.services.money import format_money, parse_major_amount
from webapp.services.refund_mirror import (
    OPEN_OR_DONE,
    apply_refund_statuses,
    extra_payments,
    installment_refunded,
    lock_enrollment,
    queue_refund_notices,
    refund_status_of,
    refundable_amount,
    refunded_amounts,
    sync_refunds_for_payment_intent,
    update_installment_refunded,
)
from webapp.services.transactions import unit_of_work
from webapp.services.transitions import REFUND, move_refund

log = logging.getLogger("webapp")

__all__ = [
    "OPEN_OR_DONE",
    "extra_payments",
    "issue_refund",
    "payment_card_label",
    "refund_installment",
    "refund_key",
    "refund_plan_payments",
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
    payment_intent_id: str
    installment: Installment | None = None  # the installment whose charge is refunded


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
        raise _refused(exc, enrollment_id, plan.payment_intent_id if plan else None) from None


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
    if session is not None and session.plan == PaymentPlan.INSTALLMENTS:
        raise Conflict(
            "This enrollment is paid by installments: refund its installments in the plan panel.",
            code="paid_by_installments",
        )
    if session is None or session.final_amount <= 0 or not session.payment_intent_id:
        raise Conflict("This enrollment has no card payment to refund.", code="nothing_to_refund")
    if remaining <= 0:
        raise Conflict("This payment has already been refunded in full.", code="nothing_to_refund")
    amount = remaining if refund_all else _refund_amount(amount_text, remaining=remaining, currency=session.currency)
    return _RefundPlan(enrollment, session, amount, grants_access, session.payment_intent_id)


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
    metadata = {
        "refund_id": refund_id,
        "enrollment_id": plan.enrollment.id,
        "payment_session_id": plan.session.id,
        "reason": reason[:450],
        "admin_id": admin_id,
    }
    if plan.installment is not None:
        metadata["installment_id"] = plan.installment.id
    return get_gateway().create_refund(
        payment_intent_id=plan.payment_intent_id, amount=plan.amount, reason_metadata=metadata, idempotency_key=key
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
    if plan.installment is not None:
        refund.installment_id = plan.installment.id
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
    if plan.installment is not None:
        update_installment_refunded(plan.installment)
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


# -- installment plans -----------------------------------------------------------------------


def refund_installment(
    enrollment_id: str,
    installment_id: str,
    *,
    amount_text: str,
    reason: str,
    admin_id: str,
    request_token: str,
    refund_all: bool = False,
) -> Refund:
    """Refunds (part of) one paid installment's charge through Stripe and records Stripe's answer.

    As `issue_refund`: an amount typed in the major unit, or `refund_all` for all that remains
    of this installment; a reason; never more than the installment's amount minus its
    succeeded and pending refunds; idempotent per `request_token`. The refund is filed under
    the plan's payment session with `installment_id` set; the installment's `amount_refunded`
    and the enrollment's payment status follow (REFUNDED, access removed, once everything paid
    so far is refunded). The plan's remaining installments are not touched.
    """
    key = refund_key(enrollment_id, _valid_token(request_token))
    existing = _refund_by_key(key)
    if existing is not None:
        return existing
    reason = _valid_reason(reason)
    _check_choice(amount_text, refund_all=refund_all)
    return _refund_one_installment(
        enrollment_id,
        installment_id,
        amount_text=amount_text,
        refund_all=refund_all,
        reason=reason,
        admin_id=admin_id,
        key=key,
    )


def refund_plan_payments(
    enrollment_id: str, plan_id: str, *, reason: str, admin_id: str, request_token: str
) -> list[Refund]:
    """Refunds all that was paid on an installment plan: one Stripe refund per paid installment
    with something left to refund, each for all that remains of it.

    Each installment is refunded in its own transaction under its own idempotency key (the
    form's token and the installment), so a repeated submit makes no second refund, and a
    refusal part way keeps the refunds Stripe already made (the error raised then says how
    many). Conflict when nothing paid remains refundable.
    """
    token = _valid_token(request_token)
    reason = _valid_reason(reason)
    plan = db.session.get(InstallmentPlan, plan_id)
    if plan is None or plan.enrollment_id != enrollment_id:
        raise NotFound("That installment plan does not belong to this enrollment.")
    done: list[Refund] = []
    for installment in _paid_installments(plan.id):
        key = f"{refund_key(enrollment_id, token)}:{installment.id}"
        existing = _refund_by_key(key)
        if existing is None and installment.amount - installment_refunded(installment.id) <= 0:
            continue
        try:
            done.append(
                existing
                or _refund_one_installment(
                    enrollment_id,
                    installment.id,
                    amount_text="",
                    refund_all=True,
                    reason=reason,
                    admin_id=admin_id,
                    key=key,
                )
            )
        except ServiceError as exc:
            if done:
                exc.message = (
                    f"{len(done)} installment refund(s) were made; installment {installment.sequence} "
                    f"was not refunded: {exc.message}"
                )
            raise
    if not done:
        raise Conflict("Everything paid on this plan has already been refunded.", code="nothing_to_refund")
    return done


def _valid_token(request_token: str) -> str:
    token = (request_token or "").strip()
    if not token or len(token) > 128:
        raise ValidationFailed("This refund form has expired; reload the page and try again.", field="request_token")
    return token


def _paid_installments(plan_id: str) -> list[Installment]:
    return list(
        db.session.scalars(
            sa.select(Installment)
            .where(Installment.plan_id == plan_id, Installment.status == InstallmentStatus.PAID)
            .order_by(Installment.sequence)
        )
    )


def _refund_one_installment(
    enrollment_id: str,
    installment_id: str,
    *,
    amount_text: str,
    refund_all: bool,
    reason: str,
    admin_id: str,
    key: str,
) -> Refund:
    payment_intent_id = _installment_payment_intent(enrollment_id, installment_id)
    try:
        with unit_of_work():
            enrollment = lock_enrollment(enrollment_id)
            if enrollment is None:
                raise NotFound("That enrollment does not exist.")
            existing = _refund_by_key(key, fresh=True)
            if existing is not None:
                return existing
            plan = _plan_installment_refund(
                enrollment, installment_id, payment_intent_id, amount_text=amount_text, refund_all=refund_all
            )
            refund_id = new_id()
            info = _create_at_stripe(plan, refund_id=refund_id, reason=reason, admin_id=admin_id, key=key)
            return _record_issued(plan, info, refund_id=refund_id, reason=reason, admin_id=admin_id, key=key)
    except GatewayError as exc:  # rolled back: nothing was written
        raise _refused(exc, enrollment_id, payment_intent_id) from None


def _installment_payment_intent(enrollment_id: str, installment_id: str) -> str:
    """The payment intent of a paid installment of this enrollment's plan, read from its invoice
    at Stripe (and kept, so the refund's webhooks find it) when we have none yet."""
    row = db.session.execute(
        sa.select(Installment, InstallmentPlan.enrollment_id)
        .join(InstallmentPlan, InstallmentPlan.id == Installment.plan_id)
        .where(Installment.id == installment_id)
    ).first()
    if row is None or row[1] != enrollment_id:
        raise NotFound("That installment does not belong to this enrollment.")
    installment = row[0]
    if installment.status != InstallmentStatus.PAID:
        raise Conflict(f"Installment {installment.sequence} has not been paid: nothing to refund.", code="not_paid")
    if installment.payment_intent_id:
        return installment.payment_intent_id
    payment_intent_id = None
    if installment.stripe_invoice_id:
        try:
            payment_intent_id = get_gateway().retrieve_invoice(installment.stripe_invoice_id).payment_intent_id
        except GatewayError as exc:
            raise _gateway_failure(exc) from None
    if not payment_intent_id:
        raise Conflict(f"Stripe has no payment for installment {installment.sequence}.", code="nothing_to_refund")
    with unit_of_work():
        db.session.execute(
            sa.update(Installment)
            .where(Installment.id == installment_id, Installment.payment_intent_id.is_(None))
            .values(payment_intent_id=payment_intent_id)
        )
    return payment_intent_id


def _plan_installment_refund(
    enrollment: Enrollment, installment_id: str, payment_intent_id: str, *, amount_text: str, refund_all: bool
) -> _RefundPlan:
    """How much of the installment to refund, checked under the enrollment's lock."""
    installment = db.session.get(Installment, installment_id, populate_existing=True)
    plan = db.session.get(InstallmentPlan, installment.plan_id)
    session = db.session.get(PaymentSession, plan.payment_session_id)
    remaining = installment.amount - installment_refunded(installment.id)
    if remaining <= 0:
        raise Conflict(
            f"Installment {installment.sequence} has already been refunded in full.", code="nothing_to_refund"
        )
    amount = remaining if refund_all else _refund_amount(amount_text, remaining=remaining, currency=plan.currency)
    grants_access = enrollment.payment_session_id == plan.payment_session_id
    return _RefundPlan(enrollment, session, amount, grants_access, payment_intent_id, installment)
