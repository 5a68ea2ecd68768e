"""Where Stripe sends the learner back: success (confirms) and cancel (releases).

These two GETs change state — fulfilment and cancellation — because Stripe redirects
with a GET. Both are idempotent and answer only the session's owner (404 otherwise).
"""

from __future__ import annotations

from flask import Blueprint, abort, g, make_response, render_template, request

from webapp.auth import login_required
from webapp.models.enums import PaymentSessionStatus
from webapp.services import checkout as checkout_service
from webapp.services.confirmation import confirm_return
from webapp.services.errors import NotFound, PaymentProviderUnavailable
from webapp.services.pricing import session_split

bp = Blueprint("payment", __name__, url_prefix="/payment")

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


def _status_context(attempt: int) -> dict:
    """The caller's session confirmed with Stripe, as the status templates' context."""
    payment_session = _owned_session()
    result, notice = confirm_return(payment_session, actor=g.user.id)
    return {
        "result": result,
        "session": payment_session,
        "split": session_split(payment_session),
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
