"""Stripe events: verifying them, the inbox protocol, and dispatch to the handlers.

Inbox protocol: one row per Stripe event id (the primary key; its statements live in
`webhooks.events`), two ways to fill it.
- Events whose handler calls Stripe (`_REMOTE_TYPES`): the row is inserted already
  *claimed* and committed, then the handler runs and the outcome releases the claim. A
  known event is claimed by one conditional UPDATE. Only the claimant runs the handler.
- Events handled in our database alone (everything else): the handler runs first and the
  outcome row is written in the same transaction, so work and record commit together, in
  one commit. A twin blocks on the row's key, finds it done, and rolls its own work back.
Either way two simultaneous deliveries in two processes give one effect and the other
answers "duplicate".

Outcomes: a body that isn't a usable event is refused (400, labelled for what is wrong:
`verify_event`); a field of the wrong JSON type, an event that isn't ours, or an object
Stripe answers `resource_missing` for is recorded IGNORED with its reason (200). Any other
failure (Stripe unreachable, the database, a bug) rolls the work back, records the error
on the row and answers 5xx so Stripe retries.

Modules: `payload` (what an event must look like), `events` (the rows and their status
moves), `handlers` (one per event type), `reconciliation` (repairs from Stripe's state).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app

from webapp.metrics import observe_webhook
from webapp.models.base import utcnow
from webapp.models.enums import StripeEventStatus
from webapp.payments.gateway import ResourceMissing, WebhookPayloadError, WebhookSignatureError, get_gateway
from webapp.services import audit
from webapp.services.errors import ValidationFailed
from webapp.services.transactions import pending_work, unit_of_work
from webapp.services.webhooks import events
from webapp.services.webhooks.events import CLAIM_TTL
from webapp.services.webhooks.handlers import Ignored as _Ignored
from webapp.services.webhooks.handlers import on_billing_event as _on_billing_event
from webapp.services.webhooks.handlers import on_dispute as _on_dispute
from webapp.services.webhooks.handlers import on_payment_intent as _on_payment_intent
from webapp.services.webhooks.handlers import on_refund as _on_refund
from webapp.services.webhooks.handlers import on_session_closed as _on_session_closed
from webapp.services.webhooks.handlers import on_session_paid_or_completed as _on_session_paid_or_completed
from webapp.services.webhooks.payload import envelope_problem, field_problem
from webapp.services.webhooks.reconciliation import reconcile

log = logging.getLogger("webapp")

AWAIT_SECONDS = 10.0

__all__ = [
    "AWAIT_SECONDS",
    "CLAIM_TTL",
    "Receipt",
    "WebhookRejected",
    "handle_event",
    "receive_event",
    "reconcile",
    "replay_event",
    "retry_stuck_events",
    "verify_event",
]


class WebhookRejected(ValidationFailed):
    """The body is not a genuine Stripe event (the webhook answers 400)."""


def verify_event(payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event in `payload` once its `Stripe-Signature` is verified; WebhookRejected otherwise.

    The rejection's code says what was wrong: `invalid_signature` (header missing, garbled,
    stale or of another secret), `malformed_json`, `not_an_event`, `missing_type`,
    `invalid_type`, `missing_id`, `invalid_id`, `too_deeply_nested` or `unsupported_text`
    (see `payload`).
    """
    try:
        event = get_gateway().verify_webhook(payload, signature)
    except WebhookPayloadError as exc:
        message = _PAYLOAD_MESSAGES.get(exc.code, "The body is not a Stripe event.")
        raise _rejected(exc.code, message, str(exc)) from None
    except WebhookSignatureError as exc:
        message = "The Stripe-Signature header is missing, invalid or stale."
        raise _rejected("invalid_signature", message, str(exc)) from None
    problem = envelope_problem(event, payload)
    if problem is not None:
        raise _rejected(*problem, problem[1])
    return event


_PAYLOAD_MESSAGES = {
    "malformed_json": "The body is not JSON (UTF-8, no NaN or Infinity).",
    "not_an_event": "The body is JSON but not a Stripe event object.",
    "missing_type": "The event has no `type`.",
}


def _rejected(code: str, message: str, reason: str) -> WebhookRejected:
    log.warning("webhook rejected", extra={"fields": {"code": code, "reason": reason[:200]}})
    observe_webhook(None, code)
    return WebhookRejected(message, code=code)


