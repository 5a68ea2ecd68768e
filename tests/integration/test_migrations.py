"""One Alembic history: upgrade, no pending autogenerate diff, downgrade to base — on both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from webapp.extensions import db


# SQLite cannot reflect expression indexes, so Alembic skips comparing the PostgreSQL-only
# trigram index there (it is compared on PostgreSQL); that notice is expected.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_upgrade_matches_models_and_downgrades_cleanly(request, backend, tmp_path):
    from tests.support.harness import make_app

    if backend == "postgres":
        url = request.getfixturevalue("postgres_database").new_database("mig")
    else:
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    app = make_app(url, tmp_path)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        tables = set(sa.inspect(db.engine).get_table_names())
        for name in (
            "users",
            "courses",
            "payment_sessions",
            "coupons",
            "enrollments",
            "payment_methods",
            "refunds",
            "stripe_events",
            "audit_log",
        ):
            assert name in tables
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
