"""Stripe events: the inbox and the handlers.

An event is only a trigger (as pretix does it): handlers re-read the object from Stripe
before acting, and find our payment session through the ids we put in Stripe's metadata,
so events may arrive duplicated, late or in any order.

Inbox protocol: one row per Stripe event id (the primary key), two ways to fill it.
- Events whose handler calls Stripe (`_REMOTE_TYPES`): the row is inserted already
  *claimed* and committed, then the handler runs and the outcome releases the claim. A
  known event is claimed by one conditional UPDATE. Only the claimant runs the handler.
- Events handled in our database alone (everything else): the handler runs first and the
  outcome row is written in the same transaction (`_RECORD`), so work and record commit
  together, in one commit. A twin blocks on the row's key, finds it done, and rolls its own
  work back.
Either way two simultaneous deliveries in two processes give one effect and the other
answers "duplicate". A handler error rolls back its work, records the error on the row,
and the webhook answers 5xx so Stripe retries.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.metrics import observe_webhook
from webapp.models import Enrollment, PaymentSession, StripeEvent
from webapp.models.base import utcnow
from webapp.models.enums import EnrollmentStatus, PaymentSessionStatus, PaymentStatus, StripeEventStatus
from webapp.payments.gateway import CheckoutSession, GatewayError, get_gateway
from webapp.services import audit
from webapp.services.fulfillment import (
    find_payment_session_by,
    fulfill_checkout,
    lock_payment_session,
    mark_expired,
    mark_failed,
)
from webapp.services.refunds import refunded_amounts, sync_refunds_for_payment_intent

log = logging.getLogger("webapp")

CLAIM_TTL = timedelta(minutes=5)
AWAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Receipt:
    """What the webhook answers: `ok` → 200, else 500 so Stripe retries."""

    ok: bool
    status: str  # processed | duplicate | ignored | failed | in_progress
    detail: str = ""


class _Ignored(Exception):
    """The event is fine but not for us (someone else's session, wrong mode, unknown type)."""


def _object_id(event: dict[str, Any]) -> str | None:
    obj = (event.get("data") or {}).get("object") or {}
    return obj.get("id") if isinstance(obj, dict) else None


_EVENTS = StripeEvent.__table__

# Handlers that read and write only our own database: their work and the event's row commit
# in ONE transaction (`_handle_and_record`), one commit (one WAL flush) per event; so do
# types we ignore. Handlers in `_REMOTE_TYPES` call Stripe: their claim is committed first,
# so no transaction waits on the network. Dispatch only tests `_REMOTE_TYPES`; this list
# exists so that a test can require a decision for every type `handle_event` handles.
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
    }
)

# Plain SQL that both PostgreSQL and SQLite (3.24+) accept. SQLAlchemy does not cache the
# compiled form of its dialect-specific `insert().on_conflict_do_nothing()` ("no key"): it
# recompiled it on every webhook. A text() statement is compiled once.
_INSERT_ROW = (
    "INSERT INTO stripe_events"
    " (id, type, livemode, status, payload, object_id, attempts, locked_until, received_at,"
    " processed_at, last_error, payment_session_id)"
    " VALUES (:id, :type, :livemode, :status, :payload, :object_id, 1, :locked_until, :received_at,"
    " :processed_at, :last_error, :payment_session_id)"
)


def _event_row_statement(on_conflict: str) -> sa.TextClause:
    """`_INSERT_ROW` (the columns of `_row`) with its conflict clause, typed like the table."""
    typed = ("payload", "locked_until", "received_at", "processed_at")
    return sa.text(f"{_INSERT_ROW} {on_conflict}").bindparams(
        *(sa.bindparam(name, type_=_EVENTS.c[name].type) for name in typed)
    )


_INSERT = _event_row_statement("ON CONFLICT (id) DO NOTHING")
# A database-only event's outcome, written after its handler in the same transaction: new
# → inserted; known and claimable (RECEIVED, FAILED, a lapsed claim) → updated; otherwise
# (done, or held by a live claim) nothing, and the caller rolls its work back.
_RECORD = _event_row_statement(
    "ON CONFLICT (id) DO UPDATE SET status = excluded.status, attempts = stripe_events.attempts + 1,"
    " locked_until = NULL, last_error = excluded.last_error, processed_at = excluded.processed_at,"
    " payment_session_id = COALESCE(excluded.payment_session_id, stripe_events.payment_session_id)"
    " WHERE stripe_events.status IN ('RECEIVED', 'FAILED')"
    " OR (stripe_events.status = 'PROCESSING' AND stripe_events.locked_until < :received_at)"
)
_LAPSED = sa.and_(_EVENTS.c.status == "PROCESSING", _EVENTS.c.locked_until < sa.bindparam("now"))


