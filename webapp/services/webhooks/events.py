"""The `stripe_events` rows: every status change of a Stripe event, as guarded SQL statements.

This module owns StripeEventStatus (the moves are services.transitions.STRIPE_EVENT). A
row is inserted once per event id and moved by conditional statements, so two deliveries
in two processes can never both hold it:

- `store_claimed`: a new event, inserted already PROCESSING under a claim token.
- `claim`: RECEIVED/FAILED (for a replay also PROCESSED/IGNORED), or a lapsed claim ->
  PROCESSING under a new token.
- `finish`: PROCESSING -> the handler's outcome, only under the caller's own token.
- `record_outcome`: a database-only event's outcome, written in its handler's transaction:
  new -> inserted; claimable -> updated; done or held -> nothing (the caller rolls back).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import StripeEvent
from webapp.models.base import utcnow
from webapp.models.enums import StripeEventStatus
from webapp.services.transactions import unit_of_work
from webapp.services.transitions import STRIPE_EVENT
from webapp.speedups import run_alone, session_is_idle

log = logging.getLogger("webapp")

CLAIM_TTL = timedelta(minutes=5)

_EVENTS = StripeEvent.__table__
_V = StripeEventStatus

#: Statuses a delivery may claim (or record over); a replay may also take a done event.
CLAIMABLE = (_V.RECEIVED, _V.FAILED)
REPLAYABLE = (*CLAIMABLE, _V.PROCESSED, _V.IGNORED)
DONE = (_V.PROCESSED, _V.IGNORED)
assert all(STRIPE_EVENT.allows(status, _V.PROCESSING) for status in REPLAYABLE)


def _quoted(statuses) -> str:
    return ", ".join(f"'{status.value}'" for status in statuses)


# Plain SQL that both PostgreSQL and SQLite (3.24+) accept. SQLAlchemy does not cache the
# compiled form of its dialect-specific `insert().on_conflict_do_nothing()`; a text()
# statement is compiled once.
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
_RECORD = _event_row_statement(
    "ON CONFLICT (id) DO UPDATE SET status = excluded.status, attempts = stripe_events.attempts + 1,"
    " locked_until = NULL, last_error = excluded.last_error, processed_at = excluded.processed_at,"
    " payment_session_id = COALESCE(excluded.payment_session_id, stripe_events.payment_session_id)"
    f" WHERE stripe_events.status IN ({_quoted(CLAIMABLE)})"
    f" OR (stripe_events.status = '{_V.PROCESSING.value}' AND stripe_events.locked_until < :received_at)"
)
_LAPSED = sa.and_(_EVENTS.c.status == _V.PROCESSING, _EVENTS.c.locked_until < sa.bindparam("now"))


def _claim_statement(*claimable_statuses: str):
    return (
        sa.update(_EVENTS)
        .where(_EVENTS.c.id == sa.bindparam("event_id"), sa.or_(_EVENTS.c.status.in_(claimable_statuses), _LAPSED))
        .values(status=_V.PROCESSING, attempts=_EVENTS.c.attempts + 1, locked_until=sa.bindparam("claim"))
    )


_CLAIM = _claim_statement(*CLAIMABLE)
_CLAIM_FOR_REPLAY = _claim_statement(*REPLAYABLE)
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


def _object_id(event: dict[str, Any]) -> str | None:
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    object_id = obj.get("id") if isinstance(obj, dict) else None
    return object_id if isinstance(object_id, str) else None


def _row(event: dict[str, Any], *, status: str, now: datetime, locked_until=None) -> dict[str, Any]:
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


def store_claimed(event: dict[str, Any]):
    """Inserts a new event already claimed by us and commits; returns the claim, or None if it was known.

    The claim is the row's `locked_until`, a token only this delivery holds: finishing
    matches it, so a delivery whose claim lapsed and was taken over cannot overwrite the
    new claimant's outcome. It is committed before the handler talks to Stripe.
    """
    now = utcnow()
    claim = now + CLAIM_TTL
    with unit_of_work():
        inserted = db.session.execute(_INSERT, _row(event, status=_V.PROCESSING, now=now, locked_until=claim)).rowcount
    return claim if inserted else None


def claim(event_id: str, *, replay: bool = False):
    """Claims a known event if nobody is processing it (RECEIVED, FAILED, or a lapsed claim;
    for a replay, also PROCESSED or IGNORED); commits and returns the claim, or None."""
    now = utcnow()
    token = now + CLAIM_TTL
    statement = _CLAIM_FOR_REPLAY if replay else _CLAIM
    with unit_of_work():
        claimed = db.session.execute(statement, {"event_id": event_id, "now": now, "claim": token}).rowcount
    return token if claimed else None


def finish(
    event: dict[str, Any], token, status: str, *, error: str | None = None, payment_session_id: str | None = None
) -> None:
    """Records the outcome under our claim, and commits (with the handler's work, if any left).

    If the claim lapsed (CLAIM_TTL) and another delivery took the event over, its claim is
    left alone: that delivery records its own outcome.
    """
    now = utcnow()
    done_at = now if status in DONE else None
    params = {"event_id": event["id"], "claim": token, "outcome": status, "error": error, "done_at": done_at}
    with unit_of_work():
        if not db.session.execute(_FINISH, {**params, "session_id": payment_session_id}).rowcount:
            log.warning("stripe event outcome not recorded: another delivery holds it now", extra={"fields": params})


def record_outcome(event: dict[str, Any], status: str, *, detail: str | None, payment_session_id: str | None) -> bool:
    """A database-only event's outcome, in the handler's (uncommitted) transaction.

    Returns False when a twin delivery got there first (done, or held by a live claim):
    nothing was written and the caller rolls its work back.

    When the handler did nothing in the database session (an event that is not ours), the
    row is the whole transaction: the same statement then runs alone in autocommit
    (`speedups.run_alone`, PostgreSQL), one round trip instead of BEGIN, INSERT, COMMIT.
    """
    now = utcnow()
    row = _row(event, status=status, now=now)
    row.update(
        processed_at=now if status != _V.FAILED else None, last_error=detail, payment_session_id=payment_session_id
    )
    if session_is_idle():
        written = run_alone(_RECORD, row)
        if written is not None:
            return bool(written)
    return bool(db.session.connection().execute(_RECORD, row).rowcount)  # Core: no ORM execute path


def status_of(event_id: str) -> str | None:
    """The event's status now (its own short transaction)."""
    with unit_of_work():
        return db.session.scalar(_STATUS, {"event_id": event_id})


def payload_of(event_id: str) -> dict[str, Any] | None:
    """The stored event, or None if we never received it."""
    with unit_of_work():
        row = db.session.get(StripeEvent, event_id)
        return row.payload if row is not None else None


def stuck_event_ids(now: datetime) -> list[str]:
    """Events whose handler failed, or whose claim lapsed (a worker died mid-way), oldest first."""
    with unit_of_work():
        return list(
            db.session.scalars(
                sa.select(StripeEvent.id)
                .where(
                    sa.or_(
                        StripeEvent.status == _V.FAILED,
                        sa.and_(StripeEvent.status == _V.PROCESSING, StripeEvent.locked_until < now),
                    )
                )
                .order_by(StripeEvent.received_at)
            )
        )
