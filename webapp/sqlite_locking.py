"""SQLite holds what PostgreSQL's row locks hold: every transaction takes the write lock first.

On PostgreSQL the services serialise the moves that must not interleave with row locks
(`SELECT … FOR UPDATE`) and unique constraints. SQLite has no row locks; SQLAlchemy drops
`FOR UPDATE` there, and Python's sqlite3 module opens a transaction with a plain (deferred)
`BEGIN`, so two threads or processes can both read "no enrollment yet" and both insert.

Here every transaction on SQLite starts with `BEGIN IMMEDIATE`: it takes the database's one
write lock before its first read, so two transactions never overlap and every
check-then-insert sees what the previous one committed. The others wait for the lock (the
busy timeout) instead of failing. WAL lets plain reads outside a transaction go on meanwhile.

What it costs: on SQLite the transactions of the whole app run one at a time, reads
included, across threads and processes sharing the file. That is the embedded default for
one machine (`make run`, tests); production runs on PostgreSQL, which this does not touch.
"""

from __future__ import annotations

import sqlalchemy as sa

BUSY_TIMEOUT_MS = 30_000


def serialize_transactions(engine: sa.Engine) -> None:
    """Makes every transaction on a SQLite `engine` start with BEGIN IMMEDIATE (no-op elsewhere)."""
    if engine.dialect.name != "sqlite" or engine.dialect.driver != "pysqlite":
        return
    if engine.url.database in (None, "", ":memory:"):
        return  # one connection shared by every thread: it cannot hold two transactions

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, record) -> None:
        # The driver must not open transactions on its own: the "begin" hook below does.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
