"""Admin coupon pages: usage and the create form, edit, deactivate."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from webapp.services import coupon_admin
from webapp.services.catalog import all_courses
from webapp.services.errors import ServiceError
from webapp.services.reports.coupons import coupon_usage, get_coupon
from webapp.web.admin.blueprint import bp, not_found
from webapp.web.admin.coupon_form import coupon_terms_from_form, new_coupon_from_form


def _coupons_page(*, error: str | None = None, field: str | None = None, form=None, status: int = 200):
    return (
        render_template(
            "admin/coupons.html",
            usage=coupon_usage(),
            courses=all_courses(),
            error=error,
            error_field=field,
            form=form or {},
            editing=None,
        ),
        status,
    )


def _coupon_edit_page(coupon, *, error: str | None = None, field: str | None = None, status: int = 200):
    return (
        render_template(
            "admin/coupon_edit.html",
            coupon=coupon,
            courses=all_courses(),
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
        new = new_coupon_from_form(form, request.form.getlist("course_ids"))
        coupon = coupon_admin.create_coupon(new, admin_id=g.user.id)
    except ServiceError as exc:
        return _coupons_page(error=exc.message, field=exc.field, form=form, status=exc.status)
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
        terms = coupon_terms_from_form(_coupon_form(), request.form.getlist("course_ids"))
        coupon = coupon_admin.update_coupon(coupon_id, terms, admin_id=g.user.id)
    except ServiceError as exc:
        try:
            coupon = get_coupon(coupon_id)
        except ServiceError:
            return not_found(exc.message)
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
