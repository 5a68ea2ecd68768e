"""Payment sessions: start a checkout, read it, change its metadata, cancel it."""

from __future__ import annotations

from flask import g

from webapp.auth import rate_limit_key
from webapp.extensions import limiter
from webapp.models.enums import PaymentPlan
from webapp.services import checkout as checkout_service
from webapp.services.checkout_lookups import owned_payment_session, published_course, refunds_of
from webapp.services.coupons import CouponRefused
from webapp.services.errors import NotFound, ValidationFailed
from webapp.services.fulfillment import refresh_open_session
from webapp.web.api.framework import api_route, parse_body, path_id, respond
from webapp.web.api.urls import CHECKOUT_PLACEHOLDER, front_end_return_urls, return_urls
from webapp.web.api_responses import CreatePaymentSessionResult, PaymentSessionOut, PaymentSessionResult, RefundOut
from webapp.web.api_schemas import CreatePaymentSession, UpdatePaymentSession


def _owned_session(session_id: str):
    path_id(session_id, "that payment session")
    return owned_payment_session(session_id, g.user.id)


@api_route(
    "POST",
    "/payments/sessions",
    "Start a checkout for a course (reuses the caller's open one when nothing changed)",
    body=CreatePaymentSession,
    ok_status=201,
    ok_description="A payable Stripe Checkout Session (`reused: true` when it is the caller's open one for the "
    "same course and coupon), or enrolled at once when the total is 0",
    response=CreatePaymentSessionResult,
    errors=(404, 409, 429, 503),
)
@limiter.limit("10 per minute", key_func=rate_limit_key)
def create_payment_session():
    body = parse_body(CreatePaymentSession)
    course = published_course(body.course_id)
    success_to, cancel_to = return_urls(body)
    defaults = front_end_return_urls()
    try:
        started = checkout_service.create_checkout(
            user_id=g.user.id,
            course=course,
            raw_code=body.coupon_code,
            metadata=body.metadata,
            return_url=success_to,
            cancel_to=cancel_to,
            default_urls=defaults,
            plan=body.plan or PaymentPlan.FULL,
        )
    except CouponRefused as exc:
        raise ValidationFailed(exc.message, code=exc.code, field="couponCode") from None
    session = started.payment_session
    redirect_url = started.redirect_url
    if started.enrolled_without_payment:
        target = success_to or (defaults[0] if defaults else checkout_service.success_url())
        redirect_url = target.replace(CHECKOUT_PLACEHOLDER, session.id)
    result = CreatePaymentSessionResult(
        success=True, session=PaymentSessionOut.of(session), redirect_url=redirect_url, reused=started.reused
    )
    # The design answers 201 to every POST that hands back a session, a reused one included.
    return respond(result, 201)


def _session_result(session) -> tuple:
    return respond(PaymentSessionResult(success=True, session=PaymentSessionOut.of(session)))


@api_route(
    "GET",
    "/payments/sessions/{session_id}",
    "One of the caller's payment sessions, by our id (brought up to date with Stripe)",
    response=PaymentSessionResult,
    errors=(404,),
)
def get_payment_session(session_id: str):
    return _session_result(refresh_open_session(_owned_session(session_id), actor=g.user.id))


@api_route(
    "GET",
    "/payments/sessions/stripe/{stripe_session_id}",
    "One of the caller's payment sessions, by its Stripe Checkout Session id (cs_…); a zero-total "
    "checkout never reaches Stripe, so it is found by the id its redirectUrl carries (ours)",
    response=PaymentSessionResult,
    errors=(404,),
)
def get_payment_session_by_stripe_id(stripe_session_id: str):
    path_id(stripe_session_id, "that payment session")
    session = checkout_service.session_for_owner(stripe_session_id, g.user.id)
    if not stripe_session_id.startswith("cs_") and session.stripe_session_id is not None:
        # Our id answers here only for sessions Stripe never saw (what redirectUrl named).
        raise NotFound("We couldn't find that payment session.")
    return _session_result(refresh_open_session(session, actor=g.user.id))


@api_route(
    "PATCH",
    "/payments/sessions/{session_id}",
    "Replace a payment session's metadata (nothing else can change)",
    body=UpdatePaymentSession,
    response=PaymentSessionOut,
    errors=(404,),
)
def update_payment_session(session_id: str):
    session = _owned_session(session_id)
    body = parse_body(UpdatePaymentSession)
    return respond(PaymentSessionOut.of(checkout_service.replace_metadata(session, body.metadata)))


@api_route(
    "POST",
    "/payments/sessions/{session_id}/cancel",
    "Cancel the caller's open checkout (expired at Stripe, coupon hold released); idempotent",
    response=PaymentSessionOut,
    errors=(404, 503),
)
def cancel_payment_session(session_id: str):
    session = _owned_session(session_id)
    return respond(PaymentSessionOut.of(checkout_service.cancel_checkout(session, actor=g.user.id)))


@api_route(
    "GET",
    "/payments/sessions/{session_id}/refunds",
    "The refunds of one of the caller's payment sessions (the design's refunds rows), oldest first",
    response=RefundOut,
    response_is_list=True,
    errors=(404,),
)
def list_payment_session_refunds(session_id: str):
    return respond([RefundOut.of(r) for r in refunds_of(_owned_session(session_id))])
