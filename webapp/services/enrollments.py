"""Enrollments as their learner sees them."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Enrollment


def list_for_user(user_id: str) -> list[Enrollment]:
    """The learner's enrollments, newest first (course joined in the same query)."""
    return list(
        db.session.scalars(
            sa.select(Enrollment).where(Enrollment.user_id == user_id).order_by(Enrollment.enrolled_at.desc())
        ).unique()
    )
