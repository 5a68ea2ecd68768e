"""Saved cards: the learner's cards at Stripe, mirrored in `payment_methods`.

What may move money: nothing here. Cards are saved through Checkout in `setup` mode (or
attached after Stripe.js created them), detached, and one is made the Stripe customer's
`invoice_settings.default_payment_method`. Stripe is the truth; our rows are a mirror
refreshed on every listing and by the `payment_method.*` / setup-session webhooks.

Ownership: a card id (ours or Stripe's) or a setup session that isn't the caller's is
NotFound, and no Stripe call that changes anything is made for it.
"""

from __future__ import annotations

import logging
import re

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import PaymentMethod, User
from webapp.models.base import new_id
from webapp.payments.gateway import (
    GatewayError,
    PaymentRejected,
    ResourceMissing,
    get_gateway,
)
from webapp.services import audit
from webapp.services.card_mirror import (
    apply_default,
    card_rows,
    default_if_none,
    mirror_card,
    mirror_payment_method_event,
    mirror_setup_session,
    upsert_cards,
)
from webapp.services.checkout import ensure_stripe_customer, gateway_failure, lock_user
from webapp.services.enrollments import is_row_id
from webapp.services.errors import NotFound, ServiceError, ValidationFailed
from webapp.services.transactions import unit_of_work

log = logging.getLogger("webapp")

__all__ = [
    "CARD_NOT_FOUND",
    "attach_card",
    "cached_cards",
    "complete_card_setup",
    "get_card",
    "list_cards",
    "make_default",
    "mirror_payment_method_event",
    "mirror_setup_session",
    "remove_card",
    "start_card_setup",
]

CARD_NOT_FOUND = "We couldn't find that card."
_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{4,255}")


def _is_stripe_id(value: object, prefix: str) -> bool:
    return isinstance(value, str) and value.startswith(prefix) and _STRIPE_ID.fullmatch(value) is not None


def cached_cards(user: User) -> list[PaymentMethod]:
    """The mirror as last refreshed, without asking Stripe (for when Stripe is unreachable)."""
    return card_rows(user.id)


def get_card(user: User, card_id: str) -> PaymentMethod:
    """The learner's saved card by our id; NotFound for unknown ids and anyone else's."""
    if not is_row_id(card_id):
        raise NotFound(CARD_NOT_FOUND)
    row = db.session.scalar(
        sa.select(PaymentMethod).where(PaymentMethod.id == card_id, PaymentMethod.user_id == user.id)
    )
    if row is None:
        raise NotFound(CARD_NOT_FOUND)
    return row


def list_cards(user: User) -> list[PaymentMethod]:
    """The learner's saved cards, refreshed from Stripe first.

    Upserts brand/last4/expiry, deletes rows Stripe no longer has, and sets `is_default`
    from the customer's `invoice_settings.default_payment_method`. Raises
    PaymentProviderUnavailable when Stripe can't be read (`cached_cards` still can).
    """
    if not user.stripe_customer_id:
        return card_rows(user.id)
    customer_id = user.stripe_customer_id
    try:
        cards = get_gateway().list_card_payment_methods(customer_id)
        default = get_gateway().get_default_payment_method(customer_id)
    except GatewayError as exc:
        raise gateway_failure(exc) from None
    user_id = user.id
    with unit_of_work():
        lock_user(user_id)
        keep = {card.id for card in cards}
        # One SELECT for the learner's rows and any row Stripe moved to them, instead of one
        # per card: the page's statement count must not grow with the number of cards.
        known = {
            row.stripe_payment_method_id: row
            for row in db.session.scalars(
                sa.select(PaymentMethod).where(
                    sa.or_(PaymentMethod.user_id == user_id, PaymentMethod.stripe_payment_method_id.in_(keep))
                )
            )
        }
        for stripe_id, row in known.items():
            if row.user_id == user_id and stripe_id not in keep:
                db.session.delete(row)
        db.session.flush()
        for card in cards:
            row = known.get(card.id)
            if row is None:
                continue  # new cards: one upsert below, safe against a webhook mirroring them now
            if row.user_id != user_id:
                row.user_id = user_id  # a payment method belongs to one customer; Stripe moved it
            row.brand, row.last4 = card.brand, card.last4
            row.exp_month, row.exp_year = card.exp_month, card.exp_year
            # Set in memory, so an unchanged flag writes nothing.
            row.is_default = card.id == default
        db.session.flush()
        upsert_cards(user_id, [card for card in cards if card.id not in known], default)
    return card_rows(user_id)


