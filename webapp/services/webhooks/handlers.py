"""One handler per kind of Stripe event; `webhooks.handle_event` dispatches to them.

An event is only a trigger: handlers re-read the object from Stripe
before acting where the gateway can, and find our payment session through the ids we put
in Stripe's metadata, so events may arrive duplicated, late or in any order. A handler
returns our payment session's id when one was involved, and raises `Ignored` — before it
writes anything — for an event that is fine but not ours. Handlers of database-only
events leave their work uncommitted: the inbox commits it with the event's outcome.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Enrollment, PaymentSession
from webapp.models.base import utcnow
from webapp.models.enums import EnrollmentStatus, PaymentPlan, PaymentStatus
from webapp.payments.gateway import CheckoutSession, get_gateway
from webapp.services import audit
from webapp.services.fulfillment import (
    find_payment_session_by,
    fulfill_checkout,
    lock_payment_session,
    mark_expired,
    mark_failed,
)
from webapp.services.plans.records import at, plan_for_subscription
from webapp.services.plans.sync import sync_plan
from webapp.services.refund_mirror import refunded_amounts, sync_refunds_for_payment_intent
from webapp.services.transitions import move_enrollment
from webapp.speedups import DirectSelect, session_is_idle


class Ignored(Exception):
    """The event is fine but not for us (someone else's session, wrong mode, unknown type)."""


def _payment_intent_id(obj: dict[str, Any]) -> str | None:
    """The payment intent of a charge, refund or dispute (an id, or an expanded object)."""
    value = obj.get("payment_intent")
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


_BY_PAYMENT_INTENT = sa.select(PaymentSession).where(PaymentSession.payment_intent_id == sa.bindparam("pi"))
_IS_OURS = DirectSelect(sa.select(PaymentSession.id).where(PaymentSession.payment_intent_id == sa.bindparam("pi")))


def _session_for_payment_intent(payment_intent_id: str | None) -> PaymentSession | None:
    if payment_intent_id is None:
        return None
    if session_is_idle() and _IS_OURS.first(pi=payment_intent_id) is None:
        return None  # someone else's: answered without opening a transaction (speedups.DirectSelect)
    return db.session.scalar(_BY_PAYMENT_INTENT, {"pi": payment_intent_id})


def on_session_paid_or_completed(obj: dict[str, Any], event_id: str) -> str | None:
    """`checkout.session.completed` / `async_payment_succeeded`: fulfil (or save the card of a setup)."""
    stripe_session_id = obj.get("id")
    if not stripe_session_id:
        raise Ignored("no session id")
    remote: CheckoutSession = get_gateway().retrieve_checkout_session(stripe_session_id)
    if remote.mode == "setup":
        from webapp.services import saved_cards
        from webapp.services.plans.actions import settle_with_new_card

        plan_id = remote.metadata.get("installment_plan_id")
        if remote.metadata.get("purpose") == "plan_card" and plan_id:
            settle_with_new_card(plan_id, remote, actor="stripe", event_id=event_id)
        else:
            saved_cards.mirror_setup_session(remote, event_id=event_id)
        return None
    result = fulfill_checkout(stripe_session_id, actor="stripe", event_id=event_id, remote=remote)
    if result.payment_session is None:
        raise Ignored("not one of our checkout sessions")
    return result.payment_session.id


def on_session_closed(obj: dict[str, Any], event_id: str, *, failed: bool) -> str | None:
    """`checkout.session.async_payment_failed` (FAILED) / `expired` (EXPIRED); a completed one stays."""
    stripe_session_id = obj.get("id")
    if not stripe_session_id:
        raise Ignored("no session id")
    found = find_payment_session_by(
        stripe_session_id, metadata=obj.get("metadata"), client_reference_id=obj.get("client_reference_id")
    )
    if found is None:
        raise Ignored("not one of our checkout sessions")
    session = lock_payment_session(found.id)
    if session.stripe_session_id is None:
        session.stripe_session_id = stripe_session_id
    if failed:
        mark_failed(session, actor="stripe", event_id=event_id, reason="async_payment_failed")
    else:
        mark_expired(session, actor="stripe", event_id=event_id)
    return session.id


def on_payment_intent(obj: dict[str, Any], event_id: str, event_type: str) -> str | None:
    """Records what the payment intent says; never enrolls on its own (the session event does)."""
    ours = (obj.get("metadata") or {}).get("payment_session_id")
    session = db.session.get(PaymentSession, ours) if ours else None
    if session is None and obj.get("id"):
        session = _session_for_payment_intent(obj["id"])
    if session is None:
        raise Ignored("payment intent of no session of ours")
    if not session.payment_intent_id and obj.get("id"):
        session.payment_intent_id = obj["id"]
    error = (obj.get("last_payment_error") or {}).get("code") if event_type.endswith("failed") else None
    audit.record(
        f"payment_intent.{event_type.split('.', 1)[1]}",
        entity_type="payment_session",
        entity_id=session.id,
        actor="stripe",
        payment_session_id=session.id,
        stripe_event_id=event_id,
        payment_intent_id=obj.get("id"),
        decline_code=error,
    )
    return session.id


def on_refund(obj: dict[str, Any], event_id: str) -> str | None:
    """Refund events: Stripe's refunds of the payment are re-read and mirrored."""
    session_id = sync_refunds_for_payment_intent(_payment_intent_id(obj), event_id=event_id)
    if session_id is None:
        raise Ignored("refund of a payment that is not ours")
    return session_id


def _dispute_outcome(
    enrollment: Enrollment, session_id: str, event_type: str, dispute_status: str
) -> tuple[str | None, str | None]:
    """(status, payment status) a dispute event leaves the enrollment in (None: unchanged).

    Open → DISPUTED (access kept); lost → CANCELLED / DISPUTE_LOST; won → PAID or
    PARTIALLY_REFUNDED, from the refunds that succeeded.
    """
    if event_type != "charge.dispute.closed" or dispute_status not in ("won", "lost"):
        if enrollment.payment_status in (PaymentStatus.DISPUTE_LOST, PaymentStatus.REFUNDED):
            return None, None
        return None, PaymentStatus.DISPUTED
    if dispute_status == "lost":
        return EnrollmentStatus.CANCELLED, PaymentStatus.DISPUTE_LOST
    refunded, _pending = refunded_amounts(session_id)
    return None, PaymentStatus.PARTIALLY_REFUNDED if refunded else PaymentStatus.PAID


def on_dispute(obj: dict[str, Any], event_id: str, event_type: str) -> str | None:
    """A chargeback: flag the payment while it is open; a lost one removes access.

    The verified event is trusted for the dispute's state (no re-read: the gateway has no
    dispute call and the signature already proves the payload is Stripe's). Every dispute
    event is audit-logged, whether or not it changes the enrollment.
    """
    session = _session_for_payment_intent(_payment_intent_id(obj))
    if session is None:
        raise Ignored("dispute of a payment that is not ours")
    enrollment = db.session.scalar(
        sa.select(Enrollment).where(Enrollment.payment_session_id == session.id).with_for_update()
    )
    dispute_status = str(obj.get("status") or "")
    details = {
        "dispute_id": obj.get("id"),
        "dispute_status": dispute_status,
        "reason": obj.get("reason"),
        "amount": obj.get("amount"),
        "currency": obj.get("currency"),
    }
    if enrollment is None:
        audit.record(
            event_type,
            entity_type="payment_session",
            entity_id=session.id,
            actor="stripe",
            payment_session_id=session.id,
            stripe_event_id=event_id,
            **details,
            status_before=None,
            payment_status_before=None,
        )
        return session.id
    status, payment_status = _dispute_outcome(enrollment, session.id, event_type, dispute_status)
    before = (enrollment.status, enrollment.payment_status)
    if status == EnrollmentStatus.CANCELLED:
        enrollment.cancelled_at = utcnow()
    move_enrollment(
        enrollment,
        to_status=status,
        to_payment_status=payment_status,
        action=event_type,
        actor="stripe",
        event_id=event_id,
        payment_session_id=session.id,
        filed_under=("payment_session", session.id),
        always_record=True,
        **details,
        status_before=before[0],
        payment_status_before=before[1],
    )
    return session.id


def _subscription_link(obj: dict[str, Any], event_type: str) -> tuple[str | None, dict[str, Any]]:
    """The subscription an invoice, subscription or schedule event is about, and its metadata."""
    if event_type.startswith("invoice."):
        parent = obj.get("parent") if isinstance(obj.get("parent"), dict) else {}
        details = parent.get("subscription_details") if isinstance(parent.get("subscription_details"), dict) else {}
        link, metadata = details.get("subscription"), details.get("metadata")
    elif event_type.startswith("customer.subscription."):
        link, metadata = obj.get("id"), obj.get("metadata")
    else:  # subscription_schedule.*
        link, metadata = obj.get("subscription") or obj.get("released_subscription"), {}
    if isinstance(link, dict):
        link = link.get("id")
    return (link if isinstance(link, str) and link else None), (metadata if isinstance(metadata, dict) else {})


def on_billing_event(obj: dict[str, Any], event_id: str, event_type: str, created: Any) -> str | None:
    """Invoice, subscription and schedule events: the installment plan re-read from Stripe.

    An event of a plan we don't have yet (its checkout's completion not seen) fulfils that
    checkout first, found through the payment session id in the subscription's metadata.
    """
    subscription_id, metadata = _subscription_link(obj, event_type)
    if subscription_id is None:
        raise Ignored("no subscription")
    plan = plan_for_subscription(subscription_id)
    if plan is None:
        ours = metadata.get("payment_session_id")
        session = db.session.get(PaymentSession, ours) if isinstance(ours, str) and ours else None
        if session is None or session.plan != PaymentPlan.INSTALLMENTS or not session.stripe_session_id:
            raise Ignored("not the subscription of one of our installment plans")
        fulfill_checkout(session.stripe_session_id, actor="stripe", event_id=event_id)
        plan = plan_for_subscription(subscription_id)
        if plan is None:
            raise Ignored("the plan's checkout is not complete yet")
    stripe_now = at(created) if isinstance(created, int) and not isinstance(created, bool) else None
    sync_plan(plan.id, actor="stripe", event_id=event_id, stripe_now=stripe_now)
    return plan.payment_session_id
