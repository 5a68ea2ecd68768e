"""What learners and admins do to an installment plan.

Learner (their own plans only; another learner's plan is NotFound):
- `plan_page` — the plan with its installments, what is due and when, and the card that pays;
- `start_card_update` / `complete_card_update` — a new card through Checkout in setup mode,
  made the default (it pays the installments to come) and charged for every open invoice;
- `start_payoff` — the remaining balance in one payment (Checkout in payment mode, a
  PaymentSession with plan "payoff"); fulfillment calls `records.settle_payoff` when it is
  paid, and the subscription is cancelled so nothing more is charged.
Admin:
- `cancel_remaining` — the subscription cancelled at Stripe, the plan ended; access ends
  unless the admin keeps it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import Course, Installment, InstallmentPlan, PaymentMethod, PaymentSession, User
from webapp.models.base import new_id, utcnow
from webapp.models.enums import LIVE_PLAN_STATUSES, InstallmentStatus, PaymentPlan, PaymentSessionStatus, PlanStatus
from webapp.payments.gateway import CheckoutSession, GatewayError, PaymentRejected, ResourceMissing, get_gateway
from webapp.services import audit
from webapp.services.card_mirror import apply_default, mirror_card
from webapp.services.checkout import checkout_expires_at
from webapp.services.confirmation import provider_failure
from webapp.services.errors import Conflict, NotFound, ServiceError
from webapp.services.plans.records import end_plan, grace_period, installments_of, lock_plan
from webapp.services.plans.sync import sync_plan
from webapp.services.transactions import unit_of_work

log = logging.getLogger("webapp")

PLAN_NOT_FOUND = "We couldn't find that installment plan."


@dataclass(frozen=True)
class DueInstallment:
    """One line of the plan's schedule: paid, open (failed or waiting), or still to come."""

    sequence: int
    amount: int
    status: str  # PAID | OPEN | VOID | UPCOMING
    due_at: datetime | None
    paid_at: datetime | None = None
    failed: bool = False
    attempts: int = 0
    refunded: int = 0


@dataclass(frozen=True)
class PlanPage:
    plan: InstallmentPlan
    course: Course
    schedule: list[DueInstallment]
    card: PaymentMethod | None  # the learner's default card: it pays what is due

    @property
    def access_until(self) -> datetime | None:
        """When a past-due plan's access pauses unless the installment is paid."""
        since = self.plan.past_due_since
        return since + grace_period() if since and self.plan.status == PlanStatus.PAST_DUE else None

    @property
    def open_amount(self) -> int:
        return sum(line.amount for line in self.schedule if line.status == "OPEN" and line.failed)


def owned_plan(user_id: str, plan_id: object) -> InstallmentPlan:
    plan = db.session.get(InstallmentPlan, plan_id) if isinstance(plan_id, str) and len(plan_id) <= 64 else None
    if plan is None or plan.user_id != user_id:
        raise NotFound(PLAN_NOT_FOUND)
    return plan


def plans_of(user_id: str) -> dict[str, InstallmentPlan]:
    """The learner's newest plan per enrollment id (for "My courses")."""
    rows = db.session.scalars(
        sa.select(InstallmentPlan).where(InstallmentPlan.user_id == user_id).order_by(InstallmentPlan.created_at)
    ).all()
    return {plan.enrollment_id: plan for plan in rows if plan.enrollment_id}


def schedule_of(plan: InstallmentPlan) -> list[DueInstallment]:
    """Installments recorded so far, then the ones still to come, a month apart from the next due date."""
    lines = [
        DueInstallment(
            sequence=row.sequence,
            amount=row.amount,
            status=row.status,
            due_at=row.invoiced_at,
            paid_at=row.paid_at,
            failed=row.failed_at is not None and row.status == InstallmentStatus.OPEN,
            attempts=row.attempt_count,
            refunded=row.amount_refunded,
        )
        for row in installments_of(plan.id)
    ]
    if plan.status not in LIVE_PLAN_STATUSES:
        return lines
    billed = max((line.sequence for line in lines), default=0)
    due = plan.next_due_at
    for sequence in range(billed + 1, plan.installment_count + 1):
        lines.append(DueInstallment(sequence=sequence, amount=plan.amount_of(sequence), status="UPCOMING", due_at=due))
        due = _month_after(due) if due else None
    return lines


def _month_after(when: datetime) -> datetime:
    month = when.month % 12 + 1
    year = when.year + (when.month == 12)
    for day in (when.day, 30, 29, 28):
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return when + timedelta(days=30)


def plan_page(user_id: str, plan_id: str, *, refreshed: bool = False) -> PlanPage:
    """The learner's plan page; `refreshed`: brought up to date with Stripe first (best effort)."""
    plan = owned_plan(user_id, plan_id)
    if refreshed:
        plan = refresh(plan)
    card = db.session.scalar(
        sa.select(PaymentMethod).where(PaymentMethod.user_id == user_id, PaymentMethod.is_default.is_(True))
    )
    return PlanPage(plan, db.session.get(Course, plan.course_id), schedule_of(plan), card)


