"""Admin coupon pages: usage and the create form, edit, deactivate."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, g, redirect, render_template, request, url_for

from webapp.services import coupon_admin
from webapp.services.catalog import all_courses
from webapp.services.errors import ServiceError, ValidationFailed
from webapp.services.reports.coupons import coupon_usage, get_coupon
from webapp.web.admin.blueprint import bp, not_found
from webapp.web.admin.coupon_form import amount_currency, coupon_terms_from_form, errors_of, new_coupon_from_form


def _errors(exc: ServiceError | None) -> dict:
    """What the form templates need to mark every bad field at once."""
    if exc is None:
        return {"error": None, "error_field": None, "errors": {}}
    errors = errors_of(exc) if isinstance(exc, ValidationFailed) else {}
    return {"error": exc.message, "error_field": exc.field, "errors": errors}


def _coupons_page(*, refused: ServiceError | None = None, form=None, status: int = 200):
    now = datetime.now(UTC)
    return (
        render_template(
            "admin/coupons.html",
            usage=coupon_usage(now=now),
            now=now,
            courses=all_courses(),
            form=form or {},
            editing=None,
            amounts_in_major_units=True,
            **_errors(refused),
        ),
        status,
    )


def _coupon_edit_page(coupon, *, refused: ServiceError | None = None, status: int = 200):
    return (
        render_template(
            "admin/coupon_edit.html",
            coupon=coupon,
            courses=all_courses(),
            amounts_in_major_units=True,
            amount_currency=amount_currency(coupon.currency),
            **_errors(refused),
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
        new = new_coupon_from_form(form, request.form.getlist("course_ids"))
        coupon = coupon_admin.create_coupon(new, admin_id=g.user.id)
    except ServiceError as exc:
        return _coupons_page(refused=exc, form=form, status=exc.status)
    flash(f"Coupon {coupon.code} created.", "success")
    return redirect(url_for("admin.coupons"), code=303)


@bp.get("/coupons/<coupon_id>")
def edit_coupon(coupon_id: str):
    try:
        coupon = get_coupon(coupon_id[:64])
    except ServiceError as exc:
        return not_found(exc.message)
    return _coupon_edit_page(coupon)


@bp.post("/coupons/<coupon_id>")
def update_coupon(coupon_id: str):
    coupon_id = coupon_id[:64]
    try:
        currency = get_coupon(coupon_id).currency  # amounts are typed in its major unit
    except ServiceError as exc:
        return not_found(exc.message)
    try:
        terms = coupon_terms_from_form(
            _coupon_form(), request.form.getlist("course_ids"), currency=amount_currency(currency)
        )
        coupon = coupon_admin.update_coupon(coupon_id, terms, admin_id=g.user.id)
    except ServiceError as exc:
        try:
            coupon = get_coupon(coupon_id)
        except ServiceError:
            return not_found(exc.message)
        return _coupon_edit_page(coupon, refused=exc, status=exc.status)
    flash(f"Coupon {coupon.code} updated.", "success")
    return redirect(url_for("admin.coupons"), code=303)


@bp.post("/coupons/<coupon_id>/deactivate")
def deactivate_coupon(coupon_id: str):
    try:
        coupon = coupon_admin.deactivate_coupon(coupon_id[:64], admin_id=g.user.id)
    except ServiceError as exc:
        return _coupons_page(refused=exc, status=exc.status)
    flash(f"Coupon {coupon.code} deactivated; open checkouts keep their price.", "success")
    return redirect(url_for("admin.coupons"), code=303)