@dataclass(frozen=True)
class Receipt:
    """What the webhook answers: `ok` → 200, else 500 so Stripe retries."""

    ok: bool
    status: str  # processed | duplicate | ignored | failed | in_progress
    detail: str = ""


# Handlers that read and write only our own database: their work and the event's row commit
# in ONE transaction (`_handle_and_record`); so do types we ignore. Handlers in
# `_REMOTE_TYPES` call Stripe: their claim is committed first, so no transaction waits on
# the network. Dispatch only tests `_REMOTE_TYPES`; this list exists so that a test can
# require a decision for every type `handle_event` handles.
# Installment plans: each re-reads the plan's subscription and invoices (handlers.on_billing_event).
BILLING_TYPES = frozenset(
    {
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "subscription_schedule.completed",
        "subscription_schedule.canceled",
        "subscription_schedule.released",
    }
)
_LOCAL_TYPES = frozenset(
    {
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.processing",
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
    }
)
_REMOTE_TYPES = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "charge.refunded",
        "refund.updated",
        "refund.created",
        "charge.refund.updated",
        "payment_method.attached",
        "payment_method.detached",
        *BILLING_TYPES,
    }
)


def _expected_livemode() -> bool:
    key = current_app.config.get("STRIPE_SECRET_KEY") or ""
    return key.startswith(("sk_live_", "rk_live_"))


def handle_event(event: dict[str, Any]) -> str | None:
    """Dispatches one event to its handler; returns our payment session id when one was involved."""
    event_type = event["type"]
    problem = field_problem(event, event_type)
    if problem is not None:
        raise _Ignored(problem)
    if bool(event.get("livemode")) != _expected_livemode():
        raise _Ignored("livemode does not match this deployment's key")
    data = event.get("data")
    obj = (data.get("object") if isinstance(data, dict) else None) or {}
    event_id = event["id"]
    match event_type:
        case "checkout.session.completed" | "checkout.session.async_payment_succeeded":
            return _on_session_paid_or_completed(obj, event_id)
        case "checkout.session.async_payment_failed":
            return _on_session_closed(obj, event_id, failed=True)
        case "checkout.session.expired":
            return _on_session_closed(obj, event_id, failed=False)
        case "payment_intent.succeeded" | "payment_intent.payment_failed" | "payment_intent.processing":
            return _on_payment_intent(obj, event_id, event["type"])
        case "charge.refunded" | "refund.updated" | "refund.created" | "charge.refund.updated":
            return _on_refund(obj, event_id)
        case "charge.dispute.created" | "charge.dispute.updated" | "charge.dispute.closed":
            return _on_dispute(obj, event_id, event["type"])
        case "payment_method.attached" | "payment_method.detached":
            from webapp.services import saved_cards

            saved_cards.mirror_payment_method_event(event["type"], obj, event_id=event_id)
            return None
        case _ if event_type in BILLING_TYPES:
            return _on_billing_event(obj, event_id, event_type, event.get("created"))
        case _:
            raise _Ignored(f"unhandled event type {event_type!r}")


def receive_event(event: dict[str, Any]) -> Receipt:
    """Stores a verified event once and processes it at most once at a time."""
    receipt = _receive(event)
    observe_webhook(event.get("type") if isinstance(event.get("type"), str) else None, receipt.status)
    return receipt


def _receive(event: dict[str, Any]) -> Receipt:
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 255:
        return Receipt(True, "ignored", "event without an id")
    if event.get("type") not in _REMOTE_TYPES:
        return _handle_and_record(event)
    claim = events.store_claimed(event)  # committed before the handler talks to Stripe
    if claim is None:
        return _await_other_delivery(event_id, event)
    return _process(event, claim)


def _run_handler(event: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """Runs the event's handler, its work left uncommitted: (outcome, detail, payment session id).

    A handler raises `_Ignored` before it writes anything, so an ignored event needs no
    rollback. Stripe answering `resource_missing` when the handler re-reads an object is
    also IGNORED (its work rolled back): no retry will make the object exist. Any other
    failure rolls the handler's work back; its outcome is FAILED, so Stripe retries.
    """
    try:
        with pending_work(clean_exits=(_Ignored,)):
            return StripeEventStatus.PROCESSED, None, handle_event(event)
    except _Ignored as reason:
        return StripeEventStatus.IGNORED, str(reason), None
    except ResourceMissing as exc:  # rolled back; Stripe will never have it, so a retry can't help
        return StripeEventStatus.IGNORED, f"resource_missing: {exc}"[:2000], None
    except Exception as exc:  # noqa: BLE001 - any failure must reach Stripe as a retryable 5xx
        return StripeEventStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000], None


