"""Every transition table walked against the database (SQLite and PostgreSQL).

Each allowed move applies and writes exactly one audit entry; each other move raises the
domain error and changes nothing. The two aggregates moved by guarded SQL (Stripe events,
outbox emails) move exactly when their table allows it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import (
    AuditLog,
    Enrollment,
    Installment,
    InstallmentPlan,
    OutboxEmail,
    PaymentSession,
    Refund,
    StripeEvent,
)
from webapp.models.base import new_id, utcnow
from webapp.models.enums import (
    EnrollmentStatus,
    InstallmentStatus,
    OutboxEmailStatus,
    PaymentSessionStatus,
    PaymentStatus,
    PlanStatus,
    RefundStatus,
    StripeEventStatus,
)
from webapp.services import transitions
from webapp.services.transitions import TransitionRefused


def _audit_rows() -> int:
    db.session.flush()
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))


def _walk(machine, enum, make, move, read):
    """For every (before, after): `move(make(before), after)` writes one entry or is refused."""
    for before in [None, *enum]:
        for after in enum:
            if before == after:
                continue
            row = make(before)
            count = _audit_rows()
            if machine.allows(before, after):
                assert move(row, after) is True, (before, after)
                assert read(row) == after
                assert _audit_rows() == count + 1, (before, after)
            else:
                with pytest.raises(TransitionRefused):
                    move(row, after)
                assert read(row) == before
                assert _audit_rows() == count, (before, after)


class TestAuditedMachines:
    def test_payment_session(self, app):
        with app.app_context():
            _walk(
                transitions.PAYMENT_SESSION,
                PaymentSessionStatus,
                lambda before: PaymentSession(id=new_id(), status=before),
                lambda row, to: transitions.move_payment_session(row, to, action="test.move", actor="test"),
                lambda row: row.status,
            )
            db.session.rollback()

    def test_enrollment_status(self, app):
        with app.app_context():
            _walk(
                transitions.ENROLLMENT,
                EnrollmentStatus,
                lambda before: Enrollment(id=new_id(), status=before, payment_status=PaymentStatus.PAID),
                lambda row, to: transitions.move_enrollment(row, to_status=to, action="test.move", actor="test"),
                lambda row: row.status,
            )
            db.session.rollback()

    def test_enrollment_payment_status(self, app):
        with app.app_context():
            _walk(
                transitions.ENROLLMENT_PAYMENT,
                PaymentStatus,
                lambda before: Enrollment(id=new_id(), status=EnrollmentStatus.ACTIVE, payment_status=before),
                lambda row, to: transitions.move_enrollment(
                    row, to_payment_status=to, action="test.move", actor="test"
                ),
                lambda row: row.payment_status,
            )
            db.session.rollback()

    def test_refund(self, app):
        with app.app_context():
            _walk(
                transitions.REFUND,
                RefundStatus,
                lambda before: Refund(id=new_id(), status=before),
                lambda row, to: transitions.move_refund(row, to, action="test.move", actor="test"),
                lambda row: row.status,
            )
            db.session.rollback()

    def test_installment_plan(self, app):
        with app.app_context():
            _walk(
                transitions.INSTALLMENT_PLAN,
                PlanStatus,
                lambda before: InstallmentPlan(id=new_id(), status=before),
                lambda row, to: transitions.move_plan(row, to, action="test.move", actor="test"),
                lambda row: row.status,
            )
            db.session.rollback()

    def test_installment(self, app):
        with app.app_context():
            plan = InstallmentPlan(id=new_id(), status=PlanStatus.ACTIVE)
            _walk(
                transitions.INSTALLMENT,
                InstallmentStatus,
                lambda before: Installment(id=new_id(), status=before, sequence=1, amount=100, currency="usd"),
                lambda row, to: transitions.move_installment(row, to, plan=plan, action="test.move", actor="test"),
                lambda row: row.status,
            )
            db.session.rollback()

    def test_a_move_to_the_same_status_is_a_quiet_no_op(self, app):
        with app.app_context():
            session = PaymentSession(id=new_id(), status=PaymentSessionStatus.COMPLETED)
            count = _audit_rows()
            assert not transitions.move_payment_session(
                session, PaymentSessionStatus.COMPLETED, action="test.move", actor="test"
            )
            assert _audit_rows() == count
            assert not transitions.move_payment_session(
                session, PaymentSessionStatus.COMPLETED, action="test.noted", actor="test", always_record=True
            )
            assert _audit_rows() == count + 1
            db.session.rollback()

    def test_both_enrollment_moves_are_checked_before_either_applies(self, app):
        with app.app_context():
            enrollment = Enrollment(id=new_id(), status=EnrollmentStatus.ACTIVE, payment_status=PaymentStatus.FREE)
            with pytest.raises(TransitionRefused):
                transitions.move_enrollment(
                    enrollment,
                    to_status=EnrollmentStatus.REFUNDED,
                    to_payment_status=PaymentStatus.REFUNDED,  # FREE -> REFUNDED is refused
                    action="test.move",
                    actor="test",
                )
            assert (enrollment.status, enrollment.payment_status) == ("ACTIVE", "FREE")
            db.session.rollback()

    def test_the_entry_names_the_actor_and_the_stripe_event(self, app):
        with app.app_context():
            session = PaymentSession(id=new_id(), status=PaymentSessionStatus.PENDING)
            transitions.move_payment_session(
                session,
                PaymentSessionStatus.EXPIRED,
                action="payment_session.expired",
                actor="stripe",
                event_id="evt_1",
            )
            db.session.flush()
            entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_id == session.id))
            assert (entry.action, entry.actor, entry.stripe_event_id, entry.payment_session_id) == (
                "payment_session.expired",
                "stripe",
                "evt_1",
                session.id,
            )
            db.session.rollback()


class TestGuardedSql:
    def test_stripe_event_claims_follow_the_table(self, app):
        from webapp.services.webhooks import events

        with app.app_context():
            now = utcnow()
            for status in StripeEventStatus:
                for replay in (False, True):
                    event_id = f"evt_{status.value.lower()}_{int(replay)}"
                    lapsed = now - timedelta(minutes=1) if status == StripeEventStatus.PROCESSING else None
                    db.session.add(
                        StripeEvent(id=event_id, type="test", status=status, payload={}, locked_until=lapsed)
                    )
                    db.session.commit()
                    claimed = events.claim(event_id, replay=replay) is not None
                    expected = status in (events.REPLAYABLE if replay else events.CLAIMABLE) or (
                        status == StripeEventStatus.PROCESSING  # a lapsed claim is taken over
                    )
                    assert claimed == expected, (status, replay)
                    assert not claimed or transitions.STRIPE_EVENT.allows(status, StripeEventStatus.PROCESSING)
                    row = db.session.get(StripeEvent, event_id, populate_existing=True)
                    assert row.status == (StripeEventStatus.PROCESSING if claimed else status)

    def test_a_live_claim_is_never_taken(self, app):
        from webapp.services.webhooks import events

        with app.app_context():
            db.session.add(
                StripeEvent(
                    id="evt_live",
                    type="test",
                    status=StripeEventStatus.PROCESSING,
                    payload={},
                    locked_until=utcnow() + timedelta(minutes=1),
                )
            )
            db.session.commit()
            assert events.claim("evt_live") is None
            assert events.claim("evt_live", replay=True) is None

    def test_outbox_email_moves_follow_the_table(self, app):
        with app.app_context():
            for before in OutboxEmailStatus:
                for after in OutboxEmailStatus:
                    if before == after:
                        continue
                    email = OutboxEmail(
                        dedupe_key=new_id(),
                        kind="test",
                        to_address="a@example.com",
                        subject="s",
                        body_text="t",
                        body_html="h",
                        status=before,
                    )
                    db.session.add(email)
                    db.session.commit()
                    moved = transitions.move_email(email.id, after)
                    db.session.commit()
                    assert moved == transitions.OUTBOX_EMAIL.allows(before, after), (before, after)
                    now = db.session.scalar(sa.select(OutboxEmail.status).where(OutboxEmail.id == email.id))
                    assert now == (after if moved else before)

    def test_the_database_refuses_a_status_outside_the_enum(self, app):
        with app.app_context():
            with pytest.raises(sa.exc.IntegrityError):
                db.session.execute(
                    sa.text(
                        "INSERT INTO stripe_events (id, type, livemode, status, payload, attempts, received_at)"
                        " VALUES ('evt_bad', 't', false, 'BOGUS', '{}', 0, CURRENT_TIMESTAMP)"
                    )
                )
            db.session.rollback()

    def test_the_column_refuses_a_status_outside_the_enum(self, app):
        with app.app_context():
            email = OutboxEmail(
                dedupe_key=new_id(),
                kind="t",
                to_address="a@example.com",
                subject="s",
                body_text="t",
                body_html="h",
                status="BOGUS",
            )
            db.session.add(email)
            with pytest.raises(sa.exc.StatementError):
                db.session.flush()
            db.session.rollback()
