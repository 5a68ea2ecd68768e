"""The audit log: one row per payment state change or admin action, in the caller's transaction."""

from __future__ import annotations

from typing import Any

from webapp.extensions import db
from webapp.logging_setup import log_event
from webapp.metrics import observe_audit
from webapp.models import AuditLog


def record(
    action: str,
    *,
    entity_type: str,
    entity_id: str,
    actor: str,
    payment_session_id: str | None = None,
    enrollment_id: str | None = None,
    stripe_event_id: str | None = None,
    **data: Any,
) -> AuditLog:
    """Adds an audit entry to the current transaction (committed, or rolled back, with it).

    `actor` is a user id, `stripe` (a webhook), `system` (CLI/reconciliation) or `learner`.
    `data` must never hold card numbers or tokens.
    """
    entry = AuditLog(
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        actor=actor,
        payment_session_id=payment_session_id,
        enrollment_id=enrollment_id,
        stripe_event_id=stripe_event_id,
        data=data or None,
    )
    db.session.add(entry)
    observe_audit(action)
    log_event(
        action,
        entity_type=entity_type,
        entity_id=entity_id,
        actor=actor,
        payment_session_id=payment_session_id,
        enrollment_id=enrollment_id,
        stripe_event_id=stripe_event_id,
    )
    return entry
