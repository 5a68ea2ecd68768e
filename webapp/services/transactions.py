"""One unit of work: commit what a block did, or roll all of it back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.payments.gateway import GatewayError

T = TypeVar("T")


@contextmanager
def unit_of_work(
    on_gateway_error: Callable[[GatewayError], Exception] | None = None,
    *,
    on_conflict: Callable[[IntegrityError], Exception] | None = None,
) -> Iterator[None]:
    """Commits on a normal exit (a `return` inside the block included); on any exception rolls
    back and re-raises it — a Stripe failure as `on_gateway_error(exc)` when given, so views
    only ever see the services' user-safe errors and nothing is left half-written, and a
    unique-key conflict (at a flush or at the commit) as `on_conflict(exc)` when given."""
    try:
        yield
        db.session.commit()
    except GatewayError as exc:
        db.session.rollback()
        if on_gateway_error is None:
            raise
        raise on_gateway_error(exc) from None
    except IntegrityError as exc:
        db.session.rollback()
        if on_conflict is None:
            raise
        raise on_conflict(exc) from None
    except BaseException:
        db.session.rollback()
        raise


def discard() -> None:
    """Rolls back whatever a failed request left in the session (the error pages call this)."""
    db.session.rollback()


def retry_on_conflict(work: Callable[[], T], *, attempts: int = 2) -> T:
    """Runs `work` (a unit of work of its own) again when it hits a unique-key conflict.

    The conflict means another process inserted the same row between our read and our
    write; the transaction is rolled back and the next attempt reads that row. The last
    attempt's IntegrityError propagates.
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except IntegrityError:
            db.session.rollback()
            if attempt == attempts:
                raise
    raise AssertionError("attempts must be at least 1")


@contextmanager
def pending_work(*, clean_exits: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Work whose commit is the caller's next step (the webhook inbox records an event's outcome
    in the same transaction as its handler's work). An exception rolls the work back and
    propagates; one of `clean_exits` — a refusal raised before anything was written — rolls
    back only if something was written after all, sparing a round trip."""
    try:
        yield
    except clean_exits:
        if db.session.new or db.session.dirty or db.session.deleted:
            db.session.rollback()
        raise
    except BaseException:
        db.session.rollback()
        raise


def add_unless_duplicate(row: object) -> bool:
    """Inserts `row` under a savepoint; False when a unique key says it exists already.

    Only the savepoint is rolled back then: the rest of the caller's transaction goes on.
    """
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return False
    return True
