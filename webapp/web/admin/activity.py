"""Admin activity pages: payment sessions and webhook events (with replay)."""

from __future__ import annotations

import json

from flask import flash, g, redirect, render_template, request, url_for

from webapp.models.enums import PaymentSessionStatus, StripeEventStatus
from webapp.services.errors import ServiceError, ValidationFailed
from webapp.services.reports.activity import get_event, list_events, list_payments
from webapp.services.reports.paging import empty_page
from webapp.services.transactions import discard
from webapp.services.webhooks import replay_event as replay
from webapp.web.admin.blueprint import bp, not_found
from webapp.web.admin.filters import cursor, parse_event_status, parse_payment_status


@bp.get("/payments")
def payments():
    status = request.args.get("status", "")[:20]
    error = None
    try:
        page = list_payments(status=parse_payment_status(status), after=cursor(request.args))
    except ValidationFailed as exc:
        page, error = empty_page(), exc.message
    return (
        render_template(
            "admin/payments.html",
            page=page,
            status=status.upper(),
            error=error,
            statuses=[s.value for s in PaymentSessionStatus],
        ),
        400 if error else 200,
    )


@bp.get("/events")
def events():
    status = request.args.get("status", "")[:20]
    type_ = request.args.get("type", "")[:100].strip()
    error = None
    try:
        page = list_events(status=parse_event_status(status), type_=type_, after=cursor(request.args))
    except ValidationFailed as exc:
        page, error = empty_page(), exc.message
    return (
        render_template(
            "admin/events.html",
            page=page,
            status=status.upper(),
            type_=type_,
            error=error,
            statuses=[s.value for s in StripeEventStatus],
            payload_endpoint="admin.event_payload",
        ),
        400 if error else 200,
    )


@bp.get("/events/<event_id>")
def event_payload(event_id: str):
    """One stored webhook event's payload, pretty-printed (the template escapes it)."""
    try:
        event = get_event(event_id[:255])
    except ServiceError as exc:
        return not_found(exc.message)
    payload = json.dumps(event.payload, indent=2, sort_keys=True, ensure_ascii=False)
    return render_template("admin/event.html", event=event, payload=payload)


#: The events list's filter, carried through a replay (the form's hidden inputs).
_LIST_KEYS = {"status": 20, "type": 100, "after": 500}


def _back_to_list():
    """Back to the events list the admin replayed from: only the list's own keys, bounded."""
    args = {key: request.form.get(key, "")[:limit].strip() for key, limit in _LIST_KEYS.items()}
    return redirect(url_for("admin.events", **{k: v for k, v in args.items() if v}), code=303)


@bp.post("/events/<event_id>/replay")
def replay_event(event_id: str):
    event_id = event_id[:255]
    try:
        get_event(event_id)
    except ServiceError as exc:
        flash(exc.message, "error")
        return _back_to_list()
    try:
        result = replay(event_id, actor=g.user.id)
    except ServiceError as exc:
        flash(f"Replay of {event_id} refused: {exc.message}", "error")
        return _back_to_list()
    except Exception as exc:  # noqa: BLE001 - the admin must see that the replay failed, not a 500
        discard()
        flash(f"Replay of {event_id} failed: {type(exc).__name__}. See the event's last error.", "error")
        return _back_to_list()
    flash(f"Replayed {event_id}: {result}", "success")
    return _back_to_list()
