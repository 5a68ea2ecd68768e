"""Extensions, created once here and bound to an app in the factory."""

from __future__ import annotations

import os
import time
import weakref

import sqlalchemy as sa
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from webapp.sqlite_locking import serialize_transactions

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
    serialize_transactions(engine)
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


class DirectSelect:
    """A read-only Core SELECT that returns one row, run straight on a pooled DBAPI cursor.

    For the hottest page (the checkout page: bench/ P1, README "Performance"). SQLAlchemy's
    execution path (connection object, execution context, result object) cost about 100 µs
    per statement here, more than the driver's own work; this keeps what matters of it and
    skips the rest:

    - the statement is a Core expression, compiled once per dialect, with SQLAlchemy's bind
      and result processing (types, casts, SQLite's 0/1 booleans);
    - the connection comes from the app's pool, so the idle ping and `pool_reset` apply;
    - errors come out as SQLAlchemy's `DBAPIError` subclasses, like every other query (the
      503 handler applies), and a disconnect invalidates the connection and empties the pool.

    On PostgreSQL the statement runs in autocommit mode: one round trip instead of three
    (BEGIN, the SELECT, the ROLLBACK at check-in), and one statement sees one snapshot. The
    driver's flag is always switched back before the connection returns to the pool. Never
    for writes. What it bypasses is SQLAlchemy's `before_cursor_execute` event, so the
    statement-count tests count what reaches the driver instead.
    """

    def __init__(self, statement: sa.Select) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str, str], tuple] = {}  # per dialect, driver, paramstyle

    def _for(self, dialect) -> tuple:
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        prepared = self._compiled.get(key)
        if prepared is None:
            compiled = self.statement.compile(dialect=dialect)
            binds = {name: bind.type.bind_processor(dialect) for name, bind in compiled.binds.items()}
            prepared = (
                str(compiled),
                compiled.params,
                {name: process for name, process in binds.items() if process is not None},
                compiled.positiontup if compiled.positional else None,
                [column.type.result_processor(dialect, None) for column in self.statement.selected_columns],
            )
            self._compiled[key] = prepared
        return prepared

    def first(self, **params) -> tuple | None:
        engine = db.engine
        dialect = engine.dialect
        sql, defaults, bind_processors, positions, result_processors = self._for(dialect)
        values = {**defaults, **params}
        for name, process in bind_processors.items():
            values[name] = process(values[name])
        arguments = tuple(values[name] for name in positions) if positions is not None else values
        autocommit = dialect.name == "postgresql"
        pooled = engine.raw_connection()
        try:
            driver = pooled.driver_connection
            if autocommit:
                driver.autocommit = True
            try:
                cursor = pooled.cursor()
                try:
                    cursor.execute(sql, arguments)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            finally:
                if autocommit and not driver.closed:
                    driver.autocommit = False
        except dialect.loaded_dbapi.Error as exc:
            disconnected = dialect.is_disconnect(exc, pooled.dbapi_connection, None)
            if disconnected:
                pooled.invalidate(exc)
                engine.pool.dispose()  # its other idle connections died with this one
            raise sa.exc.DBAPIError.instance(
                sql, arguments, exc, dialect.loaded_dbapi.Error, connection_invalidated=disconnected, dialect=dialect
            ) from exc
        finally:
            pooled.close()
        if row is None:
            return None
        return tuple(
            value if process is None else process(value) for value, process in zip(row, result_processors, strict=True)
        )
