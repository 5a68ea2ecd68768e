"""Catalog and course pages."""

from __future__ import annotations

from flask import Blueprint, abort, g, render_template

from webapp.services import catalog

bp = Blueprint("catalog", __name__)


@bp.get("/")
def index():
    courses = catalog.list_published_courses()
    owned = catalog.enrolled_course_ids(g.user.id) if g.user else set()
    return render_template("catalog/index.html", courses=courses, owned=owned)


@bp.get("/courses/<slug>")
def course(slug: str):
    course = catalog.get_published_course(slug)
    if course is None:
        abort(404, "We couldn't find that course. It may have been unpublished.")
    enrollment = catalog.active_enrollment(g.user.id, course.id) if g.user else None
    return render_template("catalog/course.html", course=course, enrollment=enrollment)
