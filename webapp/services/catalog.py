"""The course catalog as learners see it."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Course, Enrollment
from webapp.models.enums import EnrollmentStatus
from webapp.speedups import DirectSelect

ACCESS_STATUSES = (EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED)


@dataclass(frozen=True, slots=True)
class CourseListing:
    """What the catalog and the course page show of a published course: a read-only copy of
    its row, and whether the visitor (None: anonymous) has access to it."""

    id: str
    slug: str
    title: str
    short_description: str
    description: str
    total_lectures: int
    price: int
    currency: str
    enrolled: bool
    paused: bool = False  # enrolled, but an installment is overdue past its grace period

    @property
    def is_free(self) -> bool:
        return self.price == 0


_courses = Course.__table__.c
# The visitor's enrollment status (at most one row: (user, course) is unique), else NULL.
_enrollment_status = (
    sa.select(Enrollment.status)
    .where(Enrollment.user_id == sa.bindparam("user_id", type_=sa.String), Enrollment.course_id == _courses.id)
    .scalar_subquery()
)
_LISTING = sa.select(
    *(_courses[name] for name in CourseListing.__dataclass_fields__ if name not in ("enrolled", "paused")),
    _enrollment_status.label("enrollment_status"),
).where(_courses.published.is_(True))
# One statement each, on an autocommit connection (speedups.DirectSelect: no BEGIN/ROLLBACK,
# no ORM); the visitor's access comes in the same row (false for an anonymous visitor).
_CATALOG = DirectSelect(_LISTING.order_by(_courses.created_at, _courses.id))
_COURSE_PAGE = DirectSelect(_LISTING.where(_courses.slug == sa.bindparam("slug")))


def catalog_page(user_id: str | None) -> list[CourseListing]:
    """The published courses, oldest first, each with the visitor's access."""
    return [_listing(row) for row in _CATALOG.all(user_id=user_id)]


def course_page(slug: str, user_id: str | None) -> CourseListing | None:
    """The published course with this slug and the visitor's access, or None."""
    row = _COURSE_PAGE.first(slug=slug, user_id=user_id)
    return None if row is None else _listing(row)


def _listing(row: tuple) -> CourseListing:
    *fields, status = row
    return CourseListing(*fields, enrolled=status in ACCESS_STATUSES, paused=status == EnrollmentStatus.PAUSED)


def get_published_course(slug: str) -> Course | None:
    """The published course with this slug, or None (unknown and unpublished look alike)."""
    return db.session.scalar(sa.select(Course).where(Course.slug == slug, Course.published.is_(True)))


def active_enrollment(user_id: str, course_id: str) -> Enrollment | None:
    return db.session.scalar(
        sa.select(Enrollment).where(
            Enrollment.user_id == user_id, Enrollment.course_id == course_id, Enrollment.status.in_(ACCESS_STATUSES)
        )
    )


def all_courses() -> list[Course]:
    """Every course, published or not, by title (what admins choose from)."""
    return list(db.session.scalars(sa.select(Course).order_by(Course.title, Course.id)))
