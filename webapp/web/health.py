"""Liveness and readiness probes for the load balancer and the operator."""

from __future__ import annotations

from flask import Blueprint, jsonify

from webapp.extensions import limiter
from webapp.services.health import database_is_reachable

bp = Blueprint("health", __name__)
limiter.exempt(bp)


@bp.get("/healthz")
def healthz():
    """The process is up; says nothing about its dependencies."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready when the database answers; 503 otherwise so traffic goes elsewhere."""
    if not database_is_reachable():
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
