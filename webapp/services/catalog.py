"""The course catalog as learners see it."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Course, Enrollment
from webapp.models.enums import EnrollmentStatus

ACCESS_STATUSES = (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)


def list_published_courses() -> list[Course]:
    return list(
        db.session.scalars(sa.select(Course).where(Course.published.is_(True)).order_by(Course.created_at, Course.id))
    )


def get_published_course(slug: str) -> Course | None:
    """The published course with this slug, or None (unknown and unpublished look alike)."""
    return db.session.scalar(sa.select(Course).where(Course.slug == slug, Course.published.is_(True)))


def enrolled_course_ids(user_id: str) -> set[str]:
    """Ids of the courses this user currently has access to."""
    return set(
        db.session.scalars(
            sa.select(Enrollment.course_id).where(Enrollment.user_id == user_id, Enrollment.status.in_(ACCESS_STATUSES))
        )
    )


def active_enrollment(user_id: str, course_id: str) -> Enrollment | None:
    return db.session.scalar(
        sa.select(Enrollment).where(
            Enrollment.user_id == user_id, Enrollment.course_id == course_id, Enrollment.status.in_(ACCESS_STATUSES)
        )
    )


def all_courses() -> list[Course]:
    """Every course, published or not, by title (what admins choose from)."""
    return list(db.session.scalars(sa.select(Course).order_by(Course.title, Course.id)))
