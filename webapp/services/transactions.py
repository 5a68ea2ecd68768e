"""One unit of work: commit what a block did, or roll all of it back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from webapp.extensions import db
from webapp.payments.gateway import GatewayError


@contextmanager
def unit_of_work(on_gateway_error: Callable[[GatewayError], Exception] | None = None) -> Iterator[None]:
    """Commits on a normal exit (a `return` inside the block included); on any exception rolls
    back and re-raises it — a Stripe failure as `on_gateway_error(exc)` when given, so views
    only ever see the services' user-safe errors and nothing is left half-written."""
    try:
        yield
        db.session.commit()
    except GatewayError as exc:
        db.session.rollback()
        if on_gateway_error is None:
            raise
        raise on_gateway_error(exc) from None
    except BaseException:
        db.session.rollback()
        raise


def discard() -> None:
    """Rolls back whatever a failed request left in the session (the error pages call this)."""
    db.session.rollback()
