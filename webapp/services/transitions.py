"""Every status change, in one place: the allowed moves of each aggregate and the functions that make them.

A move is checked against its aggregate's table, applied to the row, and written to the audit
log (actor, Stripe event id, details) in the caller's transaction. A move to the status the
row already has is a no-op: it returns False and writes nothing, unless the caller asks for
the entry anyway (`always_record`: the event itself is worth recording, e.g. a dispute update
that leaves the status as it is). Any other move not in the table raises TransitionRefused.

Nothing else in `webapp/` assigns a status (tests/unit/test_transitions.py checks), with one
exception built on STRIPE_EVENT: the webhook inbox's guarded SQL on `stripe_events`
(services/webhooks/events.py), where a conditional statement is what makes a claim safe
between processes. Outbox emails move by a guarded statement too, `move_email` below.

Stripe events and outbox emails write no audit entry: their own rows already record
attempts, errors and times, and the audit log holds payment state and admin actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Enrollment, Installment, InstallmentPlan, OutboxEmail, PaymentSession, Refund
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
from webapp.services import audit
from webapp.services.errors import Conflict


class TransitionRefused(Conflict):
    """A status change the aggregate's table does not allow (a bug or a stale read, never input)."""

    code = "transition_refused"


@dataclass(frozen=True)
class StateMachine:
    """The allowed moves of one status field: `moves[before]` is the set of statuses it may become.

    `None` stands for "no row yet" (the status a new row is created with).
    """

    name: str
    moves: Mapping[str | None, frozenset[str]]

    def allows(self, before: str | None, after: str) -> bool:
        return after in self.moves.get(before, frozenset())

    def check(self, before: str | None, after: str) -> None:
        if before != after and not self.allows(before, after):
            raise TransitionRefused(f"A {self.name} can't go from {before} to {after}.")

    def sources_of(self, after: str) -> tuple[str, ...]:
        """The existing statuses from which `after` may be reached (for guarded UPDATEs)."""
        return tuple(before for before, afters in self.moves.items() if before is not None and after in afters)

    def pairs(self) -> list[tuple[str | None, str]]:
        return [(before, after) for before, afters in self.moves.items() for after in sorted(afters)]


def _table(moves: Mapping[str | None, tuple[str, ...]]) -> dict[str | None, frozenset[str]]:
    return {before: frozenset(afters) for before, afters in moves.items()}


_S = PaymentSessionStatus
PAYMENT_SESSION = StateMachine(
    "payment session",
    _table(
        {
            None: (_S.PENDING,),
            _S.PENDING: (_S.PROCESSING, _S.COMPLETED, _S.FAILED, _S.CANCELED, _S.EXPIRED),
            _S.PROCESSING: (_S.COMPLETED, _S.FAILED),
            # Paid although it was closed here (Stripe's expire raced the payment): the money
            # was taken, so fulfillment honours it.
            _S.FAILED: (_S.COMPLETED,),
            _S.CANCELED: (_S.COMPLETED,),
            _S.EXPIRED: (_S.COMPLETED,),
            _S.COMPLETED: (),
        }
    ),
)

_E = EnrollmentStatus
ENROLLMENT = StateMachine(
    "enrollment",
    _table(
        {
            None: (_E.ACTIVE,),
            _E.ACTIVE: (_E.COMPLETED, _E.CANCELLED, _E.REFUNDED, _E.PAUSED),
            _E.COMPLETED: (_E.CANCELLED, _E.REFUNDED, _E.PAUSED),
            # Re-opened by a new payment or a grant; a refund Stripe later failed gives access back.
            _E.CANCELLED: (_E.ACTIVE, _E.REFUNDED),
            _E.REFUNDED: (_E.ACTIVE, _E.CANCELLED),
            # An installment past due beyond the grace period; paid, it resumes.
            _E.PAUSED: (_E.ACTIVE, _E.COMPLETED, _E.CANCELLED, _E.REFUNDED),
        }
    ),
)

