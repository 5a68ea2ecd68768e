"""Checkout pages: the price, the coupon partial, and the redirect to Stripe."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from webapp.auth import login_required, rate_limit_key
from webapp.extensions import limiter
from webapp.models.enums import PaymentPlan
from webapp.services import catalog
from webapp.services import checkout as checkout_service
from webapp.services.coupons import CouponRefused
from webapp.services.errors import Conflict, PaymentProviderUnavailable, ServiceError

bp = Blueprint("checkout", __name__, url_prefix="/checkout")
COURSE_NOT_FOUND = "We couldn't find that course. It may have been unpublished."


def _course_or_404(slug: str):
    course = catalog.get_published_course(slug)
    if course is None:
        abort(404, COURSE_NOT_FOUND)
    return course


def _render(
    course,
    *,
    code: str = "",
    error: CouponRefused | None = None,
    status: int = 200,
    page_error=None,
    state: checkout_service.PurchaseState | None = None,
):
    quote = None
    if code and error is None:
        try:
            quote = checkout_service.quote(course, user_id=g.user.id, raw_code=code)
        except CouponRefused as exc:
            error = exc
    if quote is None:
        quote = checkout_service.quote(course, user_id=g.user.id, raw_code=None)
    if state is None:
        state = checkout_service.purchase_state(g.user.id, course.id)
    enrolled = state.enrolled
    context = {
        "in_progress": state.payment_in_progress and not enrolled,
        "course": course,
        "quote": quote,
        "coupon_error": error,
        "code": code if error is None else "",
        "typed_code": code,
        "enrolled": enrolled,
        "page_error": page_error,
    }
    if request.headers.get("HX-Request") and request.path.endswith("/coupon"):
        return render_template("checkout/_summary.html", **context), status
    return render_template("checkout/checkout.html", **context), status


@bp.get("/<slug>")
@login_required
def checkout_page(slug: str):
    found = checkout_service.course_for_checkout(slug, g.user.id)
    if found is None:
        abort(404, COURSE_NOT_FOUND)
    course, state = found
    return _render(course, code=request.args.get("coupon", "").strip()[:64], state=state)


@bp.route("/<slug>/coupon", methods=["POST", "DELETE"])
@login_required
@limiter.limit("30 per minute", key_func=rate_limit_key)
@limiter.limit("60 per minute")
def apply_coupon(slug: str):
    """HTMX: the price-breakdown partial (or an inline reason); without JS, the whole page."""
    course = _course_or_404(slug)
    code = "" if request.method == "DELETE" else request.form.get("code", "")[:200].strip()
    return _render(course, code=code)


@bp.post("/<slug>")
@login_required
@limiter.limit("10 per minute", key_func=rate_limit_key)
def start_checkout(slug: str):
    course = _course_or_404(slug)
    code = request.form.get("coupon_code", "")[:200]
    plan = request.form.get("plan", "").strip().lower()[:20] or PaymentPlan.FULL
    try:
        started = checkout_service.create_checkout(user_id=g.user.id, course=course, raw_code=code, plan=plan)
    except Conflict as exc:
        flash(exc.message, "success" if exc.code == "already_enrolled" else "info")
        return redirect(url_for("checkout.checkout_page", slug=slug), code=303)
    except CouponRefused as exc:
        return _render(course, code=code, error=exc, status=400)
    except PaymentProviderUnavailable as exc:
        return render_template("checkout/unavailable.html", course=course, message=exc.message), 503
    except ServiceError as exc:
        return _render(course, status=exc.status, page_error=exc.message)
    if started.enrolled_without_payment:
        return redirect(url_for("payment.success", session_id=started.payment_session.id), code=303)
    return redirect(started.redirect_url, code=303)
