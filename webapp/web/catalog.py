"""Catalog and course pages."""

from __future__ import annotations

from flask import Blueprint, abort, g

from webapp.services import catalog
from webapp.speedups import render_public

bp = Blueprint("catalog", __name__)


@bp.get("/")
def index():
    courses = tuple(catalog.catalog_page(g.user.id if g.user else None))
    return render_public("catalog/index.html", courses=courses)


@bp.get("/courses/<slug>")
def course(slug: str):
    course = catalog.course_page(slug, g.user.id if g.user else None)
    if course is None:
        abort(404, "We couldn't find that course. It may have been unpublished.")
    return render_public("catalog/course.html", course=course)
