"""JSON API under /api (Bearer tokens only): the routes of the original NestJS design."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from webapp.auth import login_required
from webapp.extensions import csrf
from webapp.services import enrollments as enrollment_service
from webapp.web.serializers import enrollment_json

bp = Blueprint("api", __name__, url_prefix="/api")
# Bearer-only authentication: a cookie never authenticates the API, so it needs no CSRF token.
csrf.exempt(bp)


@bp.get("/enrollments")
@login_required
def list_enrollments():
    return jsonify([enrollment_json(e) for e in enrollment_service.list_for_user(g.user.id)])
