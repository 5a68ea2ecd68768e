"""Installment plans: plans and their installments, the course's offer, the session's plan.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 17:33:46

"""

import sqlalchemy as sa
from alembic import op

# The status values as of this revision, written out (0003's, plus the plans' own).
ENROLLMENT_STATUS = ("ACTIVE", "COMPLETED", "CANCELLED", "REFUNDED")
PAYMENT_STATUS = ("PAID", "FREE", "PARTIALLY_REFUNDED", "REFUNDED", "DISPUTED", "DISPUTE_LOST")
NEW_ENROLLMENT_STATUS = (*ENROLLMENT_STATUS, "PAUSED")
NEW_PAYMENT_STATUS = (*PAYMENT_STATUS, "INSTALLMENTS", "PAST_DUE")


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _enrollment_checks(status, payment_status):
    with op.batch_alter_table("enrollments", schema=None) as batch_op:  # SQLite: the table is rebuilt
        batch_op.drop_constraint(op.f("ck_enrollments_status_valid"), type_="check")
        batch_op.drop_constraint(op.f("ck_enrollments_payment_status_valid"), type_="check")
        batch_op.create_check_constraint(op.f("ck_enrollments_status_valid"), _in("status", status))
        batch_op.create_check_constraint(
            op.f("ck_enrollments_payment_status_valid"), _in("payment_status", payment_status)
        )


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "installment_plans",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("course_id", sa.String(length=32), nullable=False),
        sa.Column("payment_session_id", sa.String(length=32), nullable=False),
        sa.Column("enrollment_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_amount", sa.Integer(), nullable=False),
        sa.Column("installment_count", sa.Integer(), nullable=False),
        sa.Column("first_amount", sa.Integer(), nullable=False),
        sa.Column("installment_amount", sa.Integer(), nullable=False),
        sa.Column("paid_count", sa.Integer(), nullable=False),
        sa.Column("amount_paid", sa.Integer(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=False),
        sa.Column("stripe_schedule_id", sa.String(length=255), nullable=True),
        sa.Column("schedule_ready", sa.Boolean(), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("past_due_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('ACTIVE', 'PAST_DUE', 'PAUSED', 'PAID', 'CANCELED')",
            name=op.f("ck_installment_plans_status_valid"),
        ),
        sa.CheckConstraint("installment_count BETWEEN 2 AND 12", name=op.f("ck_installment_plans_count_range")),
        sa.CheckConstraint(
            "paid_count >= 0 AND paid_count <= installment_count", name=op.f("ck_installment_plans_paid_count_range")
        ),
        sa.CheckConstraint(
            "total_amount > 0 AND first_amount > 0 AND installment_amount > 0 AND amount_paid >= 0",
            name=op.f("ck_installment_plans_amounts_positive"),
        ),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=op.f("fk_installment_plans_course_id_courses")),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name=op.f("fk_installment_plans_enrollment_id_enrollments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["payment_session_id"],
            ["payment_sessions.id"],
            name=op.f("fk_installment_plans_payment_session_id_payment_sessions"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_installment_plans_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installment_plans")),
        sa.UniqueConstraint("payment_session_id", name=op.f("uq_installment_plans_payment_session_id")),
        sa.UniqueConstraint("stripe_schedule_id", name=op.f("uq_installment_plans_stripe_schedule_id")),
        sa.UniqueConstraint("stripe_subscription_id", name=op.f("uq_installment_plans_stripe_subscription_id")),
    )
    with op.batch_alter_table("installment_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_installment_plans_course_id"), ["course_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_installment_plans_enrollment_id"), ["enrollment_id"], unique=False)
        batch_op.create_index("ix_installment_plans_status_past_due_since", ["status", "past_due_since"], unique=False)
        batch_op.create_index(batch_op.f("ix_installment_plans_user_id"), ["user_id"], unique=False)

    op.create_table(
        "installments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("plan_id", sa.String(length=32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stripe_invoice_id", sa.String(length=255), nullable=True),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("charge_id", sa.String(length=255), nullable=True),
        sa.Column("payment_session_id", sa.String(length=32), nullable=True),
        sa.Column("card_brand", sa.String(length=32), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("failure_message", sa.String(length=500), nullable=True),
        sa.Column("amount_refunded", sa.Integer(), nullable=False),
        sa.Column("invoiced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('OPEN', 'PAID', 'VOID')", name=op.f("ck_installments_status_valid")),
        sa.CheckConstraint("amount > 0 AND amount_refunded >= 0", name=op.f("ck_installments_amounts_valid")),
        sa.ForeignKeyConstraint(
            ["payment_session_id"],
            ["payment_sessions.id"],
            name=op.f("fk_installments_payment_session_id_payment_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["installment_plans.id"],
            name=op.f("fk_installments_plan_id_installment_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installments")),
        sa.UniqueConstraint("payment_session_id", name=op.f("uq_installments_payment_session_id")),
        sa.UniqueConstraint("plan_id", "sequence", name=op.f("uq_installments_plan_id_sequence")),
        sa.UniqueConstraint("stripe_invoice_id", name=op.f("uq_installments_stripe_invoice_id")),
    )
    with op.batch_alter_table("installments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_installments_payment_intent_id"), ["payment_intent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_installments_plan_id"), ["plan_id"], unique=False)

    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("installments", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_courses_installments_range"), "installments IS NULL OR installments BETWEEN 2 AND 12"
        )

    with op.batch_alter_table("payment_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan", sa.String(length=16), server_default="full", nullable=False))
        batch_op.add_column(sa.Column("installment_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("installment_plan_id", sa.String(length=32), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_payment_sessions_plan_valid"), _in("plan", ("full", "installments", "payoff"))
        )
        batch_op.create_index(
            batch_op.f("ix_payment_sessions_installment_plan_id"), ["installment_plan_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_payment_sessions_installment_plan_id_installment_plans"),
            "installment_plans",
            ["installment_plan_id"],
            ["id"],
            ondelete="SET NULL",
            use_alter=True,
        )

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("installment_id", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_refunds_installment_id"), ["installment_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_refunds_installment_id_installments"), "installments", ["installment_id"], ["id"]
        )

    _enrollment_checks(NEW_ENROLLMENT_STATUS, NEW_PAYMENT_STATUS)


def downgrade():
    _enrollment_checks(ENROLLMENT_STATUS, PAYMENT_STATUS)
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_refunds_installment_id_installments"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_refunds_installment_id"))
        batch_op.drop_column("installment_id")

    with op.batch_alter_table("payment_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_payment_sessions_installment_plan_id_installment_plans"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_payment_sessions_installment_plan_id"))
        batch_op.drop_constraint(op.f("ck_payment_sessions_plan_valid"), type_="check")
        batch_op.drop_column("installment_plan_id")
        batch_op.drop_column("installment_count")
        batch_op.drop_column("plan")

    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_courses_installments_range"), type_="check")
        batch_op.drop_column("installments")

    with op.batch_alter_table("installments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_installments_plan_id"))
        batch_op.drop_index(batch_op.f("ix_installments_payment_intent_id"))

    op.drop_table("installments")
    with op.batch_alter_table("installment_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_installment_plans_user_id"))
        batch_op.drop_index("ix_installment_plans_status_past_due_since")
        batch_op.drop_index(batch_op.f("ix_installment_plans_course_id"))
        batch_op.drop_index(batch_op.f("ix_installment_plans_enrollment_id"))

    op.drop_table("installment_plans")