_P = PaymentStatus
ENROLLMENT_PAYMENT = StateMachine(
    "enrollment's payment",
    _table(
        {
            None: (_P.PAID, _P.FREE, _P.INSTALLMENTS),
            _P.PAID: (_P.PARTIALLY_REFUNDED, _P.REFUNDED, _P.DISPUTED, _P.DISPUTE_LOST, _P.FREE, _P.INSTALLMENTS),
            # Paying by plan: the last installment (or the balance paid early) makes it PAID.
            _P.INSTALLMENTS: (_P.PAST_DUE, _P.PAID, _P.PARTIALLY_REFUNDED, _P.REFUNDED, _P.DISPUTED, _P.DISPUTE_LOST),
            _P.PAST_DUE: (_P.INSTALLMENTS, _P.PAID, _P.PARTIALLY_REFUNDED, _P.REFUNDED, _P.DISPUTED, _P.DISPUTE_LOST),
            _P.FREE: (_P.PAID, _P.INSTALLMENTS),
            _P.PARTIALLY_REFUNDED: (_P.PAID, _P.INSTALLMENTS, _P.REFUNDED, _P.DISPUTED, _P.DISPUTE_LOST, _P.FREE),
            _P.REFUNDED: (_P.PAID, _P.INSTALLMENTS, _P.PARTIALLY_REFUNDED, _P.DISPUTE_LOST, _P.FREE),
            _P.DISPUTED: (_P.PAID, _P.INSTALLMENTS, _P.PARTIALLY_REFUNDED, _P.DISPUTE_LOST, _P.FREE),
            _P.DISPUTE_LOST: (_P.PAID, _P.INSTALLMENTS, _P.PARTIALLY_REFUNDED, _P.FREE),
        }
    ),
)

_R = RefundStatus
REFUND = StateMachine(
    "refund",
    _table(
        {
            # Stripe may report a refund for the first time in any state (made in its dashboard).
            None: (_R.PENDING, _R.SUCCEEDED, _R.FAILED, _R.CANCELED),
            _R.PENDING: (_R.SUCCEEDED, _R.FAILED, _R.CANCELED),
            _R.SUCCEEDED: (_R.FAILED,),  # a bank can return a refund Stripe had sent
            _R.FAILED: (),
            _R.CANCELED: (),
        }
    ),
)

_L = PlanStatus
INSTALLMENT_PLAN = StateMachine(
    "installment plan",
    _table(
        {
            None: (_L.ACTIVE,),
            _L.ACTIVE: (_L.PAST_DUE, _L.PAID, _L.CANCELED),
            _L.PAST_DUE: (_L.ACTIVE, _L.PAUSED, _L.PAID, _L.CANCELED),
            _L.PAUSED: (_L.ACTIVE, _L.PAID, _L.CANCELED),
            _L.PAID: (),
            # Stripe may still collect an open invoice of an ended plan: the money is taken,
            # so a plan ended with a balance may become PAID.
            _L.CANCELED: (_L.PAID,),
        }
    ),
)

_I = InstallmentStatus
INSTALLMENT = StateMachine(
    "installment",
    _table(
        {
            None: (_I.OPEN, _I.PAID),
            _I.OPEN: (_I.PAID, _I.VOID),
            _I.PAID: (),
            _I.VOID: (_I.PAID,),
        }
    ),
)

_V = StripeEventStatus
STRIPE_EVENT = StateMachine(
    "Stripe event",
    _table(
        {
            None: (_V.PROCESSING, _V.PROCESSED, _V.IGNORED, _V.FAILED),
            _V.RECEIVED: (_V.PROCESSING, _V.PROCESSED, _V.IGNORED, _V.FAILED),
            _V.FAILED: (_V.PROCESSING, _V.PROCESSED, _V.IGNORED, _V.FAILED),
            # PROCESSING -> PROCESSING: a lapsed claim taken over by another delivery.
            _V.PROCESSING: (_V.PROCESSING, _V.PROCESSED, _V.IGNORED, _V.FAILED),
            _V.PROCESSED: (_V.PROCESSING,),  # replay
            _V.IGNORED: (_V.PROCESSING,),  # replay
        }
    ),
)

_O = OutboxEmailStatus
OUTBOX_EMAIL = StateMachine(
    "email",
    _table(
        {
            None: (_O.PENDING, _O.OUTBOX),
            _O.PENDING: (_O.SENDING,),
            _O.SENDING: (_O.SENT, _O.PENDING),  # PENDING again: the send failed, retried later
            _O.SENT: (),
            _O.OUTBOX: (),
        }
    ),
)


def _move_status(
    machine: StateMachine,
    row: Any,
    to: str,
    *,
    always_record: bool,
    action: str,
    entity_type: str,
    **entry: Any,
) -> bool:
    """`row.status` → `to`, checked against `machine`, then its audit entry (module docstring)."""
    moved = row.status != to
    if moved:
        machine.check(row.status, to)
        row.status = to
    if moved or always_record:
        audit.record(action, entity_type=entity_type, entity_id=row.id, **entry)
    return moved


def move_payment_session(
    session: PaymentSession,
    to: PaymentSessionStatus,
    *,
    action: str,
    actor: str,
    event_id: str | None = None,
    enrollment_id: str | None = None,
    always_record: bool = False,
    **details: Any,
) -> bool:
    """Moves a payment session to `to` (checked against PAYMENT_SESSION) with its audit entry."""
    return _move_status(
        PAYMENT_SESSION,
        session,
        to,
        always_record=always_record,
        action=action,
        entity_type="payment_session",
        actor=actor,
        payment_session_id=session.id,
        enrollment_id=enrollment_id,
        stripe_event_id=event_id,
        **details,
    )