class _TwinGotThere(Exception):
    """A twin delivery recorded this event first: this delivery's work is rolled back."""


def _handle_and_record(event: dict[str, Any]) -> Receipt:
    """A database-only event: the handler's work and the event's row commit together.

    No claim is taken first. The handler runs, then the outcome is recorded; the row's
    primary key decides between twins. A twin that got there first (or a live claim by a
    replay) leaves nothing recorded: this delivery's work is rolled back, and it waits for
    the other one's outcome like any duplicate. One transaction, one commit.
    """
    status, detail, payment_session_id = _run_handler(event)
    try:
        with unit_of_work():
            if not events.record_outcome(event, status, detail=detail, payment_session_id=payment_session_id):
                raise _TwinGotThere
    except _TwinGotThere:
        return _await_other_delivery(event["id"], event)
    except Exception:
        if status == StripeEventStatus.FAILED:  # the database itself may be the problem; Stripe retries
            return _report(event, status, detail, None)
        raise
    return _report(event, status, detail, payment_session_id)


def _report(event: dict[str, Any], status: str, detail: str | None, payment_session_id: str | None) -> Receipt:
    fields = {"event_id": event["id"], "type": event.get("type")}
    if status == StripeEventStatus.FAILED:
        log.error("stripe event failed", extra={"fields": {**fields, "error": (detail or "").split(":", 1)[0]}})
        return Receipt(False, "failed", (detail or "").split(":", 1)[0])
    if status == StripeEventStatus.IGNORED:
        log.info("stripe event ignored", extra={"fields": {**fields, "reason": detail}})
        return Receipt(True, "ignored", detail or "")
    log.info("stripe event processed", extra={"fields": {**fields, "payment_session_id": payment_session_id}})
    return Receipt(True, "processed")


def _await_other_delivery(event_id: str, event: dict[str, Any]) -> Receipt:
    """A twin delivery holds the event: wait briefly for its outcome instead of guessing.

    Processed or ignored by the twin → "duplicate" (200, no effect). The twin failed or its
    claim lapsed → claim it and process it here. Still running after AWAIT_SECONDS → not
    2xx, so Stripe retries (a worker that died mid-handler must not swallow the event).
    """
    deadline = time.monotonic() + AWAIT_SECONDS
    while True:
        if events.status_of(event_id) in events.DONE:
            return Receipt(True, "duplicate")
        claim = events.claim(event_id)
        if claim is not None:
            return _process(event, claim)
        if time.monotonic() > deadline:
            return Receipt(False, "in_progress")
        time.sleep(0.05)


def _process(event: dict[str, Any], claim) -> Receipt:
    """Runs the handler under our committed claim and records its outcome."""
    status, detail, payment_session_id = _run_handler(event)
    try:
        events.finish(event, claim, status, error=detail, payment_session_id=payment_session_id)
    except Exception:
        if status != StripeEventStatus.FAILED:
            raise
        # The database itself may be the problem; Stripe retries anyway.
    return _report(event, status, detail, payment_session_id)


def replay_event(event_id: str, *, actor: str) -> str:
    """Reprocesses a stored event (admin button, `flask payments replay`); returns the outcome.

    The replay claims the event like a delivery does (a done event included), so it never
    runs beside a delivery that holds it; the replay is audit-logged under `actor`.
    """
    payload = events.payload_of(event_id)
    if payload is None:
        return f"No stored event {event_id}."
    claim = events.claim(event_id, replay=True)
    if claim is None:
        return f"Event {event_id} is being processed right now."
    receipt = _process(payload, claim)
    result = f"Event {event_id}: {receipt.status}{' (' + receipt.detail + ')' if receipt.detail else ''}."
    with unit_of_work():
        audit.record(
            "stripe_event.replayed",
            entity_type="stripe_event",
            entity_id=event_id,
            actor=actor,
            stripe_event_id=event_id,
            result=result[:500],
        )
    return result


def retry_stuck_events(*, now=None) -> list[str]:
    """Reprocesses events whose handler failed, or whose claim lapsed (a worker died mid-way)."""
    lines = []
    for event_id in events.stuck_event_ids(now or utcnow()):
        payload = events.payload_of(event_id)
        claim = events.claim(event_id)
        if claim is None:
            continue
        receipt = _process(payload, claim)
        lines.append(f"event {event_id}: retried -> {receipt.status}")
    return lines
