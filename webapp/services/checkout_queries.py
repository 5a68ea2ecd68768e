"""What checkout reads: a learner's purchase state, the checkout page's course, their own payment sessions.

Nothing here writes. `create_checkout` re-reads what it needs under locks, so no page
decides a price from these reads alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Course, Enrollment, PaymentSession
from webapp.models.enums import EnrollmentStatus, PaymentSessionStatus
from webapp.services.catalog import ACCESS_STATUSES
from webapp.services.errors import NotFound
from webapp.speedups import DirectSelect


@dataclass(frozen=True)
class PurchaseState:
    """What stands between a learner and buying a course: access already, or a payment settling."""

    enrolled: bool
    payment_in_progress: bool


def _purchase_facts(course_id):
    """EXISTS (access) and EXISTS (a payment settling) for :user_id and `course_id`."""
    enrolled = sa.exists().where(
        Enrollment.user_id == sa.bindparam("user_id"),
        Enrollment.course_id == course_id,
        # OR of plain binds rather than IN: an IN list is re-rendered into the SQL on every
        # execution ("expanding" parameters), which the cached statement then cannot skip.
        # PAUSED too: a plan past due is paid by updating the card, not by buying again.
        sa.or_(*(Enrollment.status == status for status in (*ACCESS_STATUSES, EnrollmentStatus.PAUSED))),
    )
    settling = sa.exists().where(
        PaymentSession.user_id == sa.bindparam("user_id"),
        PaymentSession.course_id == course_id,
        PaymentSession.status == PaymentSessionStatus.PROCESSING,
    )
    return enrolled, settling


# Built once: SQLAlchemy then reuses the compiled SQL and only binds the parameters.
_PURCHASE_STATE = sa.select(*_purchase_facts(sa.bindparam("course_id")))


@dataclass(frozen=True, slots=True)
class CourseOffer:
    """What the checkout page shows and prices: a read-only copy of the course's row."""

    id: str
    slug: str
    title: str
    short_description: str
    total_lectures: int
    price: int
    currency: str
    installments: int | None  # offered in this many monthly installments, or None

    @property
    def is_free(self) -> bool:
        return self.price == 0


_courses = Course.__table__.c
_enrolled, _settling = _purchase_facts(_courses.id)
_COURSE_PAGE = DirectSelect(
    sa.select(
        *(_courses[name] for name in CourseOffer.__dataclass_fields__),
        _enrolled.label("enrolled"),
        _settling.label("settling"),
    ).where(_courses.slug == sa.bindparam("slug"), _courses.published.is_(True))
)


def purchase_state(user_id: str, course_id: str) -> PurchaseState:
    """Both facts in one SELECT (the checkout page and `create_checkout` need them together)."""
    row = db.session.execute(_PURCHASE_STATE, {"user_id": user_id, "course_id": course_id}).one()
    return PurchaseState(enrolled=bool(row[0]), payment_in_progress=bool(row[1]))


def course_for_checkout(slug: str, user_id: str) -> tuple[CourseOffer, PurchaseState] | None:
    """The published course and the learner's purchase state: the checkout page's only query.

    One statement on an autocommit connection (`DirectSelect`: one round trip, no ORM).
    The checkout itself (`create_checkout`) re-reads everything under locks, so this page
    can never decide a price on its own.
    """
    row = _COURSE_PAGE.first(slug=slug, user_id=user_id)
    if row is None:
        return None
    *fields, enrolled, settling = row
    return CourseOffer(*fields), PurchaseState(enrolled=bool(enrolled), payment_in_progress=bool(settling))


def is_enrolled(user_id: str, course_id: str) -> bool:
    return purchase_state(user_id, course_id).enrolled


def open_session_for(user_id: str, course_id: str, *, now: datetime) -> PaymentSession | None:
    """The learner's own unexpired PENDING checkout for this course, if any."""
    return db.session.scalar(
        sa.select(PaymentSession)
        .where(
            PaymentSession.user_id == user_id,
            PaymentSession.course_id == course_id,
            PaymentSession.status == PaymentSessionStatus.PENDING,
            PaymentSession.expires_at > now,
            PaymentSession.stripe_session_id.is_not(None),
        )
        .order_by(PaymentSession.created_at.desc())
        .limit(1)
    )


def owned_session_with_enrollment(session_ref: str | None, user_id: str) -> tuple[PaymentSession, Enrollment | None]:
    """The user's payment session and its enrollment (one SELECT); NotFound for anyone else's.

    `session_ref` is Stripe's `cs_…` id, or our own id for free checkouts (they never reach
    Stripe). Loading the enrollment with it lets fulfilment find it in the identity map.
    """
    if not session_ref or len(session_ref) > 255:
        raise NotFound("We couldn't find that checkout.")
    column = PaymentSession.stripe_session_id if session_ref.startswith("cs_") else PaymentSession.id
    found = db.session.execute(
        sa.select(PaymentSession, Enrollment)
        .outerjoin(Enrollment, Enrollment.id == PaymentSession.enrollment_id)
        .where(column == session_ref)
    ).first()
    if found is None or found[0].user_id != user_id:
        raise NotFound("We couldn't find that checkout.")
    return found[0], found[1]


def session_for_owner(session_ref: str | None, user_id: str) -> PaymentSession:
    """The user's payment session by Stripe id (or our id for free checkouts); NotFound otherwise."""
    return owned_session_with_enrollment(session_ref, user_id)[0]
