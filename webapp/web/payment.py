"""Where Stripe sends the learner back: success (confirms) and cancel (releases).

These two GETs change state — fulfilment and cancellation — because Stripe redirects
with a GET. Both are idempotent and answer only the session's owner (404 otherwise).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, abort, g, make_response, render_template, request
from sqlalchemy.orm import joinedload

from webapp.auth import login_required
from webapp.extensions import db
from webapp.models import Enrollment, PaymentSession
from webapp.models.enums import PaymentSessionStatus
from webapp.payments.gateway import GatewayError
from webapp.services import checkout as checkout_service
from webapp.services.errors import NotFound, PaymentProviderUnavailable
from webapp.services.fulfillment import Fulfillment, fulfill_checkout

bp = Blueprint("payment", __name__, url_prefix="/payment")
log = logging.getLogger("webapp")

POLL_SECONDS = 3
MAX_POLLS = 40  # about two minutes, then we explain instead of polling forever
NOT_FOUND = "We couldn't find that checkout. If you paid, your enrollment will appear under My courses."


def _owned_session():
    try:
        session, enrollment = checkout_service.owned_session_with_enrollment(request.args.get("session_id"), g.user.id)
    except NotFound:
        abort(404, NOT_FOUND)
    # Held for the request: the ORM's identity map keeps only weak references.
    g.owned_enrollment = enrollment
    return session


def _confirm(payment_session) -> tuple[Fulfillment, str | None]:
    """Fulfils if Stripe says paid; a Stripe outage shows the last known state, never a 500."""
    if not payment_session.stripe_session_id:
        enrollment_id = payment_session.enrollment_id
        enrollment = db.session.get(Enrollment, enrollment_id) if enrollment_id else None
        return Fulfillment(payment_session, enrollment, payment_session.status), None
    try:
        return fulfill_checkout(payment_session.stripe_session_id, actor=g.user.id), None
    except GatewayError as exc:
        log.warning("success page could not reach stripe", extra={"fields": {"error": type(exc).__name__}})
        return Fulfillment(payment_session, None, payment_session.status), checkout_service.UNAVAILABLE_MESSAGE


def _reload_for_page(payment_session_id: str) -> None:
    """Refreshes the session, its enrollment and course in one SELECT after fulfilment's commit.

    Without it the template lazily reloads each expired row on its own (three statements).
    """
    db.session.execute(
        sa.select(PaymentSession, Enrollment)
        .outerjoin(Enrollment, Enrollment.id == PaymentSession.enrollment_id)
        .options(joinedload(PaymentSession.course))
        .where(PaymentSession.id == payment_session_id)
    ).all()


def _status_context(attempt: int) -> dict:
    """The caller's session confirmed with Stripe, as the status templates' context."""
    payment_session = _owned_session()
    payment_session_id = payment_session.id
    result, notice = _confirm(payment_session)
    _reload_for_page(payment_session_id)
    return {
        "result": result,
        "session": payment_session,
        "notice": notice,
        "attempt": attempt,
        "poll_seconds": POLL_SECONDS,
        "max_polls": MAX_POLLS,
    }


@bp.get("/success")
@login_required
def success():
    return render_template("payment/success.html", **_status_context(0))


@bp.get("/success/status")
@login_required
def success_status():
    """The self-swapping status partial polled while an async payment settles."""
    try:
        attempt = max(0, min(int(request.args.get("attempt", "0")), MAX_POLLS))
    except ValueError:
        attempt = MAX_POLLS
    context = _status_context(attempt)
    response = make_response(render_template("payment/_status.html", **context))
    if context["result"].state == PaymentSessionStatus.COMPLETED:
        response.headers["HX-Refresh"] = "true"  # re-render the page with its enrollment markers
    return response


@bp.get("/cancel")
@login_required
def cancel():
    payment_session = _owned_session()
    notice = None
    try:
        payment_session = checkout_service.cancel_checkout(payment_session, actor=g.user.id)
    except PaymentProviderUnavailable as exc:
        notice = exc.message
    return render_template("payment/cancel.html", session=payment_session, notice=notice)
