"""Closing a checkout that was not paid: the learner's cancel, and expiry of overdue sessions.

What may move money: nothing. Each session is expired at Stripe before it is closed here,
and one Stripe reports paid meanwhile is handed to fulfillment instead.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import PaymentSession
from webapp.models.base import utcnow
from webapp.models.enums import PaymentSessionStatus
from webapp.payments.gateway import CheckoutSession, GatewayError, get_gateway
from webapp.services.confirmation import provider_failure
from webapp.services.fulfillment import fulfill_checkout, lock_payment_session, mark_expired
from webapp.services.transactions import unit_of_work
from webapp.services.transitions import move_payment_session

log = logging.getLogger("webapp")


def cancel_checkout(payment_session: PaymentSession, *, actor: str) -> PaymentSession:
    """The learner came back from Stripe without paying: CANCELED, expired at Stripe, hold released.

    Idempotent; a session that is no longer PENDING is left as it is (a completed one
    never moves back). Raises PaymentProviderUnavailable when Stripe can't be reached.
    """
    with unit_of_work(provider_failure):
        locked = lock_payment_session(payment_session.id)  # re-read under the lock: a webhook may have completed it
        if locked.status != PaymentSessionStatus.PENDING:
            return locked
        remote = get_gateway().expire_checkout_session(locked.stripe_session_id) if locked.stripe_session_id else None
        if remote is None or remote.status != "complete":
            move_payment_session(locked, PaymentSessionStatus.CANCELED, action="payment_session.canceled", actor=actor)
            return locked
    # Paid after all (another tab): fulfil it now, so the page tells the truth.
    result = fulfill_checkout(remote.id, actor=actor, remote=remote)
    return result.payment_session or locked


def expire_overdue(*, now: datetime | None = None) -> list[str]:
    """Marks PENDING sessions past `expires_at` EXPIRED (releasing holds) and expires them at Stripe.

    Returns the ids it expired. A session Stripe reports complete is left for fulfillment;
    one Stripe can't be asked about now is left for the next run.
    """
    now = now or utcnow()
    with unit_of_work():
        ids = list(
            db.session.scalars(
                sa.select(PaymentSession.id).where(
                    PaymentSession.status == PaymentSessionStatus.PENDING, PaymentSession.expires_at <= now
                )
            )
        )
    return [session_id for session_id in ids if _expire_one(session_id)]


def _expire_one(session_id: str) -> bool:
    try:
        with unit_of_work():
            session = db.session.scalar(
                sa.select(PaymentSession).where(PaymentSession.id == session_id).with_for_update()
            )
            if session is None or session.status != PaymentSessionStatus.PENDING:
                return False
            remote = _expire_at_stripe(session.stripe_session_id) if session.stripe_session_id else None
            if remote is not None and remote.status == "complete":
                return False
            return mark_expired(session, actor="system", event_id=None)
    except GatewayError as exc:
        log.warning(
            "could not expire at stripe",
            extra={"fields": {"payment_session_id": session_id, "error": type(exc).__name__}},
        )
        return False


def _expire_at_stripe(stripe_session_id: str) -> CheckoutSession:
    remote = get_gateway().retrieve_checkout_session(stripe_session_id)
    if remote.status == "open":
        remote = get_gateway().expire_checkout_session(stripe_session_id)
    return remote
