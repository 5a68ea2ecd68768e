"""Installment plans brought up to date with Stripe: the one path for webhooks, pages and reconciliation.

`sync_plan` reads the plan's subscription and every invoice of it from Stripe (outside any
transaction), then records them under the plan's row lock (`records`). Events are only a
trigger: whatever event arrives, in whatever order, duplicated or not, the plan ends up as
Stripe's state says, and each invoice is counted once.

`ensure_schedule` tells Stripe to end the subscription after the last installment (a
subscription schedule with one phase of N months and `end_behavior=cancel`), so Stripe never
bills an N+1th time; it is retried by every sync until it has succeeded. Should it never
succeed, the plan's last installment paid cancels the subscription outright.

Time: a plan is paused when it has been past due for longer than the grace period at
Stripe's "now". That is the latest Stripe time we know (the event being handled, the
newest invoice) or the wall clock, whichever is later — the same in production, where
they agree, and under the sandbox's test clocks, where Stripe's time runs ahead.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Installment, InstallmentPlan
from webapp.models.base import utcnow
from webapp.models.enums import InstallmentStatus, PlanStatus
from webapp.payments.gateway import GatewayError, Invoice, Subscription, get_gateway
from webapp.services.plans.records import (
    apply_invoice,
    at,
    follow_subscription,
    lock_plan,
    pause_if_overdue,
)
from webapp.services.transactions import retry_on_conflict, unit_of_work

log = logging.getLogger("webapp")


def sync_plan(
    plan_id: str, *, actor: str, event_id: str | None = None, stripe_now: datetime | None = None
) -> list[str]:
    """Records the subscription's invoices and state on the plan; returns what changed, one line each."""
    plan = db.session.get(InstallmentPlan, plan_id)
    if plan is None:
        return []
    gateway = get_gateway()
    subscription = gateway.retrieve_subscription(plan.stripe_subscription_id)
    invoices = sorted(gateway.list_invoices(plan.stripe_subscription_id), key=lambda i: (i.created, i.id))
    lines = retry_on_conflict(
        lambda: _record(plan_id, subscription, invoices, actor=actor, event_id=event_id, stripe_now=stripe_now)
    )
    lines += ensure_schedule(plan_id, subscription=subscription)
    _fill_charges(plan_id)
    return lines


def _fill_charges(plan_id: str) -> None:
    """The charge and card of each paid installment, read once from its payment intent (best effort)."""
    with unit_of_work():
        missing = db.session.execute(
            sa.select(Installment.id, Installment.payment_intent_id).where(
                Installment.plan_id == plan_id,
                Installment.status == InstallmentStatus.PAID,
                Installment.payment_intent_id.is_not(None),
                Installment.charge_id.is_(None),
            )
        ).all()
    for installment_id, payment_intent_id in missing:
        try:
            intent = get_gateway().retrieve_payment_intent(payment_intent_id)
        except GatewayError:
            return  # the next sync tries again
        with unit_of_work():
            row = db.session.get(Installment, installment_id)
            row.charge_id = intent.latest_charge
            row.card_brand, row.card_last4 = intent.card_brand, intent.card_last4


def _now(invoices: list[Invoice], stripe_now: datetime | None) -> datetime:
    known = [utcnow()]
    if stripe_now is not None:
        known.append(stripe_now)
    known += [at(i.created) for i in invoices if i.created]
    return max(known)


def _record(
    plan_id: str,
    subscription: Subscription,
    invoices: list[Invoice],
    *,
    actor: str,
    event_id: str | None,
    stripe_now: datetime | None,
) -> list[str]:
    lines: list[str] = []
    now = _now(invoices, stripe_now)
    with unit_of_work():
        plan = lock_plan(plan_id)
        if plan is None:
            return lines
        for invoice in invoices:
            outcome = apply_invoice(plan, invoice, actor=actor, event_id=event_id, now=now)
            if outcome in ("paid", "failed", "void", "beyond_plan"):
                lines.append(f"plan {plan.id}: invoice {invoice.id} {outcome}")
        if follow_subscription(plan, subscription, actor=actor, event_id=event_id):
            lines.append(f"plan {plan.id}: ended ({subscription.status})")
        if pause_if_overdue(plan, now=now, actor=actor, event_id=event_id):
            lines.append(f"plan {plan.id}: paused")
    return lines


def ensure_schedule(plan_id: str, *, subscription: Subscription | None = None) -> list[str]:
    """Makes Stripe end the subscription after the last installment; best effort, retried by every sync.

    Before the schedule, the card that paid the first installment becomes the customer's
    default card and the subscription's own card is cleared, so every installment charges
    the default card: the one the learner manages, or replaces when one fails.
    """
    plan = db.session.get(InstallmentPlan, plan_id)
    if plan is None:
        return []
    gateway = get_gateway()
    try:
        if plan.status == PlanStatus.PAID and not plan.schedule_ready:
            return _cancel_after_last(plan, subscription)
        if plan.schedule_ready or plan.status not in (PlanStatus.ACTIVE, PlanStatus.PAST_DUE, PlanStatus.PAUSED):
            return []
        subscription = subscription or gateway.retrieve_subscription(plan.stripe_subscription_id)
        if subscription.status == "canceled":
            return []
        if subscription.default_payment_method_id:
            if plan.stripe_customer_id:
                gateway.set_default_payment_method(plan.stripe_customer_id, subscription.default_payment_method_id)
            gateway.use_customer_default_card(subscription.id)
        schedule_id = gateway.schedule_subscription_end(
            subscription, months=plan.installment_count, idempotency_key=f"plan-schedule-{plan.id}"
        )
    except GatewayError as exc:
        log.warning("installment schedule not set yet", extra={"fields": {"plan_id": plan_id, "error": str(exc)}})
        return [f"plan {plan_id}: schedule not set yet ({type(exc).__name__})"]
    with unit_of_work():
        locked = lock_plan(plan_id)
        locked.stripe_schedule_id = schedule_id
        locked.schedule_ready = True
    return [f"plan {plan_id}: ends after installment {plan.installment_count} (schedule {schedule_id})"]


def _cancel_after_last(plan: InstallmentPlan, subscription: Subscription | None) -> list[str]:
    """Paid in full but Stripe was never told to stop: cancel the subscription now."""
    gateway = get_gateway()
    subscription = subscription or gateway.retrieve_subscription(plan.stripe_subscription_id)
    if subscription.status != "canceled":
        gateway.cancel_subscription(subscription.id)
    with unit_of_work():
        locked = lock_plan(plan.id)
        locked.schedule_ready = True
    return [f"plan {plan.id}: paid in full, subscription canceled"]
