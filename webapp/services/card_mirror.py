"""The `payment_methods` mirror of the learner's cards at Stripe, and the webhooks that keep it.

Stripe is the truth. Every write here runs with the learner's row locked, in the caller's
transaction (the webhook inbox, or a saved-cards call), which commits it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from webapp.extensions import db
from webapp.models import PaymentMethod, User
from webapp.models.base import new_id, utcnow
from webapp.payments.gateway import Card, CheckoutSession, ResourceMissing, get_gateway
from webapp.services import audit
from webapp.services.checkout import lock_user


def card_rows(user_id: str) -> list[PaymentMethod]:
    return list(
        db.session.scalars(
            sa.select(PaymentMethod)
            .where(PaymentMethod.user_id == user_id)
            .order_by(PaymentMethod.created_at, PaymentMethod.id)
            .execution_options(populate_existing=True)
        )
    )


_CARDS = PaymentMethod.__table__


def upsert_cards(user_id: str, cards: list[Card], default: str | None) -> set[str]:
    """Writes `cards` into the learner's mirror in ONE statement; returns the Stripe ids it inserted.

    INSERT … ON CONFLICT (stripe_payment_method_id) DO UPDATE, on SQLite and PostgreSQL
    alike: whichever of the webhook and the API mirrors a card first inserts it, the other
    updates the same row, and neither can fail on the unique key, with or without the
    user's row lock. A card Stripe moved to another customer follows it (not the default
    there until `default` says so). An inserted row is told from an updated one by its id:
    only an insert keeps the id we generated.
    """
    if not cards:
        return set()
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "user_id": user_id,
            "stripe_payment_method_id": card.id,
            "type": "card",
            "brand": card.brand,
            "last4": card.last4,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "is_default": card.id == default,
            "created_at": now,
            "updated_at": now,
        }
        for card in cards
    ]
    insert = (sqlite_insert if db.session.get_bind().dialect.name == "sqlite" else postgresql_insert)(_CARDS)
    excluded = insert.excluded
    statement = (
        insert.values(rows)
        .on_conflict_do_update(
            index_elements=[_CARDS.c.stripe_payment_method_id],
            set_={
                "user_id": excluded.user_id,
                "brand": excluded.brand,
                "last4": excluded.last4,
                "exp_month": excluded.exp_month,
                "exp_year": excluded.exp_year,
                "is_default": excluded.is_default,
                "updated_at": excluded.updated_at,
            },
        )
        .returning(_CARDS.c.id, _CARDS.c.stripe_payment_method_id)
    )
    generated = {row["id"] for row in rows}
    return {pm_id for row_id, pm_id in db.session.execute(statement) if row_id in generated}


def apply_default(user_id: str, stripe_pm_id: str | None) -> None:
    db.session.execute(
        sa.update(PaymentMethod)
        .where(PaymentMethod.user_id == user_id)
        .values(is_default=sa.case((PaymentMethod.stripe_payment_method_id == (stripe_pm_id or ""), True), else_=False))
        .execution_options(synchronize_session=False)
    )


def default_if_none(customer_id: str, pm_id: str) -> str | None:
    """The customer's default card, making `pm_id` the default when there is none (first card)."""
    gateway = get_gateway()
    default = gateway.get_default_payment_method(customer_id)
    if default is None:
        gateway.set_default_payment_method(customer_id, pm_id)
        default = pm_id
    return default


def mirror_card(
    user_id: str, card: Card, default: str | None, *, actor: str, event_id: str | None = None
) -> PaymentMethod:
    """Mirrors one card (upsert by its Stripe id) and the learner's default; one "saved"
    audit entry per card, written by whichever mirror inserted it. Caller holds the user's lock."""
    inserted = upsert_cards(user_id, [card], default)
    apply_default(user_id, default)
    row = db.session.scalar(
        sa.select(PaymentMethod)
        .where(PaymentMethod.stripe_payment_method_id == card.id)
        .execution_options(populate_existing=True)
    )
    if card.id in inserted:
        audit.record(
            "payment_method.saved",
            entity_type="payment_method",
            entity_id=row.id,
            actor=actor,
            stripe_event_id=event_id,
            user_id=user_id,
            brand=card.brand,
            last4=card.last4,
        )
    return row


def _user_for_customer(customer_id: str | None) -> User | None:
    if not customer_id:
        return None
    return db.session.scalar(sa.select(User).where(User.stripe_customer_id == customer_id))


def mirror_setup_session(remote: CheckoutSession, *, event_id: str | None) -> None:
    """`checkout.session.completed` in setup mode: mirror the card it saved.

    The event is a trigger only: the session and its card are re-read from Stripe.
    Sessions of customers we don't know are ignored. Raises GatewayError when Stripe
    can't be read (the webhook answers 5xx and Stripe retries). Does not commit.
    """
    if remote.mode != "setup":
        return
    user = _user_for_customer(remote.customer_id)
    if user is None:
        return
    gateway = get_gateway()
    if not remote.setup_payment_method_id:
        remote = gateway.retrieve_checkout_session(remote.id)
    if remote.status != "complete" or not remote.setup_payment_method_id:
        return
    try:
        card = gateway.retrieve_payment_method(remote.setup_payment_method_id)
    except ResourceMissing:
        return
    if card.customer_id != user.stripe_customer_id:
        return
    default = default_if_none(user.stripe_customer_id, card.id)
    lock_user(user.id)
    mirror_card(user.id, card, default, actor="stripe", event_id=event_id)


def mirror_payment_method_event(event_type: str, pm: dict, *, event_id: str | None) -> None:
    """`payment_method.attached` / `payment_method.detached`: bring the mirror in line.

    Events may arrive in any order, so both re-read the card from Stripe and mirror what
    is true now: attached to a customer we know → upserted for that learner; otherwise its
    row (if any) is deleted. Cards of unknown customers are ignored. Does not commit.
    """
    if event_type not in ("payment_method.attached", "payment_method.detached"):
        return
    pm_id = pm.get("id") if isinstance(pm, dict) else None
    if not isinstance(pm_id, str) or not pm_id or pm.get("type", "card") != "card":
        return
    try:
        card: Card | None = get_gateway().retrieve_payment_method(pm_id)
    except ResourceMissing:
        card = None
    user = _user_for_customer(card.customer_id) if card else None
    row = db.session.scalar(sa.select(PaymentMethod).where(PaymentMethod.stripe_payment_method_id == pm_id))
    if user is None:
        if row is not None:
            lock_user(row.user_id)
            audit.record(
                "payment_method.removed",
                entity_type="payment_method",
                entity_id=row.id,
                actor="stripe",
                stripe_event_id=event_id,
                user_id=row.user_id,
                brand=row.brand,
                last4=row.last4,
            )
            db.session.delete(row)
            db.session.flush()
        return
    default = get_gateway().get_default_payment_method(user.stripe_customer_id)
    lock_user(user.id)
    mirror_card(user.id, card, default, actor="stripe", event_id=event_id)
