"""JSON API under /api (Bearer tokens only): the routes a single-page front end calls.

`framework` holds what every route shares (declaration, error mapping, body parsing,
path ids, responses); one module per resource holds its views; `openapi` generates the
document served at `/api/openapi.json` from the route table. Importing this package
registers every route on `bp`.
"""

from __future__ import annotations

from flask import current_app, jsonify

from webapp.web.api import coupons, enrollments, payment_methods, sessions  # noqa: F401  (register the routes)
from webapp.web.api.framework import ROUTES, bp
from webapp.web.api.openapi import build_openapi
from webapp.web.api.urls import same_origin_url, with_session_placeholder

__all__ = ["ROUTES", "bp", "same_origin_url", "with_session_placeholder"]


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document, generated from the route table and the pydantic models."""
    return jsonify(build_openapi(ROUTES, prefix=bp.url_prefix or "", server_url=current_app.config["APP_URL"]))