def refresh(plan: InstallmentPlan) -> InstallmentPlan:
    """The plan brought up to date with Stripe (best effort: the last known state when Stripe is down)."""
    if plan.status in LIVE_PLAN_STATUSES:
        try:
            sync_plan(plan.id, actor=plan.user_id)
        except GatewayError:
            pass
    return db.session.get(InstallmentPlan, plan.id, populate_existing=True)


# -- the card that pays ---------------------------------------------------------------------


def _app_url() -> str:
    return current_app.config["APP_URL"]


def start_card_update(user: User, plan_id: str) -> str:
    """Opens Checkout in setup mode for a new card; returns its URL (back to `complete_card_update`)."""
    plan = owned_plan(user.id, plan_id)
    if plan.status not in LIVE_PLAN_STATUSES or not plan.stripe_customer_id:
        raise Conflict("This plan has nothing left to pay.", code="plan_closed")
    back = f"{_app_url()}/account/plans/{plan.id}"
    try:
        remote = get_gateway().create_setup_checkout(
            customer_id=plan.stripe_customer_id,
            currency=plan.currency,
            success_url=f"{back}/card?setup_session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=back,
            metadata={"user_id": user.id, "purpose": "plan_card", "installment_plan_id": plan.id},
            idempotency_key=f"plan-card-{plan.id}-{new_id()}",
        )
    except GatewayError as exc:
        raise provider_failure(exc) from None
    if not remote.url:
        raise ServiceError("Stripe didn't return a page to add the card. Please try again.")
    return remote.url


@dataclass(frozen=True)
class CardUpdate:
    card_label: str
    paid_invoices: int  # paid by this call (the setup session's webhook may have paid them first)
    declined: str | None = None  # the decline message when the new card could not pay
    overdue: bool = False  # something is still overdue once Stripe has been re-read


def complete_card_update(user: User, plan_id: str, stripe_session_id: str) -> CardUpdate | None:
    """The learner's return from the setup page: `settle_with_new_card` for their own plan.

    None while the setup isn't complete; NotFound for a session that isn't this plan's.
    """
    plan = owned_plan(user.id, plan_id)
    try:
        remote = get_gateway().retrieve_checkout_session(stripe_session_id)
    except ResourceMissing:
        raise NotFound("We couldn't find that card update.") from None
    except GatewayError as exc:
        raise provider_failure(exc) from None
    if remote.mode != "setup" or remote.customer_id != plan.stripe_customer_id:
        raise NotFound("We couldn't find that card update.")
    return settle_with_new_card(plan.id, remote, actor=user.id)


def settle_with_new_card(plan_id: str, remote: CheckoutSession, *, actor: str, event_id: str | None = None):
    """The card saved by a plan's setup session becomes the default and pays every open invoice.

    Used by the learner's return and by the setup session's webhook, whichever comes first:
    each invoice is paid with an idempotency key of (invoice, card), so both pay it once.
    Returns None while the session isn't complete. Raises PaymentProviderUnavailable.
    """
    plan = db.session.get(InstallmentPlan, plan_id)
    if plan is None or remote.status != "complete" or not remote.setup_payment_method_id:
        return None
    gateway = get_gateway()
    try:
        card = gateway.retrieve_payment_method(remote.setup_payment_method_id)
        if card.customer_id != plan.stripe_customer_id:
            return None
        gateway.set_default_payment_method(plan.stripe_customer_id, card.id)
        paid, declined = _pay_open_invoices(plan, card.id)
    except GatewayError as exc:
        raise provider_failure(exc) from None
    with unit_of_work():
        mirror_card(plan.user_id, card, card.id, actor=actor)
        apply_default(plan.user_id, card.id)
        audit.record(
            "installment_plan.card_replaced",
            entity_type="installment_plan",
            entity_id=plan.id,
            actor=actor,
            payment_session_id=plan.payment_session_id,
            enrollment_id=plan.enrollment_id,
            stripe_event_id=event_id,
            card=f"{card.brand} {card.last4}",
            invoices_paid=paid,
            declined=declined,
        )
    plan = refresh(plan)
    label = f"{(card.brand or 'card').title()} ending in {card.last4 or '????'}"
    return CardUpdate(label, paid, declined, overdue=plan.status in (PlanStatus.PAST_DUE, PlanStatus.PAUSED))


def _pay_open_invoices(plan: InstallmentPlan, payment_method_id: str) -> tuple[int, str | None]:
    gateway = get_gateway()
    paid = 0
    for invoice in gateway.list_invoices(plan.stripe_subscription_id):
        if invoice.status != "open":
            continue
        try:
            gateway.pay_invoice(
                invoice.id,
                payment_method_id=payment_method_id,
                idempotency_key=f"plan-pay-{invoice.id}-{payment_method_id}",
            )
        except PaymentRejected as exc:
            if exc.code == "invoice_already_paid":
                continue
            return paid, exc.user_message or "Your card was declined."
        paid += 1
    return paid, None


