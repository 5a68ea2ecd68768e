"""Admin pages: dashboard, enrollments (list, CSV, detail, refund), coupons, payments, events.

Every route is admin-only; every action is a CSRF-protected POST that calls one service,
which audit-logs it with the admin's id. Bad input answers with the page and a clear
message (400/404/409), never a 500.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from webapp.auth import admin_required
from webapp.models.enums import EnrollmentStatus, PaymentSessionStatus, PaymentStatus
from webapp.services import admin_reports, coupon_admin, grants, refunds
from webapp.services.errors import PaymentProviderUnavailable, ServiceError, ValidationFailed
from webapp.services.money import format_money
from webapp.services.transactions import discard
from webapp.services.webhooks import replay_event as replay

bp = Blueprint("admin", __name__, url_prefix="/admin")

CHART_WIDTH = 600
CHART_HEIGHT = 160


@bp.before_request
@admin_required
def _admins_only():
    """Every admin route, including ones added later, is admin-only."""
    return None


def _chart(values: list[int], *, top: int | None = None, width: int = CHART_WIDTH, height: int = CHART_HEIGHT) -> dict:
    """Bar geometry for an inline SVG chart and the y of its zero axis.

    Negative values (net refunds) hang below the axis. `top` (default: the largest value)
    sets the scale, so a second series can be drawn on the first one's.
    """
    if top is None:
        top = max([v for v in values if v > 0] or [0])
    bottom = min([v for v in values if v < 0] or [0])
    span = (top - bottom) or 1
    axis = height * top / span
    step = width / max(len(values), 1)
    bars = []
    for i, value in enumerate(values):
        h = abs(value) * height / span
        y = axis - h if value >= 0 else axis
        bars.append(
            {
                "x": round(i * step + 1, 2),
                "y": round(y, 2),
                "w": round(max(step - 2, 1), 2),
                "h": round(h, 2),
                "value": value,
                "negative": value < 0,
            }
        )
    return {"bars": bars, "axis": round(axis, 2)}


def _not_found(message: str):
    return render_template("errors/error.html", status=404, title="Not found", message=message), 404


# -- dashboard -----------------------------------------------------------------------------


@bp.get("")
def dashboard():
    figures = admin_reports.dashboard()
    charts = {cur: _chart([d.net for d in days]) for cur, days in figures.revenue.items()}
    created = [d.created for d in figures.conversion]
    # Completed bars share the created bars' scale so one sits inside the other.
    completed = _chart([d.completed for d in figures.conversion], top=max(created))["bars"] if any(created) else []
    return render_template(
        "admin/dashboard.html",
        figures=figures,
        charts=charts,
        conversion_created=_chart(created)["bars"],
        conversion_completed=completed,
        chart_width=CHART_WIDTH,
        chart_height=CHART_HEIGHT,
        courses=admin_reports.all_courses(),
    )


@bp.post("/grants")
def grant():
    try:
        enrollment = grants.grant_enrollment(
            user_ref=request.form.get("user", "")[:320],
            course_id=request.form.get("course_id", "")[:64],
            reason=request.form.get("reason", "")[:2000],
            admin_id=g.user.id,
        )
    except ServiceError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.dashboard") + "#grant", code=303)
    flash(f"Enrollment granted to {enrollment.user.email or enrollment.user_id}.", "success")
    return redirect(url_for("admin.enrollment_detail", enrollment_id=enrollment.id), code=303)


# -- enrollments ---------------------------------------------------------------------------


def _filter_or_error():
    try:
        return admin_reports.parse_enrollment_filter(request.args.to_dict()), None
    except ValidationFailed as exc:
        return admin_reports.EnrollmentFilter(), exc.message


@bp.get("/enrollments")
def enrollments():
    flt, error = _filter_or_error()
    page = admin_reports.Page([], None)
    if error is None:
        try:
            page = admin_reports.list_enrollments(flt, after=request.args.get("after", "")[:400])
        except ValidationFailed as exc:
            error = exc.message
    return (
        render_template(
            "admin/enrollments.html",
            flt=flt,
            page=page,
            error=error,
            first_page=bool(request.args.get("after")),
            courses=admin_reports.all_courses(),
            statuses=[s.value for s in EnrollmentStatus],
            payment_statuses=[s.value for s in PaymentStatus],
            sorts=admin_reports.SORTS,
        ),
        400 if error else 200,
    )


@bp.get("/enrollments.csv")
def enrollments_csv():
    flt, error = _filter_or_error()
    if error:
        return Response(f"{error}\n", status=400, mimetype="text/plain")
    filename = f"enrollments-{datetime.now():%Y%m%d-%H%M%S}.csv"
    return Response(
        stream_with_context(admin_reports.export_enrollments_csv(flt)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def _render_detail(
    enrollment_id: str, *, error: str | None = None, status: int = 200, form=None, token: str | None = None
):
    try:
        enrollment = admin_reports.get_enrollment(enrollment_id)
    except ServiceError as exc:
        return _not_found(exc.message)
    return (
        render_template(
            "admin/enrollment.html",
            enrollment=enrollment,
            timeline=admin_reports.enrollment_timeline(enrollment),
            refund_list=admin_reports.refunds_of(enrollment),
            refundable=refunds.refundable_amount(enrollment),
            extra_payments=refunds.extra_payments(enrollment),
            request_token=token or secrets.token_urlsafe(16),
            error=error,
            form=form or {},
        ),
        status,
    )


@bp.get("/enrollments/<enrollment_id>")
def enrollment_detail(enrollment_id: str):
    return _render_detail(enrollment_id[:64])


@bp.post("/enrollments/<enrollment_id>/refund")
def refund(enrollment_id: str):
    enrollment_id = enrollment_id[:64]
    form = {"amount": request.form.get("amount", "")[:64], "reason": request.form.get("reason", "")[:2000]}
    try:
        result = refunds.issue_refund(
            enrollment_id,
            amount_text=form["amount"],
            reason=form["reason"],
            admin_id=g.user.id,
            request_token=request.form.get("request_token", "")[:200],
            payment_session_id=request.form.get("payment_session_id", "")[:64] or None,
        )
    except ServiceError as exc:
        # Stripe unreachable: it may still have made the refund, so a retry must reuse this
        # form's token (Stripe's idempotency key) rather than risk a second refund.
        token = request.form.get("request_token", "")[:200] if isinstance(exc, PaymentProviderUnavailable) else None
        return _render_detail(enrollment_id, error=exc.message, status=exc.status, form=form, token=token)
    amount = format_money(result.amount, result.currency)
    if result.status == "FAILED":
        flash(
            f"Stripe reported the refund of {amount} as failed: {result.failure_reason or 'no reason given'}.", "error"
        )
    else:
        flash(f"Refund of {amount}: Stripe says {result.status.lower()} ({result.stripe_refund_id}).", "success")
    return redirect(url_for("admin.enrollment_detail", enrollment_id=enrollment_id), code=303)


# -- coupons -------------------------------------------------------------------------------


def _coupons_page(*, error: str | None = None, field: str | None = None, form=None, status: int = 200, editing=None):
    return (
        render_template(
            "admin/coupons.html",
            usage=admin_reports.coupon_usage(),
            courses=admin_reports.all_courses(),
            error=error,
            error_field=field,
            form=form or {},
            editing=editing,
        ),
        status,
    )


def _coupon_edit_page(coupon, *, error: str | None = None, field: str | None = None, status: int = 200):
    return (
        render_template(
            "admin/coupon_edit.html",
            coupon=coupon,
            courses=admin_reports.all_courses(),
            error=error,
            error_field=field,
        ),
        status,
    )


def _coupon_form() -> dict[str, str]:
    """The coupon form's fields; for a checkbox after its hidden default, the last value wins."""
    return {k: request.form.getlist(k)[-1][:500] for k in request.form if k not in ("csrf_token", "course_ids")}