def _claim_statement(*claimable_statuses: str):
    return (
        sa.update(_EVENTS)
        .where(_EVENTS.c.id == sa.bindparam("event_id"), sa.or_(_EVENTS.c.status.in_(claimable_statuses), _LAPSED))
        .values(status="PROCESSING", attempts=_EVENTS.c.attempts + 1, locked_until=sa.bindparam("claim"))
    )


_CLAIM = _claim_statement(StripeEventStatus.RECEIVED, StripeEventStatus.FAILED)
# A replay may also take an event that is done; never one a live delivery holds.
_CLAIM_FOR_REPLAY = _claim_statement(
    StripeEventStatus.RECEIVED, StripeEventStatus.FAILED, StripeEventStatus.PROCESSED, StripeEventStatus.IGNORED
)
_FINISH = (
    sa.update(_EVENTS)
    .where(_EVENTS.c.id == sa.bindparam("event_id"), _EVENTS.c.locked_until == sa.bindparam("claim"))
    .values(
        status=sa.bindparam("outcome"),
        locked_until=None,
        last_error=sa.bindparam("error"),
        processed_at=sa.bindparam("done_at"),
        payment_session_id=sa.func.coalesce(sa.bindparam("session_id", type_=sa.String), _EVENTS.c.payment_session_id),
    )
)
_STATUS = sa.select(_EVENTS.c.status).where(_EVENTS.c.id == sa.bindparam("event_id"))


def _row(event: dict[str, Any], *, status: str, now, locked_until=None) -> dict[str, Any]:
    return {
        "id": event["id"],
        "type": str(event.get("type") or "unknown")[:100],
        "livemode": bool(event.get("livemode")),
        "status": status,
        "payload": event,
        "object_id": (_object_id(event) or "")[:255] or None,
        "locked_until": locked_until,
        "received_at": now,
        "processed_at": None,
        "last_error": None,
        "payment_session_id": None,
    }


def _store_claimed(event: dict[str, Any]):
    """Inserts a new event already claimed by us; returns the claim, or None if it was known.

    The claim is the row's `locked_until`, a token only this delivery holds: finishing
    matches it, so a delivery whose claim lapsed and was taken over cannot overwrite the
    new claimant's outcome. The caller commits it before running the handler.
    """
    now = utcnow()
    claim = now + CLAIM_TTL
    inserted = db.session.execute(_INSERT, _row(event, status="PROCESSING", now=now, locked_until=claim)).rowcount
    return claim if inserted else None


def _claim(event_id: str, *, replay: bool = False):
    """Claims a known event if nobody is processing it (RECEIVED, FAILED, or a lapsed claim;
    for a replay, also PROCESSED or IGNORED)."""
    now = utcnow()
    claim = now + CLAIM_TTL
    statement = _CLAIM_FOR_REPLAY if replay else _CLAIM
    claimed = db.session.execute(statement, {"event_id": event_id, "now": now, "claim": claim}).rowcount
    db.session.commit()
    return claim if claimed else None


def _finish(
    event: dict[str, Any], claim, status: str, *, error: str | None = None, payment_session_id: str | None = None
) -> None:
    """Records the outcome under our claim, and commits (with the handler's work, if any left).

    If the claim lapsed (CLAIM_TTL) and another delivery took the event over, its claim is
    left alone: that delivery records its own outcome.
    """
    now = utcnow()
    done_at = now if status in (StripeEventStatus.PROCESSED, StripeEventStatus.IGNORED) else None
    params = {"event_id": event["id"], "claim": claim, "outcome": status, "error": error, "done_at": done_at}
    if not db.session.execute(_FINISH, {**params, "session_id": payment_session_id}).rowcount:
        log.warning("stripe event outcome not recorded: another delivery holds it now", extra={"fields": params})
    db.session.commit()


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
    claim = _store_claimed(event)
    if claim is None:
        return _await_other_delivery(event_id, event)
    db.session.commit()  # the claim, before the handler talks to Stripe
    return _process(event, claim)


