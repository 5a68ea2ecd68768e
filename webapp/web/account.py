"""The learner's account: my courses (progress, cancel) and saved cards.

Every view is the signed-in learner's own: an id that is someone else's answers the same
404 as an unknown one. Stripe outages show a retryable message over the last known cards,
never a 500.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from webapp.auth import login_required, user_row
from webapp.services import enrollments as enrollment_service
from webapp.services import saved_cards
from webapp.services.errors import NotFound, PaymentProviderUnavailable, ServiceError
from webapp.services.plans import actions as plans

bp = Blueprint("account", __name__, url_prefix="/account")

NOT_A_REFUND = "Cancelling removes your access to the course. It is not a refund: no money is returned."


def _card_label(card) -> str:
    return f"{(card.brand or 'card').title()} ending in {card.last4 or '????'}"


# -- enrollments ---------------------------------------------------------------------------


@bp.get("/enrollments")
@login_required
def enrollments():
    page = enrollment_service.my_courses(g.user.id)
    return render_template(
        "account/enrollments.html", rows=page.rows, pending=page.pending, plans=plans.plans_of(g.user.id)
    )


@bp.get("/enrollments/<enrollment_id>/cancel")
@login_required
def confirm_cancel(enrollment_id: str):
    try:
        enrollment = enrollment_service.get_for_user(g.user.id, enrollment_id)
    except NotFound as exc:
        abort(404, exc.message)
    return render_template("account/cancel_enrollment.html", enrollment=enrollment, not_a_refund=NOT_A_REFUND)


@bp.post("/enrollments/<enrollment_id>/cancel")
@login_required
def cancel(enrollment_id: str):
    try:
        enrollment = enrollment_service.cancel_enrollment(g.user.id, enrollment_id)
    except NotFound as exc:
        abort(404, exc.message)
    except ServiceError as exc:
        flash(exc.message, "error")
        return redirect(url_for("account.enrollments"), code=303)
    flash(
        f"Your enrollment in {enrollment.course.title} is cancelled. This was not a refund: no money was returned.",
        "success",
    )
    return redirect(url_for("account.enrollments"), code=303)


# -- payment methods -----------------------------------------------------------------------


def _render_cards(*, notice: str | None = None, status: int = 200):
    cards = None
    if notice is None:
        try:
            cards = saved_cards.list_cards(user_row())
        except PaymentProviderUnavailable as exc:
            notice = exc.message
    if cards is None:
        cards = saved_cards.cached_cards(user_row())
        if status == 200:
            status = 503
    return render_template("account/payment_methods.html", cards=cards, notice=notice), status


def _cards_refused(exc: ServiceError):
    """The cards page explaining a refusal: 503 when Stripe is unreachable, 400 otherwise."""
    return _render_cards(notice=exc.message, status=exc.status if exc.status >= 500 else 400)


@bp.get("/payment-methods")
@login_required
def payment_methods():
    setup_session_id = request.args.get("setup_session_id")
    if setup_session_id is not None:
        try:
            card = saved_cards.complete_card_setup(user_row(), setup_session_id)
        except NotFound as exc:
            abort(404, exc.message)
        except PaymentProviderUnavailable as exc:
            return _render_cards(
                notice="Your card may have been saved, but we couldn't confirm it yet. " + exc.message, status=503
            )
        except ServiceError as exc:
            flash(exc.message, "error")
            return redirect(url_for("account.payment_methods"), code=303)
        if card is None:
            flash("The card setup isn't finished, so no card was added.", "error")
        else:
            flash(f"Card saved: {_card_label(card)}.", "success")
        return redirect(url_for("account.payment_methods"), code=303)
    if request.args.get("setup_cancelled"):
        flash("No card was added.", "success")
        return redirect(url_for("account.payment_methods"), code=303)
    return _render_cards()


@bp.post("/payment-methods")
@login_required
def add_card():
    try:
        url = saved_cards.start_card_setup(user_row())
    except ServiceError as exc:
        return _cards_refused(exc)
    return redirect(url, code=303)


@bp.post("/payment-methods/<card_id>/default")
@login_required
def make_default(card_id: str):
    try:
        card = saved_cards.make_default(user_row(), card_id)
    except NotFound as exc:
        abort(404, exc.message)
    except ServiceError as exc:
        return _cards_refused(exc)
    flash(f"{_card_label(card)} is now your default card.", "success")
    return redirect(url_for("account.payment_methods"), code=303)


def _owned_card_or_404(card_id: str):
    try:
        return saved_cards.get_card(user_row(), card_id)
    except NotFound as exc:
        abort(404, exc.message)


@bp.get("/payment-methods/<card_id>/remove")
@login_required
def confirm_remove(card_id: str):
    card = _owned_card_or_404(card_id)
    return render_template("account/remove_card.html", card=card, label=_card_label(card))


@bp.post("/payment-methods/<card_id>/remove")
@login_required
def remove(card_id: str):
    card = _owned_card_or_404(card_id)
    label = _card_label(card)
    try:
        saved_cards.remove_card(user_row(), card_id)
    except NotFound as exc:
        abort(404, exc.message)
    except ServiceError as exc:
        return _cards_refused(exc)
    flash(f"{label} was removed.", "success")
    return redirect(url_for("account.payment_methods"), code=303)


# -- installment plans -----------------------------------------------------------------------


@bp.get("/plans/<plan_id>")
@login_required
def plan(plan_id: str):
    try:
        page = plans.plan_page(g.user.id, plan_id, refreshed=True)
    except NotFound as exc:
        abort(404, exc.message)
    return render_template("account/plan.html", page=page)


def _to_stripe(plan_id: str, start):
    """Opens Stripe's page for the learner's own plan (`start` returns its URL), or says why not."""
    try:
        url = start(user_row(), plan_id)
    except NotFound as exc:
        abort(404, exc.message)
    except ServiceError as exc:
        flash(exc.message, "error")
        return redirect(url_for("account.plan", plan_id=plan_id), code=303)
    return redirect(url, code=303)


@bp.post("/plans/<plan_id>/card")
@login_required
def replace_plan_card(plan_id: str):
    return _to_stripe(plan_id, plans.start_card_update)


@bp.get("/plans/<plan_id>/card")
@login_required
def plan_card_saved(plan_id: str):
    setup_session_id = request.args.get("setup_session_id", "")
    try:
        outcome = plans.complete_card_update(user_row(), plan_id, setup_session_id[:255])
    except NotFound as exc:
        abort(404, exc.message)
    except ServiceError as exc:
        flash(exc.message, "error")
        return redirect(url_for("account.plan", plan_id=plan_id), code=303)
    if outcome is None:
        flash("The card setup isn't finished, so your card was not changed.", "error")
    elif outcome.declined:
        flash(f"{outcome.card_label} is saved, but it couldn't pay what is due: {outcome.declined}", "error")
    elif outcome.overdue:
        flash(f"{outcome.card_label} is saved, but an installment is still overdue. Please try again.", "error")
    else:
        flash(f"{outcome.card_label} is saved: nothing is overdue, and it pays the installments to come.", "success")
    return redirect(url_for("account.plan", plan_id=plan_id), code=303)


@bp.post("/plans/<plan_id>/payoff")
@login_required
def pay_off_plan(plan_id: str):
    return _to_stripe(plan_id, plans.start_payoff)
