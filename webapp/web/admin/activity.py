"""Admin activity pages: payment sessions and webhook events (with replay)."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from webapp.models.enums import PaymentSessionStatus, StripeEventStatus
from webapp.services.errors import ServiceError, ValidationFailed
from webapp.services.reports.activity import get_event, list_events, list_payments
from webapp.services.reports.paging import empty_page
from webapp.services.transactions import discard
from webapp.services.webhooks import replay_event as replay
from webapp.web.admin.blueprint import bp
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
        ),
        400 if error else 200,
    )


@bp.post("/events/<event_id>/replay")
def replay_event(event_id: str):
    event_id = event_id[:255]
    try:
        get_event(event_id)
    except ServiceError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.events"), code=303)
    try:
        result = replay(event_id, actor=g.user.id)
    except ServiceError as exc:
        flash(f"Replay of {event_id} refused: {exc.message}", "error")
        return redirect(url_for("admin.events"), code=303)
    except Exception as exc:  # noqa: BLE001 - the admin must see that the replay failed, not a 500
        discard()
        flash(f"Replay of {event_id} failed: {type(exc).__name__}. See the event's last error.", "error")
        return redirect(url_for("admin.events"), code=303)
    flash(f"Replayed {event_id}: {result}", "success")
    return redirect(url_for("admin.events"), code=303)