# -- paying the balance early ---------------------------------------------------------------


def start_payoff(user: User, plan_id: str) -> str:
    """Opens Checkout (payment mode) for the plan's remaining balance; returns its URL.

    Under the plan's row lock: a second click while the learner's payoff checkout for this
    balance is still open returns that one, so one balance is never offered twice.
    """
    owned_plan(user.id, plan_id)
    now = utcnow()
    with unit_of_work(provider_failure):
        plan = lock_plan(plan_id)
        if plan.status not in LIVE_PLAN_STATUSES or plan.remaining_amount <= 0:
            raise Conflict("This plan has nothing left to pay.", code="plan_closed")
        open_payoff = _open_payoff(plan, now)
        if open_payoff is not None:
            return open_payoff.checkout_url
        session = PaymentSession(
            id=new_id(),
            user_id=user.id,
            course_id=plan.course_id,
            amount=plan.remaining_amount,
            currency=plan.currency,
            discount_amount=0,
            final_amount=plan.remaining_amount,
            plan=PaymentPlan.PAYOFF,
            installment_plan_id=plan.id,
            stripe_customer_id=plan.stripe_customer_id,
            metadata_={},
            expires_at=checkout_expires_at(now),
        )
        session.idempotency_key = f"payoff-{session.id}"
        db.session.add(session)
        db.session.flush()
        _open_payoff_at_stripe(plan, session)
    return session.checkout_url


def _open_payoff(plan: InstallmentPlan, now: datetime) -> PaymentSession | None:
    """The learner's still-open payoff checkout of this plan for exactly its current balance."""
    return db.session.scalar(
        sa.select(PaymentSession).where(
            PaymentSession.installment_plan_id == plan.id,
            PaymentSession.plan == PaymentPlan.PAYOFF,
            PaymentSession.status == PaymentSessionStatus.PENDING,
            PaymentSession.final_amount == plan.remaining_amount,
            PaymentSession.expires_at > now,
            PaymentSession.checkout_url.is_not(None),
        )
    )


def _open_payoff_at_stripe(plan: InstallmentPlan, session: PaymentSession) -> None:
    course = db.session.get(Course, plan.course_id)
    remote = get_gateway().create_payment_checkout(
        customer_id=plan.stripe_customer_id,
        product_name=f"{course.title}: remaining balance",
        description=f"Pays off your installment plan ({plan.installment_count - plan.paid_count} left)",
        amount=session.final_amount,
        currency=plan.currency,
        success_url=f"{_app_url()}/payment/success?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{_app_url()}/account/plans/{plan.id}",
        client_reference_id=session.id,
        metadata={"payment_session_id": session.id, "user_id": session.user_id, "installment_plan_id": plan.id},
        expires_at=int(session.expires_at.timestamp()),
        idempotency_key=session.idempotency_key,
    )
    session.stripe_session_id = remote.id
    session.checkout_url = remote.url
    audit.record(
        "payment_session.created",
        entity_type="payment_session",
        entity_id=session.id,
        actor=session.user_id,
        payment_session_id=session.id,
        amount=session.final_amount,
        currency=plan.currency,
        plan=PaymentPlan.PAYOFF,
        installment_plan_id=plan.id,
    )


# -- admin ----------------------------------------------------------------------------------


def cancel_remaining(
    plan_id: str, *, actor: str, keep_access: bool = False, reason: str = "cancelled_by_admin"
) -> InstallmentPlan:
    """Cancels the plan's subscription at Stripe (nothing more is charged), then ends the plan.

    Access ends unless `keep_access`. A plan already paid or ended is refused (Conflict).
    """
    plan = db.session.get(InstallmentPlan, plan_id)
    if plan is None:
        raise NotFound(PLAN_NOT_FOUND)
    if plan.status not in LIVE_PLAN_STATUSES:
        raise Conflict("This plan is already paid in full or ended.", code="plan_closed")
    try:
        get_gateway().cancel_subscription(plan.stripe_subscription_id)
    except GatewayError as exc:
        raise provider_failure(exc) from None
    with unit_of_work():
        locked = lock_plan(plan_id)
        end_plan(locked, reason=reason, actor=actor, event_id=None, keep_access=keep_access)
    return db.session.get(InstallmentPlan, plan_id, populate_existing=True)


def open_installments(plan_id: str) -> list[Installment]:
    return [row for row in installments_of(plan_id) if row.status == InstallmentStatus.OPEN]


__all__ = [
    "PLAN_NOT_FOUND",
    "CardUpdate",
    "DueInstallment",
    "PlanPage",
    "PlanStatus",
    "cancel_remaining",
    "complete_card_update",
    "open_installments",
    "owned_plan",
    "plan_page",
    "plans_of",
    "refresh",
    "schedule_of",
    "settle_with_new_card",
    "start_card_update",
    "start_payoff",
]