def _setup_urls(success_url: str | None, cancel_url: str | None) -> tuple[str, str]:
    base = f"{current_app.config['APP_URL']}/account/payment-methods"
    return (
        success_url or f"{base}?setup_session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url or f"{base}?setup_cancelled=1",
    )


def start_card_setup(user: User, *, success_url: str | None = None, cancel_url: str | None = None) -> str:
    """Opens Checkout in `setup` mode for the learner's Stripe customer; returns its URL.

    The customer is created once, under the learner's row lock (`ensure_stripe_customer`),
    and committed before the setup session is asked for, so a failure there never loses
    it. Stripe failures raise PaymentProviderUnavailable (or ServiceError when refused).
    """
    success, cancel = _setup_urls(success_url, cancel_url)
    customer_id = _customer_committed(user.id)
    try:
        remote = get_gateway().create_setup_checkout(
            customer_id=customer_id,
            currency=current_app.config.get("DEFAULT_CURRENCY", "usd"),
            success_url=success,
            cancel_url=cancel,
            metadata={"user_id": user.id, "purpose": "save_card"},
            idempotency_key=f"setup-{user.id}-{new_id()}",
        )
    except GatewayError as exc:
        raise gateway_failure(exc) from None
    if not remote.url:
        raise ServiceError("Stripe didn't return a page to add the card. Please try again.")
    return remote.url


def complete_card_setup(user: User, stripe_session_id: str) -> PaymentMethod | None:
    """Mirrors the card saved by the learner's setup session (the `setup_session_id` return).

    NotFound unless it is a setup-mode session of this learner's customer. Returns None
    while the session isn't complete or its card is gone. Idempotent; the first card saved
    becomes the default.
    """
    if not _is_stripe_id(stripe_session_id, "cs_"):
        raise NotFound("We couldn't find that card setup.")
    customer_id = user.stripe_customer_id
    if not customer_id:
        raise NotFound("We couldn't find that card setup.")
    gateway = get_gateway()
    try:
        remote = gateway.retrieve_checkout_session(stripe_session_id)
        if remote.mode != "setup" or remote.customer_id != customer_id:
            raise NotFound("We couldn't find that card setup.")
        if remote.status != "complete" or not remote.setup_payment_method_id:
            return None
        card = gateway.retrieve_payment_method(remote.setup_payment_method_id)
        if card.customer_id != customer_id:
            return None
        default = default_if_none(customer_id, card.id)
    except ResourceMissing:
        raise NotFound("We couldn't find that card setup.") from None
    except GatewayError as exc:
        raise gateway_failure(exc) from None
    with unit_of_work():
        lock_user(user.id)
        row = mirror_card(user.id, card, default, actor=user.id)
    return row


def attach_card(user: User, stripe_payment_method_id: str) -> PaymentMethod:
    """Attaches a card created client-side (Stripe.js `pm_…`) to the learner's customer.

    Idempotent for the learner's own card. A card already saved by another learner is
    NotFound, with no Stripe call. Stripe refusing it (unknown id, attached elsewhere)
    raises ValidationFailed on `payment_method_id`. The first card becomes the default.
    """
    pm_id = stripe_payment_method_id
    if not _is_stripe_id(pm_id, "pm_"):
        raise ValidationFailed(
            "payment_method_id must be a Stripe payment method id (pm_…).", field="payment_method_id"
        )
    owner = db.session.scalar(sa.select(PaymentMethod.user_id).where(PaymentMethod.stripe_payment_method_id == pm_id))
    if owner is not None and owner != user.id:
        raise NotFound(CARD_NOT_FOUND)
    customer_id = _customer_committed(user.id)
    try:
        card = get_gateway().attach_payment_method(pm_id, customer_id)
        default = default_if_none(customer_id, card.id)
    except ResourceMissing:
        raise ValidationFailed("Stripe doesn't know that payment method.", field="payment_method_id") from None
    except PaymentRejected as exc:
        raise ValidationFailed(f"That card could not be saved: {exc.user_message}", field="payment_method_id") from None
    except GatewayError as exc:
        raise gateway_failure(exc) from None
    with unit_of_work():
        lock_user(user.id)
        row = mirror_card(user.id, card, default, actor=user.id)
    return row


