"""Enrollments as admins search them: the filter, one page of the list, one enrollment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import Course, Enrollment, PaymentSession, User
from webapp.services.errors import NotFound
from webapp.services.receipts import order_number_prefix
from webapp.services.reports.paging import PAGE_SIZE, KeysetOrder, Page, keyset_page, page_size

SORTS = {"newest": "Newest first", "oldest": "Oldest first"}


@dataclass(frozen=True)
class EnrollmentFilter:
    """Which enrollments to list; an empty field does not filter.

    `course` is a course id or slug; `status`/`payment_status` are EnrollmentStatus /
    PaymentStatus values; `q` is a user id (exact), part of an email (any case) or an order
    number from a receipt (`CC-3F9A12BC`); `sort` is a key of SORTS.
    """

    course: str = ""
    status: str = ""
    payment_status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    sort: str = "newest"


def enrollment_order(flt: EnrollmentFilter) -> KeysetOrder:
    return KeysetOrder(Enrollment.enrolled_at, Enrollment.id, descending=flt.sort != "oldest")


def filtered(query: sa.Select, flt: EnrollmentFilter) -> sa.Select:
    """`query` (over enrollments) narrowed to the filter."""
    if flt.course:
        course_id = sa.select(Course.id).where(sa.or_(Course.id == flt.course, Course.slug == flt.course))
        query = query.where(Enrollment.course_id.in_(course_id.scalar_subquery()))
    if flt.status:
        query = query.where(Enrollment.status == flt.status)
    if flt.payment_status:
        query = query.where(Enrollment.payment_status == flt.payment_status)
    if flt.date_from:
        query = query.where(Enrollment.enrolled_at >= datetime.combine(flt.date_from, time.min, tzinfo=UTC))
    if flt.date_to:
        end = datetime.combine(flt.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        query = query.where(Enrollment.enrolled_at < end)
    if flt.q:
        learners = Enrollment.user_id.in_(_learners_matching(flt.q).scalar_subquery())
        prefix = order_number_prefix(flt.q)
        query = query.where(sa.or_(learners, _paid_by_order(prefix)) if prefix else learners)
    return query


def _paid_by_order(prefix: str) -> sa.ColumnElement[bool]:
    """Enrollments whose payment, or a payment linked to them, has this order number's id prefix."""
    pattern = prefix.replace("_", "\\_") + "%"
    sessions = sa.select(PaymentSession.enrollment_id).where(
        sa.func.lower(PaymentSession.id).like(pattern, escape="\\"), PaymentSession.enrollment_id.is_not(None)
    )
    return sa.or_(
        sa.func.lower(Enrollment.payment_session_id).like(pattern, escape="\\"),
        Enrollment.id.in_(sessions.scalar_subquery()),
    )


def _learners_matching(q: str) -> sa.Select:
    """Users whose id is `q` or whose email contains it (any case; `%` and `_` taken literally).

    The lower(email) LIKE matches the trigram index's expression (ix_users_email_trgm).
    """
    needle = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.select(User.id).where(sa.or_(User.id == q, sa.func.lower(User.email).like(f"%{needle}%", escape="\\")))


def list_enrollments(flt: EnrollmentFilter, *, after: str = "", limit: int = PAGE_SIZE) -> Page:
    """One page of enrollments (with learner and course) for the filter, keyset-paginated."""
    query = filtered(sa.select(Enrollment).options(joinedload(Enrollment.user), joinedload(Enrollment.course)), flt)
    return keyset_page(query, enrollment_order(flt), after=after, limit=page_size(limit))


def get_enrollment(enrollment_id: str) -> Enrollment:
    """One enrollment by id, for the admin's detail page; NotFound otherwise."""
    enrollment = db.session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound("That enrollment does not exist.")
    return enrollment