def _run_handler(event: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """Runs the event's handler: (outcome, detail, payment session id).

    A handler raises `_Ignored` before it writes anything, so an ignored event needs no
    rollback (any pending change is rolled back, should a handler ever break that rule).
    Any other failure rolls the handler's work back; its outcome is FAILED, so Stripe retries.
    """
    try:
        return StripeEventStatus.PROCESSED, None, handle_event(event)
    except _Ignored as reason:
        if db.session.new or db.session.dirty or db.session.deleted:
            db.session.rollback()
        return StripeEventStatus.IGNORED, str(reason), None
    except Exception as exc:  # noqa: BLE001 - any failure must reach Stripe as a retryable 5xx
        db.session.rollback()
        return StripeEventStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000], None


def _handle_and_record(event: dict[str, Any]) -> Receipt:
    """A database-only event: the handler's work and the event's row commit together.

    No claim is taken first. The handler runs, then `_RECORD` writes the outcome; the row's
    primary key decides between twins. A twin that got there first (or a live claim by a
    replay) makes `_RECORD` write nothing: this delivery's work is rolled back, and it
    waits for the other one's outcome like any duplicate. One transaction, one commit.
    """
    status, detail, payment_session_id = _run_handler(event)
    now = utcnow()
    row = _row(event, status=status, now=now)
    done_at = now if status != StripeEventStatus.FAILED else None
    row.update(processed_at=done_at, last_error=detail, payment_session_id=payment_session_id)
    try:
        recorded = db.session.connection().execute(_RECORD, row).rowcount  # Core: no ORM execute path
    except Exception:
        db.session.rollback()
        if status == StripeEventStatus.FAILED:  # the database itself may be the problem; Stripe retries
            return _report(event, status, detail, None)
        raise
    if not recorded:
        db.session.rollback()
        return _await_other_delivery(event["id"], event)
    db.session.commit()
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
        status = db.session.scalar(_STATUS, {"event_id": event_id})
        db.session.commit()
        if status in (StripeEventStatus.PROCESSED, StripeEventStatus.IGNORED):
            return Receipt(True, "duplicate")
        claim = _claim(event_id)
        if claim is not None:
            return _process(event, claim)
        if time.monotonic() > deadline:
            return Receipt(False, "in_progress")
        time.sleep(0.05)


def _process(event: dict[str, Any], claim) -> Receipt:
    """Runs the handler under our committed claim and records its outcome."""
    status, detail, payment_session_id = _run_handler(event)
    try:
        _finish(event, claim, status, error=detail, payment_session_id=payment_session_id)
    except Exception:
        if status != StripeEventStatus.FAILED:
            raise
        db.session.rollback()  # the database itself may be the problem; Stripe retries anyway
    return _report(event, status, detail, payment_session_id)


def _expected_livemode() -> bool:
    key = current_app.config.get("STRIPE_SECRET_KEY") or ""
    return key.startswith(("sk_live_", "rk_live_"))


def handle_event(event: dict[str, Any]) -> str | None:
    """Dispatches one event; returns our payment session id when one was involved."""
    if bool(event.get("livemode")) != _expected_livemode():
        raise _Ignored("livemode does not match this deployment's key")
    obj = (event.get("data") or {}).get("object") or {}
    event_id = event["id"]
    match event.get("type"):
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
        case _:
            raise _Ignored(f"unhandled event type {event.get('type')!r}")


def _payment_intent_id(obj: dict[str, Any]) -> str | None:
    """The payment intent of a charge, refund or dispute (an id, or an expanded object)."""
    value = obj.get("payment_intent")
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


_BY_PAYMENT_INTENT = sa.select(PaymentSession).where(PaymentSession.payment_intent_id == sa.bindparam("pi"))


def _session_for_payment_intent(payment_intent_id: str | None) -> PaymentSession | None:
    if payment_intent_id is None:
        return None
    return db.session.scalar(_BY_PAYMENT_INTENT, {"pi": payment_intent_id})


def _on_session_paid_or_completed(obj: dict[str, Any], event_id: str) -> str | None:
    stripe_session_id = obj.get("id")
    if not stripe_session_id:
        raise _Ignored("no session id")
    remote: CheckoutSession = get_gateway().retrieve_checkout_session(stripe_session_id)
    if remote.mode == "setup":
        from webapp.services import saved_cards

        saved_cards.mirror_setup_session(remote, event_id=event_id)
        return None
    result = fulfill_checkout(stripe_session_id, actor="stripe", event_id=event_id, remote=remote)
    if result.payment_session is None:
        raise _Ignored("not one of our checkout sessions")
    return result.payment_session.id


