"""App construction for tests: build, migrate and clean an app on SQLite or PostgreSQL."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]

_migrated: set[str] = set()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def backend_database_url(request, backend: str) -> str:
    """The test database URL for `backend` ("sqlite" or "postgres"), from the session fixtures."""
    if backend == "postgres":
        return request.getfixturevalue("postgres_database").url
    return f"sqlite:///{request.getfixturevalue('sqlite_path')}"


def make_app(database_url: str, tmp_path: Path, **overrides):
    from webapp import create_app

    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "DATABASE_IS_DEFAULT": False,
        "SECRET_KEY": "test-secret-key",
        "INSTANCE_PATH": str(ROOT / "instance" / "test"),
        "STRIPE_SANDBOX_DATABASE_URL": f"sqlite:///{tmp_path / 'stripe-sandbox.db'}",
        "STRIPE_SANDBOX_WEBHOOKS": False,
        "STRIPE_WEBHOOK_SECRETS": ["whsec_test_secret"],
        "STRIPE_MAX_NETWORK_RETRIES": 2,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "APP_URL": "http://localhost",
        "APP_ORIGIN": "http://localhost",
        "CLERK_AUTHORIZED_PARTIES": ["http://localhost"],
        "SERVER_NAME": "localhost",
    }
    config.update(overrides)
    return create_app(config)


def migrate_once(app) -> None:
    from flask_migrate import upgrade

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url in _migrated:
        return
    with app.app_context():
        upgrade()
    _migrated.add(url)


def clean_database(app) -> None:
    from webapp.extensions import db

    with app.app_context():
        tables = [t for t in reversed(db.metadata.sorted_tables)]
        if db.engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            db.session.execute(sa.text("PRAGMA foreign_keys=OFF"))
            for table in tables:
                db.session.execute(table.delete())
        db.session.commit()
        db.session.remove()


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def driver_statements(app) -> Iterator[list[str]]:
    """Every SQL statement the app's pooled connections send through a DBAPI cursor inside
    the block, counted at the driver: SQLite's trace callback, or a counting cursor class on
    psycopg. A statement that skips SQLAlchemy's execution events (`DirectSelect`) is counted
    like any other. Transaction control and the pool's liveness ping are left out, as
    SQLAlchemy's own `before_cursor_execute` leaves them out. The Stripe sandbox's database
    is another engine and is not counted (in production those are calls to Stripe)."""
    import psycopg
    import sqlalchemy as sa

    from webapp.extensions import db

    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    ping = getattr(engine.dialect, "_dialect_specific_select_one", "SELECT 1")

    def record(statement: str) -> None:
        text = statement.strip()
        if text.upper().startswith(_TRANSACTION_CONTROL) or text == ping:
            return
        statements.append(text)

    class CountingCursor(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            record(query if isinstance(query, str) else str(query))
            return super().execute(query, params, **kwargs)

        def executemany(self, query, params_seq, **kwargs):
            record(query if isinstance(query, str) else str(query))
            return super().executemany(query, params_seq, **kwargs)

    def on_checkout(dbapi_connection, record_, proxy) -> None:
        if isinstance(dbapi_connection, psycopg.Connection):
            dbapi_connection.cursor_factory = CountingCursor
        else:
            dbapi_connection.set_trace_callback(record)

    def on_checkin(dbapi_connection, record_) -> None:
        if dbapi_connection is None:
            return
        if isinstance(dbapi_connection, psycopg.Connection):
            dbapi_connection.cursor_factory = psycopg.Cursor
        else:
            dbapi_connection.set_trace_callback(None)

    sa.event.listen(engine, "checkout", on_checkout)
    sa.event.listen(engine, "checkin", on_checkin)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "checkout", on_checkout)
        sa.event.remove(engine, "checkin", on_checkin)
