"""Admin enrollment pages: the filtered list, its CSV export, one enrollment, a refund, its installment plan."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask import Response, flash, g, redirect, render_template, request, stream_with_context, url_for

from webapp.models.enums import EnrollmentStatus, PaymentStatus
from webapp.services import refunds
from webapp.services.catalog import all_courses
from webapp.services.errors import PaymentProviderUnavailable, ServiceError, ValidationFailed
from webapp.services.money import format_money
from webapp.services.plans.actions import cancel_remaining
from webapp.services.reports.enrollments import SORTS, EnrollmentFilter, get_enrollment, list_enrollments
from webapp.services.reports.enrollments_csv import export_enrollments_csv
from webapp.services.reports.paging import empty_page
from webapp.services.reports.plans import enrollment_plan, plans_of
from webapp.services.reports.timeline import enrollment_timeline, refunds_of
from webapp.web.admin.blueprint import bp, not_found
from webapp.web.admin.filters import cursor, enrollment_filter_args, parse_enrollment_filter


def _filter_or_error() -> tuple[EnrollmentFilter, str | None]:
    try:
        return parse_enrollment_filter(request.args.to_dict()), None
    except ValidationFailed as exc:
        return EnrollmentFilter(), exc.message


@bp.get("/enrollments")
def enrollments():
    flt, error = _filter_or_error()
    page = empty_page()
    if error is None:
        try:
            page = list_enrollments(flt, after=cursor(request.args))
        except ValidationFailed as exc:
            error = exc.message
    return (
        render_template(
            "admin/enrollments.html",
            flt=flt,
            filter_args=enrollment_filter_args(flt),
            page=page,
            error=error,
            first_page=bool(request.args.get("after")),
            courses=all_courses(),
            statuses=[s.value for s in EnrollmentStatus],
            payment_statuses=[s.value for s in PaymentStatus],
            sorts=SORTS,
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
        stream_with_context(export_enrollments_csv(flt)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def _render_detail(
    enrollment_id: str,
    *,
    error: str | None = None,
    status: int = 200,
    form=None,
    token: str | None = None,
    error_at: str = "refund",
):
    """The page; `error` is shown beside the form it is about (`error_at`: refund | plan)."""
    try:
        enrollment = get_enrollment(enrollment_id)
    except ServiceError as exc:
        return not_found(exc.message)
    plans = plans_of(enrollment)
    paid_by_plan = any(p.plan.payment_session_id == enrollment.payment_session_id for p in plans)
    refundable = refunds.refundable_amount(enrollment)
    return (
        render_template(
            "admin/enrollment.html",
            enrollment=enrollment,
            timeline=enrollment_timeline(enrollment),
            refund_list=refunds_of(enrollment),
            refundable=refundable,
            refund_card=refunds.payment_card_label(enrollment) if refundable > 0 and not paid_by_plan else None,
            extra_payments=refunds.extra_payments(enrollment),
            plans=plans,
            paid_by_plan=paid_by_plan,
            request_token=token or secrets.token_urlsafe(16),
            error=error if error_at == "refund" else None,
            plan_error=error if error_at == "plan" else None,
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
    form = {
        "amount": request.form.get("amount", "")[:64],
        "reason": request.form.get("reason", "")[:2000],
        "refund_all": request.form.get("refund_all", "") == "1",
    }
    try:
        result = refunds.issue_refund(
            enrollment_id,
            amount_text=form["amount"],
            reason=form["reason"],
            admin_id=g.user.id,
            request_token=request.form.get("request_token", "")[:200],
            payment_session_id=request.form.get("payment_session_id", "")[:64] or None,
            refund_all=form["refund_all"],
        )
    except ServiceError as exc:
        return _render_detail(enrollment_id, error=exc.message, status=exc.status, form=form, token=_retry_token(exc))
    _refund_flash(result)
    return redirect(url_for("admin.enrollment_detail", enrollment_id=enrollment_id), code=303)


def _refund_flash(result) -> None:
    amount = format_money(result.amount, result.currency)
    if result.status == "FAILED":
        flash(
            f"Stripe reported the refund of {amount} as failed: {result.failure_reason or 'no reason given'}.", "error"
        )
    else:
        flash(f"Refund of {amount}: Stripe says {result.status.lower()} ({result.stripe_refund_id}).", "success")


def _retry_token(exc: ServiceError) -> str | None:
    """Stripe unreachable: it may still have made the refund, so a retry reuses the form's token."""
    return request.form.get("request_token", "")[:200] if isinstance(exc, PaymentProviderUnavailable) else None


def _back_to_plan(enrollment_id: str):
    return redirect(url_for("admin.enrollment_detail", enrollment_id=enrollment_id) + "#plan", code=303)


@bp.post("/enrollments/<enrollment_id>/installments/refund")
def refund_installment(enrollment_id: str):
    enrollment_id = enrollment_id[:64]
    form = {
        "installment_id": request.form.get("installment_id", "")[:64],
        "amount": request.form.get("amount", "")[:64],
        "reason": request.form.get("reason", "")[:2000],
        "refund_all": request.form.get("refund_all", "") == "1",
    }
    try:
        if not form["installment_id"]:
            raise ValidationFailed("Choose the installment to refund.", field="installment_id")
        result = refunds.refund_installment(
            enrollment_id,
            form["installment_id"],
            amount_text=form["amount"],
            reason=form["reason"],
            admin_id=g.user.id,
            request_token=request.form.get("request_token", "")[:200],
            refund_all=form["refund_all"],
        )
    except ServiceError as exc:
        return _render_detail(
            enrollment_id, error=exc.message, status=exc.status, form=form, token=_retry_token(exc), error_at="plan"
        )
    _refund_flash(result)
    return _back_to_plan(enrollment_id)


@bp.post("/enrollments/<enrollment_id>/plans/<plan_id>/refund-all")
def refund_plan(enrollment_id: str, plan_id: str):
    enrollment_id = enrollment_id[:64]
    form = {"all_reason": request.form.get("reason", "")[:2000]}
    try:
        results = refunds.refund_plan_payments(
            enrollment_id,
            plan_id[:64],
            reason=form["all_reason"],
            admin_id=g.user.id,
            request_token=request.form.get("request_token", "")[:200],
        )
    except ServiceError as exc:
        return _render_detail(
            enrollment_id, error=exc.message, status=exc.status, form=form, token=_retry_token(exc), error_at="plan"
        )
    for result in results:
        _refund_flash(result)
    return _back_to_plan(enrollment_id)


@bp.post("/enrollments/<enrollment_id>/plans/<plan_id>/cancel")
def cancel_plan(enrollment_id: str, plan_id: str):
    enrollment_id = enrollment_id[:64]
    keep_access = request.form.get("keep_access", "") == "1"
    try:
        plan = enrollment_plan(enrollment_id, plan_id[:64])
        cancel_remaining(plan.id, actor=g.user.id, keep_access=keep_access)
    except ServiceError as exc:
        return _render_detail(enrollment_id, error=exc.message, status=exc.status, error_at="plan")
    access = "the learner keeps access" if keep_access else "the learner's access has ended"
    flash(f"Remaining installments cancelled at Stripe; nothing more will be charged, and {access}.", "success")
    return _back_to_plan(enrollment_id)
