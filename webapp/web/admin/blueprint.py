"""The admin blueprint itself: every route under /admin is admin-only."""

from __future__ import annotations

from flask import Blueprint, render_template

from webapp.auth import admin_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@admin_required
def _admins_only():
    """Every admin route, including ones added later, is admin-only."""
    return None


def not_found(message: str):
    """The 404 page with the service's message (an unknown id in an admin URL)."""
    return render_template("errors/error.html", status=404, title="Not found", message=message), 404
