"""Checkout: quoting a price and opening a Stripe Checkout Session for it.

What may move money: nothing here charges. `create_checkout` asks Stripe to open a hosted
payment page for the server's price; money moves only when the learner pays there, and
`fulfillment.fulfill_checkout` is the one place that turns a paid session into access.
Reads live in services.checkout_queries, cancelling and expiry in services.checkout_closing;
their public names are importable from here too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import Coupon, Course, PaymentSession, User
from webapp.models.base import new_id, utcnow
from webapp.models.enums import PaymentPlan, PaymentSessionStatus
from webapp.payments.gateway import get_gateway
from webapp.services import audit
from webapp.services.checkout_closing import cancel_checkout, expire_overdue
from webapp.services.checkout_queries import (
    CourseOffer,
    PurchaseState,
    course_for_checkout,
    is_enrolled,
    open_session_for,
    owned_session_with_enrollment,
    purchase_state,
    session_for_owner,
)
from webapp.services.confirmation import UNAVAILABLE_MESSAGE
from webapp.services.confirmation import provider_failure as gateway_failure
from webapp.services.coupons import assess_coupon
from webapp.services.errors import Conflict, NotFound, ValidationFailed
from webapp.services.fulfillment import enroll_without_payment
from webapp.services.pricing import (
    InstallmentSplit,
    PriceBreakdown,
    PricingError,
    price_breakdown,
    split_if_possible,
    split_installments,
)
from webapp.services.transactions import unit_of_work
from webapp.services.transitions import move_payment_session
from webapp.speedups import DirectSelect

log = logging.getLogger("webapp")

__all__ = [
    "UNAVAILABLE_MESSAGE",
    "CheckoutStarted",
    "CourseOffer",
    "DirectSelect",
    "PurchaseState",
    "Quote",
    "cancel_checkout",
    "checkout_expires_at",
    "course_for_checkout",
    "create_checkout",
    "ensure_stripe_customer",
    "expire_overdue",
    "gateway_failure",
    "installment_split",
    "is_enrolled",
    "lock_user",
    "open_session_for",
    "owned_session_with_enrollment",
    "plan_split",
    "purchase_state",
    "quote",
    "replace_metadata",
    "session_for_owner",
]

# Stripe refuses an `expires_at` under 30 minutes away; a request that takes a moment must
# not push ours under the line.
EXPIRY_BUFFER = timedelta(minutes=2)
MAX_CHECKOUT_LIFETIME = timedelta(hours=24) - timedelta(minutes=1)


@dataclass(frozen=True)
class Quote:
    course: Course | CourseOffer
    breakdown: PriceBreakdown
    coupon: Coupon | None
    held_until: datetime | None = None

    @property
    def installments(self) -> InstallmentSplit | None:
        """The installment plan for this price, when the course offers one and the total can be split."""
        return installment_split(self.course, self.breakdown)

    @property
    def installments_refused(self) -> str | None:
        """Why the offered plan can't be used at this price (an installment below Stripe's minimum)."""
        try:
            plan_split(self.course, self.breakdown)
        except PricingError as exc:
            return str(exc)
        return None


def plan_split(course: Course | CourseOffer, breakdown: PriceBreakdown) -> InstallmentSplit | None:
    """The split of this total over the course's installments (None: not offered, or nothing to pay).

    Raises the split's PricingError when an installment would be below Stripe's minimum.
    """
    if not course.installments or breakdown.total == 0:
        return None
    return split_installments(breakdown.total, course.installments, course.currency)


def installment_split(course: Course | CourseOffer, breakdown: PriceBreakdown) -> InstallmentSplit | None:
    """`plan_split`, or None where the total can't be split (an installment below Stripe's minimum)."""
    return split_if_possible(breakdown.total, course.installments, course.currency) if course.installments else None


@dataclass(frozen=True)
class CheckoutStarted:
    """Where to send the learner: Stripe's page, or (free) straight to the success page."""

    payment_session: PaymentSession
    redirect_url: str | None
    enrolled_without_payment: bool = False
    reused: bool = False


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
    plan: str = PaymentPlan.FULL,
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

    `plan` "installments" (offered by the course) opens Checkout in subscription mode for
    the first of the course's monthly installments of the discounted total instead.
    """
    if plan not in (PaymentPlan.FULL, PaymentPlan.INSTALLMENTS):
        raise ValidationFailed("Choose to pay in full or in installments.", code="invalid_plan")
    if plan == PaymentPlan.INSTALLMENTS and not course.installments:
        raise ValidationFailed("This course can't be paid in installments.", code="installments_not_offered")
    now = utcnow()
    code = raw_code.strip() if raw_code and raw_code.strip() else None
    if course.price > 0 and not db.session.scalar(sa.select(User.stripe_customer_id).where(User.id == user_id)):
        _ensure_customer_committed(user_id)
    with unit_of_work(gateway_failure):
        user = lock_user(user_id)
        _refuse_if_enrolled_or_settling(user_id, course.id)
        existing = open_session_for(user_id, course.id, now=now)
        coupon, breakdown = _price(course, code, user_id=user_id, now=now, existing=existing)
        split = plan_split(course, breakdown) if plan == PaymentPlan.INSTALLMENTS else None
        plan = plan if split else PaymentPlan.FULL  # a total of 0 enrolls as it does when paid in full
        reusable = existing and _reusable(existing, coupon, breakdown, course, plan)
        if reusable and return_url is None and cancel_to is None:
            return CheckoutStarted(existing, existing.checkout_url, reused=True)
        if breakdown.total == 0:
            session = enroll_without_payment(
                user=user, course=course, coupon=coupon, breakdown=breakdown, metadata=metadata
            )
            _supersede_open_sessions(user_id, course.id, keep=session.id)
            return CheckoutStarted(session, None, enrolled_without_payment=True)
        session = _open_payment_session(user, course, coupon, breakdown, metadata=metadata, now=now, split=split)
        success_to, cancel_back = default_urls or (None, None)
        _open_at_stripe(
            session, course, return_url=return_url or success_to, cancel_to=cancel_to or cancel_back, split=split
        )
        _supersede_open_sessions(user_id, course.id, keep=session.id)
    return CheckoutStarted(session, session.checkout_url)


def _refuse_if_enrolled_or_settling(user_id: str, course_id: str) -> None:
    state = purchase_state(user_id, course_id)
    if state.enrolled:
        raise Conflict("You're already enrolled in this course.", code="already_enrolled")
    if state.payment_in_progress:
        raise Conflict(
            "A payment for this course is still being processed. We'll enroll you as soon as it settles.",
            code="payment_in_progress",
        )


def _price(
    course: Course, code: str | None, *, user_id: str, now: datetime, existing: PaymentSession | None
) -> tuple[Coupon | None, PriceBreakdown]:
    """The coupon (locked, its holds counted) and the price; the learner's open session's hold is theirs."""
    if not code:
        return None, price_breakdown(course.price, course.currency, None)
    return assess_coupon(
        code,
        course=course,
        user_id=user_id,
        now=now,
        for_update=True,
        exclude_session_id=existing.id if existing else None,
    )


def _reusable(
    existing: PaymentSession, coupon: Coupon | None, breakdown: PriceBreakdown, course: Course, plan: str
) -> bool:
    """Whether the learner's open checkout is for exactly this price and plan (then it is reused)."""
    return (
        existing.plan == plan
        and existing.coupon_id == (coupon.id if coupon else None)
        and existing.final_amount == breakdown.total
        and existing.currency == course.currency
        and bool(existing.checkout_url)
    )


