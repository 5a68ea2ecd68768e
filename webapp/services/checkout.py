"""Checkout: quoting a price, opening a Stripe Checkout Session, cancelling and expiring it.

What may move money: nothing here charges. `create_checkout` asks Stripe to open a hosted
payment page for the server's price; money moves only when the learner pays there, and
`fulfillment.fulfill_checkout` is the one place that turns a paid session into access.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import DirectSelect, db
from webapp.models import Coupon, Course, Enrollment, PaymentSession, User
from webapp.models.base import new_id, utcnow
from webapp.models.enums import PaymentSessionStatus
from webapp.payments.gateway import GatewayError, PaymentRejected, StripeUnavailable, get_gateway
from webapp.services import audit
from webapp.services.catalog import ACCESS_STATUSES
from webapp.services.coupons import assess_coupon
from webapp.services.errors import Conflict, NotFound, PaymentProviderUnavailable, ServiceError
from webapp.services.fulfillment import enroll_without_payment, lock_payment_session, mark_expired
from webapp.services.pricing import PriceBreakdown, price_breakdown
from webapp.services.transactions import unit_of_work

log = logging.getLogger("webapp")

# Stripe refuses an `expires_at` under 30 minutes away; a request that takes a moment must
# not push ours under the line.
EXPIRY_BUFFER = timedelta(minutes=2)
MAX_CHECKOUT_LIFETIME = timedelta(hours=24) - timedelta(minutes=1)

UNAVAILABLE_MESSAGE = "We couldn't reach our payment provider, so nothing was charged. Please try again in a minute."


@dataclass(frozen=True)
class Quote:
    course: Course | CourseOffer
    breakdown: PriceBreakdown
    coupon: Coupon | None
    held_until: datetime | None = None


@dataclass(frozen=True)
class CheckoutStarted:
    """Where to send the learner: Stripe's page, or (free) straight to the success page."""

    payment_session: PaymentSession
    redirect_url: str | None
    enrolled_without_payment: bool = False
    reused: bool = False


def gateway_failure(exc: GatewayError) -> ServiceError:
    if isinstance(exc, PaymentRejected):
        log.warning("stripe refused a request", extra={"fields": {"code": getattr(exc, "code", None)}})
        return ServiceError(
            "Our payment provider refused this checkout. Please try again or contact support.",
            code="payment_provider_refused",
        )
    if not isinstance(exc, StripeUnavailable):
        log.error("stripe configuration error", extra={"fields": {"error": type(exc).__name__}})
    return PaymentProviderUnavailable(UNAVAILABLE_MESSAGE)


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
        sa.or_(*(Enrollment.status == status for status in ACCESS_STATUSES)),
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


def _ensure_customer_committed(user_id: str) -> None:
    """Creates the learner's Stripe customer, once, in a short transaction of its own.

    The customer must outlive a checkout that later fails: rolled back with it, the next
    attempt (perhaps after an email change) would replay the idempotency key with other
    parameters and Stripe would refuse it for a day. The user row lock makes two first
    checkouts at once create one customer.
    """
    with unit_of_work(gateway_failure):
        ensure_stripe_customer(lock_user(user_id))


def quote(course: Course, *, user_id: str | None, raw_code: str | None) -> Quote:
    """The price breakdown for this course with an optional coupon (CouponRefused if it can't apply)."""
    now = utcnow()
    if not raw_code or not raw_code.strip():
        return Quote(course, price_breakdown(course.price, course.currency, None), None)
    open_session = open_session_for(user_id, course.id, now=now) if user_id else None
    exclude = open_session.id if open_session else None
    coupon, breakdown = assess_coupon(raw_code, course=course, user_id=user_id, now=now, exclude_session_id=exclude)
    held_until = open_session.expires_at if open_session and open_session.coupon_id == coupon.id else None
    return Quote(course, breakdown, coupon, held_until)


