"""Admin course pages: the course list, and each course's installment offer."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from webapp.services import courses as course_service
from webapp.services.catalog import all_courses
from webapp.services.errors import ServiceError, ValidationFailed
from webapp.web.admin.blueprint import bp, not_found


def parse_installments(raw: str | None) -> int | None:
    """The form's "Offer in installments" choice: "" or "none" → not offered, else 2–12."""
    text = (raw or "").strip().lower()
    if text in {"", "none", "off"}:
        return None
    if (
        not text.isdigit()
        or len(text) > 3
        or not (course_service.MIN_INSTALLMENTS <= int(text) <= course_service.MAX_INSTALLMENTS)
    ):
        raise ValidationFailed(
            f"Choose “Not offered” or a number of installments from {course_service.MIN_INSTALLMENTS} "
            f"to {course_service.MAX_INSTALLMENTS}.",
            field="installments",
        )
    return int(text)


@bp.get("/courses")
def courses():
    rows = [(course, course_service.offered_split(course)) for course in all_courses()]
    return render_template("admin/courses.html", rows=rows)


def _course_edit_page(course, *, error: ServiceError | None = None, chosen: str | None = None, status: int = 200):
    return (
        render_template(
            "admin/course_edit.html",
            course=course,
            choices=course_service.installment_choices(course),
            chosen=chosen if chosen is not None else str(course.installments or ""),
            error=error.message if error else None,
            error_field=error.field if error else None,
        ),
        status,
    )


@bp.get("/courses/<course_id>")
def edit_course(course_id: str):
    try:
        course = course_service.get_course(course_id[:64])
    except ServiceError as exc:
        return not_found(exc.message)
    return _course_edit_page(course)


@bp.post("/courses/<course_id>")
def update_course(course_id: str):
    course_id = course_id[:64]
    raw = request.form.get("installments", "")[:20]
    try:
        course = course_service.set_installments(course_id, parse_installments(raw), actor=g.user.id)
    except ServiceError as exc:
        try:
            course = course_service.get_course(course_id)
        except ServiceError:
            return not_found(exc.message)
        return _course_edit_page(course, error=exc, chosen=raw.strip(), status=exc.status)
    offer = f"in {course.installments} monthly installments" if course.installments else "in full only"
    flash(f"{course.title} is now offered {offer}.", "success")
    return redirect(url_for("admin.courses"), code=303)
