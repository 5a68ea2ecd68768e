"""Enrollments as the original design has them: progress DECIMAL(5,2), current_lecture_id.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 15:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("enrollments", schema=None) as batch_op:  # SQLite: the table is rebuilt
        batch_op.alter_column(
            "progress",
            existing_type=sa.Integer(),
            type_=sa.Numeric(5, 2),
            existing_nullable=False,
            postgresql_using="progress::numeric(5, 2)",
        )
        batch_op.add_column(sa.Column("current_lecture_id", sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_column("current_lecture_id")
        batch_op.alter_column(
            "progress",
            existing_type=sa.Numeric(5, 2),
            type_=sa.Integer(),
            existing_nullable=False,
            postgresql_using="floor(progress)::integer",
        )
