"""Extensions, created once here and bound to an app in the factory."""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
htmx = Htmx()
limiter = Limiter(key_func=get_remote_address)


def init_database(app) -> None:
    """Pings a pooled connection before use only when it has sat idle in the pool.

    `pool_pre_ping` would spend one round trip on every checkout: a third of a cached page's
    database time, a quarter of a webhook's (bench/, README "Performance"). A connection
    that came back to the pool less than DATABASE_PING_IDLE_SECONDS ago was just working,
    so it is used as is; one idle longer (a gunicorn worker that saw no traffic while the
    database restarted) is pinged, and a dead one is replaced before the request sees it.
    A connection that dies while busy fails its request once (503, or 5xx so Stripe
    retries); SQLAlchemy then invalidates the whole pool, so the next request reconnects.
    """
    idle = app.config["DATABASE_PING_IDLE_SECONDS"]
    with app.app_context():
        engine = db.engine
    _dispose_in_forked_children(engine)
    if isinstance(engine.pool, sa.pool.StaticPool):
        return  # one shared in-memory SQLite connection: nothing to ping

    @sa.event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is not None and time.monotonic() - returned_at < idle:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise sa.exc.DisconnectionError(str(exc)) from exc  # the pool reconnects and retries
            raise


def _dispose_in_forked_children(engine: sa.Engine) -> None:
    """With gunicorn's `preload_app` the app is built once and forked: each worker drops the
    pool it inherited (without closing the parent's sockets) and opens its own connections.
    Weakly referenced, so the many apps a test run builds are still garbage-collected."""
    ref = weakref.ref(engine)

    def _after_fork() -> None:
        inherited = ref()
        if inherited is not None:
            inherited.dispose(close=False)

    os.register_at_fork(after_in_child=_after_fork)


@contextmanager
def autocommit_connection() -> Iterator[sa.Connection]:
    """A pooled connection for one read-only statement, outside any transaction.

    On PostgreSQL the statement runs in autocommit mode, so it costs one round trip instead
    of three (BEGIN, the SELECT, and the ROLLBACK when the connection goes back to the pool).
    A single statement sees one snapshot, so nothing is lost for a page that reads once.
    Never for writes: each statement would commit on its own.

    The driver's `autocommit` flag is switched on the DBAPI connection and always switched
    back before the connection returns to the pool. SQLAlchemy's own
    `isolation_level="AUTOCOMMIT"` option does the same through the driver's isolation-level
    call, which cost about 120 µs per switch here, twice per request (bench/inprocess.py).
    """
    with db.engine.connect() as connection:
        dbapi_connection = connection.connection.dbapi_connection
        if connection.dialect.name != "postgresql" or dbapi_connection is None:
            yield connection
            return
        dbapi_connection.autocommit = True
        try:
            yield connection
        finally:
            if not dbapi_connection.closed:
                dbapi_connection.autocommit = False