def lock_user(user_id: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise NotFound("Unknown user.")
    return user


def ensure_stripe_customer(user: User) -> str:
    """The user's Stripe customer id, created once.

    Called with the user row locked, so two first checkouts of one learner in two
    processes create one customer; the idempotency key guards the same race at Stripe.
    """
    if user.stripe_customer_id:
        return user.stripe_customer_id
    customer_id = get_gateway().create_customer(
        email=user.email, name=user.name, user_id=user.id, idempotency_key=f"customer-{user.id}"
    )
    user.stripe_customer_id = customer_id
    return customer_id


def success_url() -> str:
    return f"{current_app.config['APP_URL']}/payment/success?session_id={{CHECKOUT_SESSION_ID}}"


def cancel_url() -> str:
    return f"{current_app.config['APP_URL']}/payment/cancel?session_id={{CHECKOUT_SESSION_ID}}"


def create_checkout(
    *,
    user_id: str,
    course: Course,
    raw_code: str | None,
    metadata: dict | None = None,
    return_url: str | None = None,
    cancel_to: str | None = None,
    default_urls: tuple[str, str] | None = None,
) -> CheckoutStarted:
    """Opens (or reuses) the learner's checkout for `course` at the server's price.

    One transaction: the learner's row is locked (one checkout at a time per learner, one
    Stripe customer), then the coupon row (holds are counted under the lock, so `max_uses`
    holds across processes), then the PENDING row is written and the Stripe session
    created with the row id as idempotency key. If Stripe fails the transaction rolls
    back: no PENDING row without a Stripe session, no coupon held.

    Refuses with Conflict when the learner already has access (no Stripe call). A total
    of 0 enrolls at once without Stripe. Stripe returns the learner to `return_url` /
    `cancel_to`, else to `default_urls` (success, cancel), else to our own pages; an open
    session is reused only when neither explicit URL is given.
    """
    now = utcnow()
    code = raw_code.strip() if raw_code and raw_code.strip() else None
    if course.price > 0 and not db.session.scalar(sa.select(User.stripe_customer_id).where(User.id == user_id)):
        _ensure_customer_committed(user_id)
    with unit_of_work(gateway_failure):
        user = lock_user(user_id)
        state = purchase_state(user_id, course.id)
        if state.enrolled:
            raise Conflict("You're already enrolled in this course.", code="already_enrolled")
        if state.payment_in_progress:
            raise Conflict(
                "A payment for this course is still being processed. We'll enroll you as soon as it settles.",
                code="payment_in_progress",
            )
        existing = open_session_for(user_id, course.id, now=now)
        coupon: Coupon | None = None
        if code:
            coupon, breakdown = assess_coupon(
                code,
                course=course,
                user_id=user_id,
                now=now,
                for_update=True,
                exclude_session_id=existing.id if existing else None,
            )
        else:
            breakdown = price_breakdown(course.price, course.currency, None)
        if (
            existing
            and existing.coupon_id == (coupon.id if coupon else None)
            and existing.final_amount == breakdown.total
            and existing.currency == course.currency
            and existing.checkout_url
            and (return_url is None and cancel_to is None)
        ):
            return CheckoutStarted(existing, existing.checkout_url, reused=True)

        if breakdown.total == 0:
            session = enroll_without_payment(
                user=user, course=course, coupon=coupon, breakdown=breakdown, metadata=metadata
            )
            _supersede_open_sessions(user_id, course.id, keep=session.id)
            return CheckoutStarted(session, None, enrolled_without_payment=True)

        customer_id = ensure_stripe_customer(user)
        # Stripe refuses more than 24 h; the buffer must never push a 24 h TTL over it.
        lifetime = min(
            timedelta(minutes=current_app.config["CHECKOUT_SESSION_TTL_MINUTES"]) + EXPIRY_BUFFER, MAX_CHECKOUT_LIFETIME
        )
        expires_at = now + lifetime
        session = PaymentSession(
            id=new_id(),
            user_id=user_id,
            course_id=course.id,
            status=PaymentSessionStatus.PENDING,
            amount=breakdown.original,
            currency=course.currency,
            discount_amount=breakdown.discount,
            final_amount=breakdown.total,
            coupon_id=coupon.id if coupon else None,
            coupon_code=coupon.code if coupon else None,
            stripe_customer_id=customer_id,
            metadata_=metadata or {},
            expires_at=expires_at.replace(microsecond=0),
        )
        session.idempotency_key = f"checkout-{session.id}"
        db.session.add(session)
        db.session.flush()
        stripe_metadata = {
            "payment_session_id": session.id,
            "user_id": user_id,
            "course_id": course.id,
            "coupon_code": session.coupon_code or "",
        }
        started = get_gateway().create_payment_checkout(
            customer_id=customer_id,
            product_name=course.title,
            description=course.short_description or None,
            amount=breakdown.total,
            currency=course.currency,
            success_url=return_url or (default_urls[0] if default_urls else success_url()),
            cancel_url=cancel_to or (default_urls[1] if default_urls else cancel_url()),
            client_reference_id=session.id,
            metadata=stripe_metadata,
            expires_at=int(session.expires_at.timestamp()),
            idempotency_key=session.idempotency_key,
        )
        session.stripe_session_id = started.id
        session.checkout_url = started.url
        audit.record(
            "payment_session.created",
            entity_type="payment_session",
            entity_id=session.id,
            actor=user_id,
            payment_session_id=session.id,
            stripe_session_id=started.id,
            amount=breakdown.total,
            currency=course.currency,
            coupon_code=session.coupon_code,
        )
        _supersede_open_sessions(user_id, course.id, keep=session.id)
    return CheckoutStarted(session, started.url)


def _supersede_open_sessions(user_id: str, course_id: str, *, keep: str) -> None:
    """Cancels the learner's other open checkouts for this course (a changed coupon, say).

    Each is expired at Stripe first. If Stripe can't be reached the whole new checkout fails
    (GatewayError, rolled back by the caller): an old session left payable at Stripe while
    its hold is released here could take money we'd then not see. If Stripe says the old
    one was paid meanwhile, the new checkout is refused and fulfillment takes the payment.
    """
    others = db.session.scalars(
        sa.select(PaymentSession).where(
            PaymentSession.user_id == user_id,
            PaymentSession.course_id == course_id,
            PaymentSession.status == PaymentSessionStatus.PENDING,
            PaymentSession.id != keep,
        )
    ).all()
    for other in others:
        if other.stripe_session_id:
            remote = get_gateway().expire_checkout_session(other.stripe_session_id)
            if remote.status == "complete":
                raise Conflict(
                    "Your earlier checkout for this course was just paid; we're enrolling you now.",
                    code="payment_in_progress",
                )
        other.status = PaymentSessionStatus.CANCELED
        audit.record(
            "payment_session.superseded",
            entity_type="payment_session",
            entity_id=other.id,
            actor=user_id,
            payment_session_id=other.id,
            replaced_by=keep,
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


def replace_metadata(payment_session: PaymentSession, metadata: dict) -> PaymentSession:
    """Replaces a session's client metadata (the only field a client may change)."""
    with unit_of_work():
        payment_session.metadata_ = metadata
    return payment_session


def cancel_checkout(payment_session: PaymentSession, *, actor: str) -> PaymentSession:
    """The learner came back from Stripe without paying: CANCELED, expired at Stripe, hold released.

    Idempotent; a session that is no longer PENDING is left as it is (a completed one
    never moves back).
    """
    locked = lock_payment_session(payment_session.id)  # re-read under the lock: a webhook may have completed it
    if locked.status != PaymentSessionStatus.PENDING:
        db.session.commit()
        return locked
    if locked.stripe_session_id:
        try:
            remote = get_gateway().expire_checkout_session(locked.stripe_session_id)
        except GatewayError as exc:
            db.session.rollback()
            raise gateway_failure(exc) from None
        if remote.status == "complete":
            # Paid after all (another tab): fulfil it now, so the page tells the truth.
            from webapp.services.fulfillment import fulfill_checkout

            db.session.commit()
            result = fulfill_checkout(remote.id, actor=actor, remote=remote)
            return result.payment_session or locked
    locked.status = PaymentSessionStatus.CANCELED
    audit.record(
        "payment_session.canceled",
        entity_type="payment_session",
        entity_id=locked.id,
        actor=actor,
        payment_session_id=locked.id,
    )
    db.session.commit()
    return locked


def expire_overdue(*, now: datetime | None = None) -> list[str]:
    """Marks PENDING sessions past `expires_at` EXPIRED (releasing holds) and expires them at Stripe.

    Returns the ids it expired. A session Stripe reports complete is left for fulfillment.
    """
    now = now or utcnow()
    ids = list(
        db.session.scalars(
            sa.select(PaymentSession.id).where(
                PaymentSession.status == PaymentSessionStatus.PENDING, PaymentSession.expires_at <= now
            )
        )
    )
    expired: list[str] = []
    for session_id in ids:
        session = db.session.scalar(sa.select(PaymentSession).where(PaymentSession.id == session_id).with_for_update())
        if session is None or session.status != PaymentSessionStatus.PENDING:
            db.session.commit()
            continue
        if session.stripe_session_id:
            try:
                remote = get_gateway().retrieve_checkout_session(session.stripe_session_id)
                if remote.status == "open":
                    remote = get_gateway().expire_checkout_session(session.stripe_session_id)
            except GatewayError as exc:
                db.session.rollback()
                log.warning(
                    "could not expire at stripe",
                    extra={"fields": {"payment_session_id": session_id, "error": type(exc).__name__}},
                )
                continue
            if remote.status == "complete":
                db.session.commit()
                continue
        mark_expired(session, actor="system", event_id=None)
        db.session.commit()
        expired.append(session_id)
    return expired