def _on_session_closed(obj: dict[str, Any], event_id: str, *, failed: bool) -> str | None:
    stripe_session_id = obj.get("id")
    if not stripe_session_id:
        raise _Ignored("no session id")
    found = find_payment_session_by(
        stripe_session_id, metadata=obj.get("metadata"), client_reference_id=obj.get("client_reference_id")
    )
    if found is None:
        raise _Ignored("not one of our checkout sessions")
    session = lock_payment_session(found.id)
    if session.stripe_session_id is None:
        session.stripe_session_id = stripe_session_id
    if failed:
        mark_failed(session, actor="stripe", event_id=event_id, reason="async_payment_failed")
    else:
        mark_expired(session, actor="stripe", event_id=event_id)
    return session.id  # committed with the event's outcome


def _on_payment_intent(obj: dict[str, Any], event_id: str, event_type: str) -> str | None:
    """Records what the payment intent says; never enrolls on its own (the session event does)."""
    ours = (obj.get("metadata") or {}).get("payment_session_id")
    session = db.session.get(PaymentSession, ours) if ours else None
    if session is None and obj.get("id"):
        session = _session_for_payment_intent(obj["id"])
    if session is None:
        raise _Ignored("payment intent of no session of ours")
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
    return session.id  # committed with the event's outcome


def _on_refund(obj: dict[str, Any], event_id: str) -> str | None:
    session_id = sync_refunds_for_payment_intent(_payment_intent_id(obj), event_id=event_id)
    if session_id is None:
        raise _Ignored("refund of a payment that is not ours")
    return session_id


def _on_dispute(obj: dict[str, Any], event_id: str, event_type: str) -> str | None:
    """A chargeback: flag the payment while it is open; a lost one removes access.

    The verified event is trusted for the dispute's state (no re-read: the gateway has no
    dispute call and the signature already proves the payload is Stripe's).
    """
    session = _session_for_payment_intent(_payment_intent_id(obj))
    if session is None:
        raise _Ignored("dispute of a payment that is not ours")
    enrollment = db.session.scalar(
        sa.select(Enrollment).where(Enrollment.payment_session_id == session.id).with_for_update()
    )
    status = str(obj.get("status") or "")
    before = (enrollment.status, enrollment.payment_status) if enrollment else (None, None)
    if enrollment is not None:
        if event_type != "charge.dispute.closed" or status not in ("won", "lost"):
            if enrollment.payment_status not in (PaymentStatus.DISPUTE_LOST, PaymentStatus.REFUNDED):
                enrollment.payment_status = PaymentStatus.DISPUTED
        elif status == "lost":
            enrollment.payment_status = PaymentStatus.DISPUTE_LOST
            enrollment.status = EnrollmentStatus.CANCELLED
            enrollment.cancelled_at = utcnow()
        else:
            refunded, _pending = refunded_amounts(session.id)
            enrollment.payment_status = PaymentStatus.PARTIALLY_REFUNDED if refunded else PaymentStatus.PAID
    audit.record(
        event_type,
        entity_type="payment_session",
        entity_id=session.id,
        actor="stripe",
        payment_session_id=session.id,
        enrollment_id=enrollment.id if enrollment else None,
        stripe_event_id=event_id,
        dispute_id=obj.get("id"),
        dispute_status=status,
        reason=obj.get("reason"),
        amount=obj.get("amount"),
        currency=obj.get("currency"),
        status_before=before[0],
        payment_status_before=before[1],
    )
    return session.id  # committed with the event's outcome


def replay_event(event_id: str, *, actor: str) -> str:
    """Reprocesses a stored event (admin button, `flask payments replay`); returns the outcome.

    The replay claims the event like a delivery does (a done event included), so it never
    runs beside a delivery that holds it; the replay is audit-logged under `actor`.
    """
    row = db.session.get(StripeEvent, event_id)
    if row is None:
        return f"No stored event {event_id}."
    payload = row.payload
    db.session.commit()
    claim = _claim(event_id, replay=True)
    if claim is None:
        return f"Event {event_id} is being processed right now."
    receipt = _process(payload, claim)
    result = f"Event {event_id}: {receipt.status}{' (' + receipt.detail + ')' if receipt.detail else ''}."
    audit.record(
        "stripe_event.replayed",
        entity_type="stripe_event",
        entity_id=event_id,
        actor=actor,
        stripe_event_id=event_id,
        result=result[:500],
    )
    db.session.commit()
    return result


