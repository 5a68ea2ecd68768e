"""What a learner's receipt says beyond the payment row: order number, refunds, method, email.

The order number is derived from the payment session's id (no column, nothing to keep in
step): `CC-` and the id's first 8 characters, upper-cased. The admin's enrollment search
accepts it (`order_number_prefix`).
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import OutboxEmail, PaymentSession, Refund, User
from webapp.services.refund_mirror import OPEN_OR_DONE

ORDER_PREFIX = "CC-"
_ORDER_NUMBER = re.compile(r"CC-([A-Za-z0-9_-]{1,8})", re.IGNORECASE)

#: Stripe's payment method types as the receipt names them.
_METHODS = {"card": "card", "customer_balance": "bank_transfer"}


def order_number(payment_session_id: str) -> str:
    """The readable order number of a payment session, e.g. `CC-3F9A12BC`."""
    return ORDER_PREFIX + payment_session_id[:8].upper()


def order_number_prefix(text: str) -> str | None:
    """The id prefix (lower case) an order number stands for, or None if `text` is not one."""
    match = _ORDER_NUMBER.fullmatch((text or "").strip())
    return match.group(1).lower() if match else None


def refunded_by_session(payment_session_ids: list[str]) -> dict[str, int]:
    """Minor units refunded per payment session: succeeded and pending refunds (what the
    admin's refundable amount and the timeline count; failed or canceled ones gave it back)."""
    if not payment_session_ids:
        return {}
    rows = db.session.execute(
        sa.select(Refund.payment_session_id, sa.func.coalesce(sa.func.sum(Refund.amount), 0))
        .where(Refund.payment_session_id.in_(payment_session_ids), Refund.status.in_(OPEN_OR_DONE))
        .group_by(Refund.payment_session_id)
    ).all()
    return {session_id: int(total) for session_id, total in rows}


def payment_method_of(session: PaymentSession, *, stripe_type: str | None, card_brand: str | None) -> str | None:
    """ "card", "bank_transfer", or None (free, or Stripe not read)."""
    if session.final_amount <= 0:
        return None
    if card_brand:
        return "card"
    return _METHODS.get(stripe_type or "")


def confirmation_address(enrollment_id: str | None, user_id: str) -> str | None:
    """Where the enrollment's confirmation email went (the outbox), else the learner's email."""
    if enrollment_id:
        address = db.session.scalar(
            sa.select(OutboxEmail.to_address)
            .where(OutboxEmail.dedupe_key.startswith(f"enrollment-confirmation:{enrollment_id}:", autoescape=True))
            .order_by(OutboxEmail.created_at.desc())
            .limit(1)
        )
        if address:
            return address
    return db.session.scalar(sa.select(User.email).where(User.id == user_id))