def _owned_card(user_id: str, card_id: object) -> PaymentMethod:
    if not is_row_id(card_id):
        raise NotFound(CARD_NOT_FOUND)
    row = db.session.scalar(
        sa.select(PaymentMethod)
        .where(PaymentMethod.id == card_id, PaymentMethod.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound(CARD_NOT_FOUND)
    return row


def remove_card(user: User, card_id: str) -> None:
    """Detaches the learner's card (our `payment_methods.id`) at Stripe and deletes the row.

    NotFound for another learner's id, with no Stripe call. A card Stripe already dropped
    is simply removed here. Stripe clears the customer's default when it was this card.
    """
    with unit_of_work(gateway_failure):
        lock_user(user.id)
        row = _owned_card(user.id, card_id)
        customer_id = user.stripe_customer_id
        gateway = get_gateway()
        try:
            gateway.detach_payment_method(row.stripe_payment_method_id)
        except ResourceMissing:
            pass
        except PaymentRejected:
            # Stripe refuses to detach a card that is no longer attached; only ours then.
            current = gateway.retrieve_payment_method(row.stripe_payment_method_id)
            if customer_id and current.customer_id == customer_id:
                raise
        if row.is_default and customer_id:
            # Stripe clears it on detach; saying so explicitly keeps every Stripe in step.
            if gateway.get_default_payment_method(customer_id) == row.stripe_payment_method_id:
                gateway.set_default_payment_method(customer_id, None)
        audit.record(
            "payment_method.removed",
            entity_type="payment_method",
            entity_id=row.id,
            actor=user.id,
            user_id=user.id,
            brand=row.brand,
            last4=row.last4,
        )
        db.session.delete(row)


def make_default(user: User, card_id: str) -> PaymentMethod:
    """Makes the learner's card the Stripe customer's default and the one `is_default` row.

    One transaction under the learner's row lock. NotFound for another learner's id (no
    Stripe call); a card Stripe no longer has is removed here and answers NotFound.
    """
    with unit_of_work(gateway_failure):
        lock_user(user.id)
        row = _owned_card(user.id, card_id)
        if not user.stripe_customer_id:
            raise NotFound(CARD_NOT_FOUND)
        still_saved = _set_default_at_stripe(user.stripe_customer_id, row)
        if still_saved:
            apply_default(user.id, row.stripe_payment_method_id)
            audit.record(
                "payment_method.made_default",
                entity_type="payment_method",
                entity_id=row.id,
                actor=user.id,
                user_id=user.id,
            )
    if not still_saved:  # the stale row is gone (committed above), and the caller is told
        raise NotFound("That card is no longer saved at Stripe, so it was removed from your list.")
    db.session.refresh(row)
    return row


def _set_default_at_stripe(customer_id: str, row: PaymentMethod) -> bool:
    """Makes the card Stripe's default; False (its row deleted) when Stripe no longer has it for us."""
    try:
        get_gateway().set_default_payment_method(customer_id, row.stripe_payment_method_id)
    except PaymentRejected:
        current = get_gateway().retrieve_payment_method(row.stripe_payment_method_id)
        if current.customer_id == customer_id:
            raise
        db.session.delete(row)
        return False
    return True


def _customer_committed(user_id: str) -> str:
    """The learner's Stripe customer, created once under their row lock and committed before
    any other Stripe call, so a failure there never loses it."""
    with unit_of_work(gateway_failure):
        return ensure_stripe_customer(lock_user(user_id))