def move_enrollment(
    enrollment: Enrollment,
    *,
    to_status: EnrollmentStatus | None = None,
    to_payment_status: PaymentStatus | None = None,
    action: str,
    actor: str,
    event_id: str | None = None,
    payment_session_id: str | None = None,
    filed_under: tuple[str, str] | None = None,
    always_record: bool = False,
    **details: Any,
) -> bool:
    """Moves an enrollment's `status` and/or `payment_status` together, with one audit entry.

    `to_status` / `to_payment_status` None leaves that field as it is.

    Both moves are checked before either is applied. The entry is filed under the enrollment,
    or under `filed_under` (entity type, id) when the cause is another aggregate's event.
    """
    status_moves = to_status is not None and enrollment.status != to_status
    payment_moves = to_payment_status is not None and enrollment.payment_status != to_payment_status
    if status_moves:
        ENROLLMENT.check(enrollment.status, to_status)
    if payment_moves:
        ENROLLMENT_PAYMENT.check(enrollment.payment_status, to_payment_status)
    if status_moves:
        enrollment.status = to_status
    if payment_moves:
        enrollment.payment_status = to_payment_status
    moved = status_moves or payment_moves
    if moved or always_record:
        entity_type, entity_id = filed_under or ("enrollment", enrollment.id)
        audit.record(
            action,
            entity_type=entity_type,
            entity_id=entity_id,
            actor=actor,
            payment_session_id=payment_session_id,
            enrollment_id=enrollment.id,
            stripe_event_id=event_id,
            **details,
        )
    return moved


def move_refund(
    refund: Refund,
    to: RefundStatus,
    *,
    action: str,
    actor: str,
    event_id: str | None = None,
    always_record: bool = False,
    **details: Any,
) -> bool:
    """Moves a refund to `to` (checked against REFUND; a new row moves from None) with its audit entry."""
    before = refund.status  # None for a row built without one: its first status is a move too
    moved = before != to
    if moved:
        REFUND.check(before, to)
        refund.status = to
        if before is None:
            db.session.flush()  # a duplicate Stripe refund id fails here, before anything else
    if moved or always_record:
        audit.record(
            action,
            entity_type="refund",
            entity_id=refund.id,
            actor=actor,
            payment_session_id=refund.payment_session_id,
            enrollment_id=refund.enrollment_id,
            stripe_event_id=event_id,
            **details,
        )
    return moved


def move_plan(
    plan: InstallmentPlan,
    to: PlanStatus,
    *,
    action: str,
    actor: str,
    event_id: str | None = None,
    always_record: bool = False,
    **details: Any,
) -> bool:
    """Moves an installment plan to `to` (checked against INSTALLMENT_PLAN) with its audit entry."""
    return _move_status(
        INSTALLMENT_PLAN,
        plan,
        to,
        always_record=always_record,
        action=action,
        entity_type="installment_plan",
        actor=actor,
        payment_session_id=plan.payment_session_id,
        enrollment_id=plan.enrollment_id,
        stripe_event_id=event_id,
        **details,
    )


def move_installment(
    installment: Installment,
    to: InstallmentStatus,
    *,
    plan: InstallmentPlan,
    action: str,
    actor: str,
    event_id: str | None = None,
    **details: Any,
) -> bool:
    """Moves an installment to `to` (checked against INSTALLMENT; a new row moves from None), audited."""
    before = installment.status
    if before == to:
        return False
    INSTALLMENT.check(before, to)
    installment.status = to
    audit.record(
        action,
        entity_type="installment_plan",
        entity_id=plan.id,
        actor=actor,
        payment_session_id=plan.payment_session_id,
        enrollment_id=plan.enrollment_id,
        stripe_event_id=event_id,
        installment_id=installment.id,
        sequence=installment.sequence,
        invoice=installment.stripe_invoice_id,
        amount=installment.amount,
        currency=installment.currency,
        **details,
    )
    return True


def move_email(email_id: str, to: OutboxEmailStatus, **values: Any) -> bool:
    """One guarded UPDATE: the email moves to `to` only from a status OUTBOX_EMAIL allows.

    Returns whether it moved (False: another sender claimed it first, or it is done).
    """
    sources = OUTBOX_EMAIL.sources_of(to)
    return bool(
        db.session.execute(
            sa.update(OutboxEmail)
            .where(OutboxEmail.id == email_id, OutboxEmail.status.in_(sources))
            .values(status=to, **values)
        ).rowcount
    )