def reconcile(*, since_hours: float | None = None) -> list[str]:
    """Repairs PENDING/PROCESSING sessions from Stripe's state; returns one line per repair.

    Paid → fulfilled; complete but unpaid → PROCESSING; expired at Stripe → EXPIRED;
    overdue and still open → expired at Stripe and here; a failed async payment → FAILED.
    Safe alongside webhooks: every transition goes through the same guarded functions.
    """
    from webapp.services.checkout import expire_overdue

    now = utcnow()
    query = sa.select(PaymentSession.id, PaymentSession.stripe_session_id).where(
        PaymentSession.status.in_((PaymentSessionStatus.PENDING, PaymentSessionStatus.PROCESSING)),
        PaymentSession.stripe_session_id.is_not(None),
    )
    if since_hours is not None:
        query = query.where(PaymentSession.created_at >= now - timedelta(hours=since_hours))
    candidates = db.session.execute(query.order_by(PaymentSession.created_at)).all()
    db.session.commit()
    lines: list[str] = []
    for session_id, stripe_session_id in candidates:
        try:
            remote = get_gateway().retrieve_checkout_session(stripe_session_id)
            before = db.session.get(PaymentSession, session_id).status
            db.session.commit()
            if remote.status == "complete":
                result = fulfill_checkout(stripe_session_id, actor="system", remote=remote)
                # A failed async payment (payment intent back to `requires_payment_method` or
                # `canceled`) is marked FAILED by fulfill_checkout itself.
                if result.state != before:
                    lines.append(f"{session_id} {stripe_session_id}: {before} -> {result.state}")
            elif remote.status == "expired":
                session = lock_payment_session(session_id)
                if mark_expired(session, actor="system", event_id=None):
                    lines.append(f"{session_id} {stripe_session_id}: PENDING -> EXPIRED")
                db.session.commit()
        except GatewayError as exc:
            db.session.rollback()
            lines.append(f"{session_id} {stripe_session_id}: could not reach Stripe ({type(exc).__name__}); will retry")
    lines += _closed_but_paid(now)
    for expired_id in expire_overdue(now=now):
        lines.append(f"{expired_id}: PENDING -> EXPIRED (overdue)")
    lines += retry_stuck_events(now=now)
    return lines


def _closed_but_paid(now) -> list[str]:
    """Sessions we cancelled or expired in the last 48 h that Stripe nonetheless completed.

    A Stripe session lives at most 24 h, so after 48 h nothing can still be paid. If one
    was paid (an expire call raced the payment, a lost webhook), the money was taken:
    fulfillment honours it and the audit log says so.
    """
    rows = db.session.execute(
        sa.select(PaymentSession.id, PaymentSession.stripe_session_id).where(
            PaymentSession.status.in_((PaymentSessionStatus.CANCELED, PaymentSessionStatus.EXPIRED)),
            PaymentSession.stripe_session_id.is_not(None),
            PaymentSession.updated_at >= now - timedelta(hours=48),
        )
    ).all()
    db.session.commit()
    lines = []
    for session_id, stripe_session_id in rows:
        try:
            remote = get_gateway().retrieve_checkout_session(stripe_session_id)
            if remote.status == "complete" and remote.payment_status in ("paid", "no_payment_required"):
                result = fulfill_checkout(stripe_session_id, actor="system", remote=remote)
                lines.append(f"{session_id} {stripe_session_id}: paid after it was closed -> {result.state}")
        except GatewayError as exc:
            db.session.rollback()
            lines.append(f"{session_id} {stripe_session_id}: could not reach Stripe ({type(exc).__name__}); will retry")
    return lines


def retry_stuck_events(*, now=None) -> list[str]:
    """Reprocesses events whose handler failed, or whose claim lapsed (a worker died mid-way)."""
    now = now or utcnow()
    stuck = db.session.scalars(
        sa.select(StripeEvent.id)
        .where(
            sa.or_(
                StripeEvent.status == StripeEventStatus.FAILED,
                sa.and_(StripeEvent.status == "PROCESSING", StripeEvent.locked_until < now),
            )
        )
        .order_by(StripeEvent.received_at)
    ).all()
    db.session.commit()
    lines = []
    for event_id in stuck:
        row = db.session.get(StripeEvent, event_id)
        payload = row.payload
        db.session.commit()
        claim = _claim(event_id)
        if claim is None:
            continue
        receipt = _process(payload, claim)
        lines.append(f"event {event_id}: retried -> {receipt.status}")
    return lines
