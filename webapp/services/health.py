"""Whether the app's own dependencies answer (the readiness probe asks)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from webapp.extensions import db

# The errors that mean "the database is unreachable" rather than "a query is wrong": the
# error pages answer them with 503 so a client (or load balancer) retries later.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


def database_is_reachable() -> bool:
    """True when the database answers a trivial query; on failure the session is left clean."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return False
    return True
