"""The transition tables themselves, and that nothing outside their owners assigns a status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from webapp.models.enums import (
    EnrollmentStatus,
    OutboxEmailStatus,
    PaymentSessionStatus,
    PaymentStatus,
    RefundStatus,
    StripeEventStatus,
)
from webapp.services import transitions
from webapp.services.errors import ServiceError

WEBAPP = Path(__file__).resolve().parents[2] / "webapp"

MACHINES = {
    "payment session": (transitions.PAYMENT_SESSION, PaymentSessionStatus),
    "enrollment": (transitions.ENROLLMENT, EnrollmentStatus),
    "enrollment payment": (transitions.ENROLLMENT_PAYMENT, PaymentStatus),
    "refund": (transitions.REFUND, RefundStatus),
    "stripe event": (transitions.STRIPE_EVENT, StripeEventStatus),
    "outbox email": (transitions.OUTBOX_EMAIL, OutboxEmailStatus),
}

# The modules that own status changes: the transition functions, and the two owners of
# guarded SQL (the webhook inbox's event rows, built on STRIPE_EVENT).
OWNERS = {
    WEBAPP / "services" / "transitions.py",
    WEBAPP / "services" / "webhooks" / "events.py",
}
# The Stripe sandbox stands for Stripe and keeps its own objects' statuses.
NOT_OURS = {WEBAPP / "sandbox"}

STATUS_WRITE = re.compile(
    r"""(?<!self)\.(status|payment_status)\s*=(?!=)"""  # x.status = ... (self.status: an HTTP status)
    r"""|setattr\([^,]+,\s*["'](status|payment_status)["']"""  # setattr(x, "status", ...)
    r"""|\.values\([^)]*\bstatus\s*="""  # sa.update(...).values(status=...)
    r"""|\bSET\s+status\s*="""  # raw SQL
)


@pytest.mark.parametrize("name", MACHINES)
class TestTables:
    def test_every_status_has_a_row_and_every_move_names_members(self, name):
        machine, enum = MACHINES[name]
        members = set(enum)
        assert set(machine.moves) - {None} <= members
        for before, afters in machine.moves.items():
            assert afters <= members, (before, afters - members)
        reachable = {after for afters in machine.moves.values() for after in afters}
        assert reachable <= set(machine.moves) | {StripeEventStatus.RECEIVED}

    def test_a_refused_move_raises_the_domain_error(self, name):
        machine, enum = MACHINES[name]
        for before in [None, *enum]:
            for after in enum:
                if before == after or machine.allows(before, after):
                    machine.check(before, after)
                    continue
                with pytest.raises(transitions.TransitionRefused) as refused:
                    machine.check(before, after)
                assert isinstance(refused.value, ServiceError)


def test_a_completed_payment_never_moves_again():
    assert transitions.PAYMENT_SESSION.moves[PaymentSessionStatus.COMPLETED] == frozenset()


def test_nothing_outside_the_owners_assigns_a_status():
    offenders = []
    for path in sorted(WEBAPP.rglob("*.py")):
        if path in OWNERS or any(parent in NOT_OURS for parent in path.parents):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if STATUS_WRITE.search(code):
                offenders.append(f"{path.relative_to(WEBAPP.parent)}:{number}: {line.strip()}")
    assert offenders == [], "status changes belong in services/transitions.py:\n" + "\n".join(offenders)


def test_the_check_finds_an_assignment():
    assert STATUS_WRITE.search("session.status = PaymentSessionStatus.FAILED")
    assert STATUS_WRITE.search("enrollment.payment_status = 'PAID'")
    assert STATUS_WRITE.search('setattr(row, "status", value)')
    assert STATUS_WRITE.search("sa.update(T).values(status='SENT')")
    assert not STATUS_WRITE.search("if session.status == PaymentSessionStatus.PENDING:")