def checkout_expires_at(now: datetime) -> datetime:
    """When a Checkout Session opened now expires: the configured TTL plus a buffer, under Stripe's 24 h."""
    # Stripe refuses more than 24 h; the buffer must never push a 24 h TTL over it.
    lifetime = min(
        timedelta(minutes=current_app.config["CHECKOUT_SESSION_TTL_MINUTES"]) + EXPIRY_BUFFER, MAX_CHECKOUT_LIFETIME
    )
    return (now + lifetime).replace(microsecond=0)


def _open_payment_session(
    user: User,
    course: Course,
    coupon: Coupon | None,
    breakdown: PriceBreakdown,
    *,
    metadata: dict | None,
    now: datetime,
    split: InstallmentSplit | None = None,
) -> PaymentSession:
    """The new PENDING row (created with the column's default status), flushed."""
    customer_id = ensure_stripe_customer(user)
    session = PaymentSession(
        id=new_id(),
        user_id=user.id,
        course_id=course.id,
        amount=breakdown.original,
        currency=course.currency,
        discount_amount=breakdown.discount,
        final_amount=breakdown.total,
        coupon_id=coupon.id if coupon else None,
        coupon_code=coupon.code if coupon else None,
        plan=PaymentPlan.INSTALLMENTS if split else PaymentPlan.FULL,
        installment_count=split.count if split else None,
        stripe_customer_id=customer_id,
        metadata_=metadata or {},
        expires_at=checkout_expires_at(now),
    )
    session.idempotency_key = f"checkout-{session.id}"
    db.session.add(session)
    db.session.flush()
    return session


def _open_at_stripe(
    session: PaymentSession,
    course: Course,
    *,
    return_url: str | None,
    cancel_to: str | None,
    split: InstallmentSplit | None = None,
) -> None:
    """Creates the Stripe Checkout Session for our row (its id is the idempotency key)."""
    metadata = {
        "payment_session_id": session.id,
        "user_id": session.user_id,
        "course_id": course.id,
        "coupon_code": session.coupon_code or "",
    }
    common = {
        "customer_id": session.stripe_customer_id,
        "product_name": course.title,
        "currency": course.currency,
        "success_url": return_url or success_url(),
        "cancel_url": cancel_to or cancel_url(),
        "client_reference_id": session.id,
        "expires_at": int(session.expires_at.timestamp()),
        "idempotency_key": session.idempotency_key,
    }
    if split is not None:
        started = get_gateway().create_installment_checkout(
            **common,
            installment_amount=split.regular,
            first_extra=split.remainder,
            count=split.count,
            metadata={**metadata, "plan": PaymentPlan.INSTALLMENTS, "installments": str(split.count)},
        )
    else:
        started = get_gateway().create_payment_checkout(
            **common, description=course.short_description or None, amount=session.final_amount, metadata=metadata
        )
    session.stripe_session_id = started.id
    session.checkout_url = started.url
    audit.record(
        "payment_session.created",
        entity_type="payment_session",
        entity_id=session.id,
        actor=session.user_id,
        payment_session_id=session.id,
        stripe_session_id=started.id,
        amount=session.final_amount,
        currency=course.currency,
        coupon_code=session.coupon_code,
        plan=session.plan,
        installments=session.installment_count,
    )


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
        move_payment_session(
            other, PaymentSessionStatus.CANCELED, action="payment_session.superseded", actor=user_id, replaced_by=keep
        )


def replace_metadata(payment_session: PaymentSession, metadata: dict) -> PaymentSession:
    """Replaces a session's client metadata (the only field a client may change)."""
    with unit_of_work():
        payment_session.metadata_ = metadata
    return payment_session