@bp.get("/coupons")
def coupons():
    return _coupons_page()


@bp.post("/coupons")
def create_coupon():
    form = _coupon_form()
    try:
        coupon = coupon_admin.create_coupon_from_form(form, request.form.getlist("course_ids"), admin_id=g.user.id)
    except ServiceError as exc:
        return _coupons_page(error=exc.message, field=exc.field, form=form, status=exc.status)
    flash(f"Coupon {coupon.code} created.", "success")
    return redirect(url_for("admin.coupons"), code=303)


@bp.get("/coupons/<coupon_id>")
def edit_coupon(coupon_id: str):
    try:
        coupon = admin_reports.get_coupon(coupon_id[:64])
    except ServiceError as exc:
        return _not_found(exc.message)
    return _coupon_edit_page(coupon)


@bp.post("/coupons/<coupon_id>")
def update_coupon(coupon_id: str):
    coupon_id = coupon_id[:64]
    form = _coupon_form()
    try:
        coupon = coupon_admin.update_coupon(coupon_id, form, request.form.getlist("course_ids"), admin_id=g.user.id)
    except ServiceError as exc:
        try:
            coupon = admin_reports.get_coupon(coupon_id)
        except ServiceError:
            return _not_found(exc.message)
        return _coupon_edit_page(coupon, error=exc.message, field=exc.field, status=exc.status)
    flash(f"Coupon {coupon.code} updated.", "success")
    return redirect(url_for("admin.coupons"), code=303)


@bp.post("/coupons/<coupon_id>/deactivate")
def deactivate_coupon(coupon_id: str):
    try:
        coupon = coupon_admin.deactivate_coupon(coupon_id[:64], admin_id=g.user.id)
    except ServiceError as exc:
        return _coupons_page(error=exc.message, status=exc.status)
    flash(f"Coupon {coupon.code} deactivated; open checkouts keep their price.", "success")
    return redirect(url_for("admin.coupons"), code=303)


# -- payments and events -------------------------------------------------------------------


@bp.get("/payments")
def payments():
    status = request.args.get("status", "")[:20]
    error = None
    try:
        page = admin_reports.list_payments(status=status, after=request.args.get("after", "")[:400])
    except ValidationFailed as exc:
        page, error = admin_reports.Page([], None), exc.message
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
        page = admin_reports.list_events(status=status, type_=type_, after=request.args.get("after", "")[:400])
    except ValidationFailed as exc:
        page, error = admin_reports.Page([], None), exc.message
    return (
        render_template(
            "admin/events.html",
            page=page,
            status=status.upper(),
            type_=type_,
            error=error,
            statuses=admin_reports.EVENT_STATUSES,
        ),
        400 if error else 200,
    )


@bp.post("/events/<event_id>/replay")
def replay_event(event_id: str):
    event_id = event_id[:255]
    try:
        admin_reports.get_event(event_id)
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
