"""Development mail viewer: the outbox the app writes to when no SMTP server is set."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template

from webapp.services import outbox_reads

bp = Blueprint("devmail", __name__, url_prefix="/dev/mail")


@bp.before_request
def _development_only():
    if current_app.config["PRODUCTION"]:
        abort(404)


@bp.get("")
def outbox():
    return render_template("devmail/outbox.html", emails=outbox_reads.recent_emails())


@bp.get("/<email_id>")
def show(email_id: str):
    email = outbox_reads.find_email(email_id[:32])
    if email is None:
        abort(404)
    return render_template("devmail/show.html", email=email)
