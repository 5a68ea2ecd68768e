"""CHECK constraints: every status column holds one of its enum's values.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 15:00:00

"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The values as of this revision, written out: a later enum change gets its own migration.
CHECKS = {
    "payment_sessions": {"status": ("PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELED", "EXPIRED")},
    "enrollments": {
        "status": ("ACTIVE", "COMPLETED", "CANCELLED", "REFUNDED"),
        "payment_status": ("PAID", "FREE", "PARTIALLY_REFUNDED", "REFUNDED", "DISPUTED", "DISPUTE_LOST"),
    },
    "refunds": {"status": ("PENDING", "SUCCEEDED", "FAILED", "CANCELED")},
    "stripe_events": {"status": ("RECEIVED", "PROCESSING", "PROCESSED", "FAILED", "IGNORED")},
    "email_outbox": {"status": ("PENDING", "SENDING", "SENT", "OUTBOX")},
}


def upgrade():
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:  # SQLite: the table is rebuilt
            for column, values in columns.items():
                allowed = ", ".join(f"'{value}'" for value in values)
                batch_op.create_check_constraint(op.f(f"ck_{table}_{column}_valid"), f"{column} IN ({allowed})")


def downgrade():
    for table, columns in reversed(CHECKS.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(op.f(f"ck_{table}_{column}_valid"), type_="check")
