"""Development mail viewer: the outbox the app writes to when no SMTP server is set."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, render_template

from webapp.extensions import db
from webapp.models import OutboxEmail

bp = Blueprint("devmail", __name__, url_prefix="/dev/mail")


@bp.before_request
def _development_only():
    if current_app.config["PRODUCTION"]:
        abort(404)


@bp.get("")
def outbox():
    emails = db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.created_at.desc()).limit(100)).all()
    return render_template("devmail/outbox.html", emails=emails)


@bp.get("/<email_id>")
def show(email_id: str):
    email = db.session.get(OutboxEmail, email_id[:32])
    if email is None:
        abort(404)
    return render_template("devmail/show.html", email=email)
