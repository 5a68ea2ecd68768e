"""Learner emails through a transactional outbox.

An email row is written in the same transaction as the change it reports, under a unique
`dedupe_key`, so a confirmation exists exactly once per enrollment however many paths race
to fulfil it. `deliver_pending` sends rows after commit (SMTP when MAIL_SERVER is set;
otherwise they stay in the database, readable at /dev/mail) and retries failures.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from email.message import EmailMessage

import sqlalchemy as sa
from flask import Flask, current_app, render_template

from webapp.extensions import db
from webapp.models import Enrollment, OutboxEmail, PaymentSession, User
from webapp.models.base import utcnow
from webapp.models.enums import OutboxEmailStatus
from webapp.services.pricing import session_split
from webapp.services.transactions import add_unless_duplicate, unit_of_work
from webapp.services.transitions import move_email
from webapp.speedups import session_exists

log = logging.getLogger("webapp")
MAX_ATTEMPTS = 8
_QUEUED = "mail_queued"


def _queue(*, dedupe_key: str, kind: str, to: str | None, subject: str, template: str, **context) -> None:
    if not to:
        return
    email = OutboxEmail(
        dedupe_key=dedupe_key,
        kind=kind,
        to_address=to,
        subject=subject,
        body_text=render_template(f"mail/{template}.txt", **context),
        body_html=render_template(f"mail/{template}.html", **context),
        status=OutboxEmailStatus.PENDING if current_app.config.get("MAIL_SERVER") else OutboxEmailStatus.OUTBOX,
    )
    if not add_unless_duplicate(email):
        return  # already queued by whoever got here first
    # Read (and cleared) when the request ends: its transaction is over by then.
    db.session.info[_QUEUED] = True


def queue_enrollment_confirmation(enrollment: Enrollment, session: PaymentSession | None) -> None:
    """Queues the one confirmation email of this enrollment (caller's transaction)."""
    user = enrollment.user or db.session.get(User, enrollment.user_id)
    course = enrollment.course or session.course
    _queue(
        dedupe_key=f"enrollment-confirmation:{enrollment.id}:{session.id if session else 'none'}",
        kind="enrollment_confirmation",
        to=user.email if user else None,
        subject=f"You're enrolled in {course.title}",
        template="enrollment_confirmation",
        enrollment=enrollment,
        session=session,
        course=course,
        user=user,
        course_url=f"{current_app.config['APP_URL']}/courses/{course.slug}",
        split=session_split(session) if session is not None else None,
    )


def deliver_pending(limit: int = 50) -> int:
    """Sends queued emails over SMTP (no-op without MAIL_SERVER); returns how many were sent."""
    if not current_app.config.get("MAIL_SERVER"):
        return 0
    with unit_of_work():
        rows = db.session.scalars(
            sa.select(OutboxEmail)
            .where(OutboxEmail.status == OutboxEmailStatus.PENDING, OutboxEmail.attempts < MAX_ATTEMPTS)
            .order_by(OutboxEmail.created_at)
            .limit(limit)
        ).all()
    return sum(1 for row in rows if _deliver(row))


def _deliver(row: OutboxEmail) -> bool:
    """Claims one email (PENDING -> SENDING), sends it, and records SENT or PENDING again."""
    with unit_of_work():
        claimed = move_email(row.id, OutboxEmailStatus.SENDING, attempts=OutboxEmail.attempts + 1)
    if not claimed:
        return False
    try:
        _send_smtp(row)
    except (OSError, smtplib.SMTPException) as exc:
        with unit_of_work():
            move_email(row.id, OutboxEmailStatus.PENDING, last_error=str(exc)[:500])
        log.warning("email send failed", extra={"fields": {"email_id": row.id, "error": type(exc).__name__}})
        return False
    with unit_of_work():
        move_email(row.id, OutboxEmailStatus.SENT, sent_at=utcnow())
    return True


def _send_smtp(row: OutboxEmail) -> None:
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message.set_content(row.body_text)
    message.add_alternative(row.body_html, subtype="html")
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=10) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(message)


def queue_refund_notice(refund) -> None:
    """Queues the one notice of this refund (caller's transaction), once it has succeeded."""
    enrollment = db.session.get(Enrollment, refund.enrollment_id) if refund.enrollment_id else None
    if enrollment is None:
        return
    user = db.session.get(User, enrollment.user_id)
    _queue(
        dedupe_key=f"refund-notice:{refund.id}",
        kind="refund_notice",
        to=user.email if user else None,
        subject=f"Your refund for {enrollment.course.title}",
        template="refund_notice",
        refund=refund,
        enrollment=enrollment,
        course=enrollment.course,
        user=user,
    )


def _deliver_in_background(app: Flask) -> None:
    def run():
        with app.app_context():
            try:
                deliver_pending()
            finally:
                db.session.remove()

    threading.Thread(target=run, name="mail-delivery", daemon=True).start()


def init_app(app: Flask) -> None:
    """Sends what a request queued once its transaction is over, off the request thread."""

    @app.teardown_request
    def _send_after_commit(exc):
        if not session_exists():
            return  # the request never used the database session: nothing can be queued
        queued = db.session.info.pop(_QUEUED, False)
        if exc is None and queued and app.config.get("MAIL_SERVER"):
            _deliver_in_background(app)
