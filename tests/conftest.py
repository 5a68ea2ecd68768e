"""Shared fixtures: an app per test on SQLite and on PostgreSQL, clients, signed-in users.

Database tests run on both backends through the `app` fixture. PostgreSQL comes from
TEST_DATABASE_URL (a database of our own is created and dropped), else a throwaway local
cluster, else the PostgreSQL half is skipped — a failure when REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The suite never talks to real Stripe or Clerk, whatever the developer's shell exports.
for _name in list(os.environ):
    if _name.startswith(("STRIPE_", "CLERK_", "MAIL_", "SENTRY_")) or _name in {
        "DATABASE_URL",
        "APP_ENV",
        "APP_URL",
        "SECRET_KEY",
        "ADMIN_USER_IDS",
        "REDIS_URL",
        "FRONTEND_URL",
        "INSTANCE_PATH",
    }:
        del os.environ[_name]

# Imported after the clean-up above: they read the app's configuration.
from tests.support.auth import Auth  # noqa: E402
from tests.support.factories import make_paid_and_free  # noqa: E402
from tests.support.harness import backend_database_url, clean_database, make_app, migrate_once  # noqa: E402
from tests.support.pg import PostgresUnavailable, TestDatabase  # noqa: E402

OUTPUT = ROOT / "test-output"


def _require(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="session")
def postgres_database():
    try:
        database = TestDatabase()
    except (PostgresUnavailable, OSError, Exception) as exc:  # noqa: BLE001 - any reason means "no PostgreSQL"
        if _require("REQUIRE_POSTGRES"):
            pytest.fail(f"REQUIRE_POSTGRES=1 but PostgreSQL is unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield database
    database.drop()


@pytest.fixture(scope="session")
def sqlite_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sqlite") / "app.db"


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def app_config() -> dict:
    """Override in a test module to change the app's configuration."""
    return {}


@pytest.fixture
def app(request, backend, tmp_path, app_config):
    app = make_app(backend_database_url(request, backend), tmp_path, **app_config)
    migrate_once(app)
    clean_database(app)
    yield app
    from webapp.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def sqlite_app(request, tmp_path, app_config):
    """An app on SQLite only, for tests whose subject is not the database."""
    app = make_app(backend_database_url(request, "sqlite"), tmp_path, **app_config)
    migrate_once(app)
    clean_database(app)
    yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def auth(app, client) -> Auth:
    return Auth(app, client)


@pytest.fixture
def shop(app) -> dict[str, str]:
    """The two-course shop many modules start from: "paid" ($49.99) and "free" course ids."""
    return make_paid_and_free(app)
