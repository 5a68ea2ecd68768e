"""JSON API under /api (Bearer tokens only): the routes of the original NestJS design.

Each route is declared once with `api_route`: that registers the Flask rule and adds the
row from which `/api/openapi.json` is generated, with the request model the view
validates against (webapp.web.api_schemas). Bodies must be `application/json` (415
otherwise), well-formed (400), under 1 MB (413) and valid for the model (400 naming each
field). Every id in a path is the caller's or it is 404, exactly as if it didn't exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from webapp.auth import login_required, rate_limit_key, user_row
from webapp.extensions import csrf, db, limiter
from webapp.models import Course, PaymentSession
from webapp.services import checkout as checkout_service
from webapp.services import enrollments as enrollment_service
from webapp.services import saved_cards
from webapp.services.catalog import ACCESS_STATUSES
from webapp.services.coupons import REFUSALS, CouponRefused, find_coupon, offered_coupons
from webapp.services.errors import NotFound, PaymentProviderUnavailable, ServiceError, ValidationFailed
from webapp.services.fulfillment import refresh_open_session
from webapp.web.api_schemas import (
    AddPaymentMethod,
    ApiRoute,
    CouponOut,
    CouponValidation,
    CreateEnrollment,
    CreatePaymentSession,
    CreatePaymentSessionResult,
    EnrollmentOut,
    PaymentMethodOut,
    PaymentSessionOut,
    RedirectOut,
    SuccessOut,
    UpdateEnrollmentProgress,
    UpdatePaymentSession,
    ValidateCoupon,
    build_openapi,
    validation_details,
)
from webapp.web.errors import error_response
from webapp.web.serializers import coupon_json, enrollment_json, payment_method_json, payment_session_json

bp = Blueprint("api", __name__, url_prefix="/api")
# Bearer-only authentication: a cookie never authenticates the API, so it needs no CSRF token.
csrf.exempt(bp)

ROUTES: list[ApiRoute] = []
Model = TypeVar("Model", bound=BaseModel)

_PATH_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
CHECKOUT_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"


class BadBody(Exception):
    """A request body refused before any service runs; answered as the API's error JSON."""

    def __init__(self, status: int, message: str, *, code: str, details: list | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = details or []


def api_route(method: str, path: str, summary: str, **options) -> Callable:
    """Registers a signed-in JSON route and its OpenAPI row (path in OpenAPI `{param}` style)."""

    def register(view: Callable) -> Callable:
        ROUTES.append(ApiRoute(method=method, path=path, summary=summary, endpoint=view.__name__, **options))
        rule = re.sub(r"\{(\w+)\}", r"<\1>", path)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=login_required(view), methods=[method])
        return view

    return register


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError):
    db.session.rollback()
    details = []
    message = exc.message
    for detail in exc.details or []:
        name = detail.get("field") or ""
        camel = to_camel(name) if "_" in name else name
        if camel != name:
            message = message.replace(name, camel)
        details.append({"field": camel, "message": str(detail.get("message", "")).replace(name, camel)})
    return error_response(exc.status, message, code=exc.code, details=details)


@bp.errorhandler(BadBody)
def _bad_body(exc: BadBody):
    return error_response(exc.status, exc.message, code=exc.code, details=exc.details)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_body(model: type[Model], *, required: bool = True) -> Model:
    """The request body validated against `model` (BadBody/413 otherwise).

    An optional body may be left out entirely (no bytes); when present it must be JSON.
    """
    raw = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH, answered as JSON under /api
    if not raw and not required:
        return model()
    if not request.is_json:
        raise BadBody(415, "Send the request body as application/json.", code="unsupported_media_type")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadBody(400, "The request body is not valid JSON.", code="malformed_json") from None
    if not isinstance(data, dict):
        raise BadBody(
            400,
            "The request body must be a JSON object.",
            code="validation_failed",
            details=[{"field": "body", "message": "body must be a JSON object"}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        message = "; ".join(d["message"] for d in details[:10])
        raise BadBody(
            400, message or "The request body is invalid.", code="validation_failed", details=details
        ) from None


def path_id(value: str, what: str = "that") -> str:
    """An id from the path, or NotFound when it could not be one of ours (never reaches the DB)."""
    if _PATH_ID.fullmatch(value) is None:
        raise NotFound(f"We couldn't find {what}.")
    return value


def same_origin_url(value: str, field: str) -> str:
    """An absolute URL on APP_URL's origin; a path starting with a single "/" is resolved against it.

    Anything else — another host, scheme-relative `//host`, `/\\host`, `javascript:`,
    userinfo (`http://app@evil`), look-alike hosts, whitespace or control characters — is
    refused with ValidationFailed naming the field. Never followed.
    """
    origin = current_app.config["APP_ORIGIN"]
    refusal = ValidationFailed(f"{field} must be a URL on {origin}.", field=field)
    if "\\" in value or any(not 0x21 <= ord(ch) <= 0x7E for ch in value):
        raise refusal
    if value.startswith("/") and not value.startswith("//"):
        value = origin + value
    try:
        parts = urlsplit(value)
        _ = parts.port  # a malformed port raises ValueError
    except ValueError:
        raise refusal from None
    if parts.scheme.lower() not in ("http", "https"):
        raise refusal
    if f"{parts.scheme}://{parts.netloc}".lower() != origin.lower():
        raise refusal
    return value


def with_session_placeholder(url: str) -> str:
    """`url` with `session_id={CHECKOUT_SESSION_ID}` appended (Stripe substitutes it), as the original did."""
    if CHECKOUT_PLACEHOLDER in url:
        return url
    parts = urlsplit(url)
    addition = f"session_id={CHECKOUT_PLACEHOLDER}"
    return urlunsplit(parts._replace(query=f"{parts.query}&{addition}" if parts.query else addition))


def _return_urls(body: CreatePaymentSession | AddPaymentMethod) -> tuple[str | None, str | None]:
    """The body's returnUrl (with the session placeholder) and cancelUrl, both checked to be ours."""
    success_to = (
        with_session_placeholder(same_origin_url(body.return_url, "returnUrl")) if body.return_url is not None else None
    )
    cancel_to = same_origin_url(body.cancel_url, "cancelUrl") if body.cancel_url is not None else None
    return success_to, cancel_to


def _published_course(course_id: str) -> Course:
    course = db.session.get(Course, course_id) if enrollment_service.is_row_id(course_id) else None
    if course is None or not course.published:
        raise NotFound("We couldn't find that course.")
    return course


def _owned_session(session_id: str) -> PaymentSession:
    path_id(session_id, "that payment session")
    session = db.session.get(PaymentSession, session_id) if enrollment_service.is_row_id(session_id) else None
    if session is None or session.user_id != g.user.id:
        raise NotFound("We couldn't find that payment session.")
    return session


# -- payment sessions ------------------------------------------------------------------------


@api_route(
    "POST",
    "/payments/sessions",
    "Start a checkout for a course (reuses the caller's open one when nothing changed)",
    body=CreatePaymentSession,
    ok_status=201,
    ok_description="Created: a new Stripe Checkout Session, or enrolled at once when the total is 0",
    response=CreatePaymentSessionResult,
    other_ok={200: ("The caller's open checkout for the same course and coupon, reused", CreatePaymentSessionResult)},
    errors=(404, 409, 429, 503),
)
@limiter.limit("10 per minute", key_func=rate_limit_key)
def create_payment_session():
    body = parse_body(CreatePaymentSession)
    course = _published_course(body.course_id)
    success_to, cancel_to = _return_urls(body)
    try:
        started = checkout_service.create_checkout(
            user_id=g.user.id,
            course=course,
            raw_code=body.coupon_code,
            metadata=body.metadata,
            return_url=success_to,
            cancel_to=cancel_to,
        )
    except CouponRefused as exc:
        raise ValidationFailed(exc.message, code=exc.code, field="couponCode") from None
    session = started.payment_session
    redirect_url = started.redirect_url
    if started.enrolled_without_payment:
        target = success_to or checkout_service.success_url()
        redirect_url = target.replace(CHECKOUT_PLACEHOLDER, session.id)
    payload = {"success": True, "session": payment_session_json(session), "redirectUrl": redirect_url}
    return jsonify(payload), 200 if started.reused else 201


@api_route(
    "GET",
    "/payments/sessions/{session_id}",
    "One of the caller's payment sessions, by our id (brought up to date with Stripe)",
    response=PaymentSessionOut,
    errors=(404,),
)
def get_payment_session(session_id: str):
    return jsonify(payment_session_json(refresh_open_session(_owned_session(session_id), actor=g.user.id)))


@api_route(
    "GET",
    "/payments/sessions/stripe/{stripe_session_id}",
    "One of the caller's payment sessions, by its Stripe Checkout Session id (cs_…)",
    response=PaymentSessionOut,
    errors=(404,),
)
def get_payment_session_by_stripe_id(stripe_session_id: str):
    path_id(stripe_session_id, "that payment session")
    if not stripe_session_id.startswith("cs_"):
        raise NotFound("We couldn't find that payment session.")
    session = checkout_service.session_for_owner(stripe_session_id, g.user.id)
    return jsonify(payment_session_json(refresh_open_session(session, actor=g.user.id)))


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
    return jsonify(payment_session_json(checkout_service.replace_metadata(session, body.metadata)))


@api_route(
    "POST",
    "/payments/sessions/{session_id}/cancel",
    "Cancel the caller's open checkout (expired at Stripe, coupon hold released); idempotent",
    response=PaymentSessionOut,
    errors=(404, 503),
)
def cancel_payment_session(session_id: str):
    session = _owned_session(session_id)
    return jsonify(payment_session_json(checkout_service.cancel_checkout(session, actor=g.user.id)))


# -- coupons -------------------------------------------------------------------------------


@api_route(
    "POST",
    "/payments/coupons/validate",
    "Price a course with a coupon (the server's price; a client amount is ignored)",
    body=ValidateCoupon,
    response=CouponValidation,
    ok_description="`{isValid: true, discountAmount, finalAmount, coupon}` or `{isValid: false, message}`",
    errors=(404, 429),
)
@limiter.limit("30 per minute", key_func=rate_limit_key)
@limiter.limit("60 per minute")
def validate_coupon():
    body = parse_body(ValidateCoupon)
    course = _published_course(body.course_id)
    try:
        quote = checkout_service.quote(course, user_id=g.user.id, raw_code=body.code)
    except CouponRefused as exc:
        return jsonify(isValid=False, message=exc.message, code=exc.code)
    if quote.coupon is None:
        return jsonify(isValid=False, message=REFUSALS["unknown"], code="unknown")
    return jsonify(
        isValid=True,
        discountAmount=quote.breakdown.discount,
        finalAmount=quote.breakdown.total,
        amount=quote.breakdown.original,
        currency=course.currency,
        coupon=coupon_json(quote.coupon),
    )


@api_route(
    "GET",
    "/payments/coupons/active",
    "Coupons on offer: public, active and usable ones to learners; every coupon to admins",
    response=CouponOut,
    response_is_list=True,
)
def list_active_coupons():
    return jsonify([coupon_json(c) for c in offered_coupons(include_all=g.is_admin)])


@api_route(
    "GET",
    "/payments/coupons/{code}",
    "A public coupon by its code (case and surrounding spaces ignored); any coupon to admins",
    response=CouponOut,
    errors=(404, 429),
)
@limiter.limit("30 per minute", key_func=rate_limit_key)
@limiter.limit("60 per minute")
def get_coupon(code: str):
    # Private codes are never confirmed here (validate, also rate-limited, prices them), so
    # this route can't be used to enumerate staff or partner codes.
    coupon = find_coupon(code)
    if coupon is None or not (g.is_admin or (coupon.is_active and coupon.is_public)):
        raise NotFound(REFUSALS["unknown"])
    return jsonify(coupon_json(coupon))


# -- enrollments -----------------------------------------------------------------------------


@api_route(
    "POST",
    "/enrollments",
    "Enroll directly: a free course, or a completed payment session of the caller; idempotent",
    body=CreateEnrollment,
    ok_status=201,
    ok_description="Enrolled",
    response=EnrollmentOut,
    other_ok={200: ("Already enrolled: that enrollment", EnrollmentOut)},
    errors=(403, 404, 409, 503),
)
def create_enrollment():
    body = parse_body(CreateEnrollment)
    before = {e.id for e in enrollment_service.list_for_user(g.user.id)}
    enrollment = enrollment_service.enroll_direct(g.user.id, body.course_id, body.payment_session_id)
    return jsonify(enrollment_json(enrollment)), 200 if enrollment.id in before else 201


@api_route(
    "GET", "/enrollments", "The caller's enrollments, newest first", response=EnrollmentOut, response_is_list=True
)
def list_enrollments():
    return jsonify([enrollment_json(e) for e in enrollment_service.list_for_user(g.user.id)])


@api_route(
    "GET",
    "/enrollments/course/{course_id}",
    "The caller's enrollment in a course (the one with access first, else the newest)",
    response=EnrollmentOut,
    errors=(404,),
)
def get_enrollment_for_course(course_id: str):
    path_id(course_id, "that enrollment")
    mine = [e for e in enrollment_service.list_for_user(g.user.id) if e.course_id == course_id]
    if not mine:
        raise NotFound(enrollment_service.NOT_FOUND_MESSAGE)
    with_access = [e for e in mine if e.status in ACCESS_STATUSES]
    return jsonify(enrollment_json((with_access or mine)[0]))


@api_route(
    "GET", "/enrollments/{enrollment_id}", "One of the caller's enrollments", response=EnrollmentOut, errors=(404,)
)
def get_enrollment(enrollment_id: str):
    return jsonify(enrollment_json(enrollment_service.get_for_user(g.user.id, path_id(enrollment_id))))


@api_route(
    "PATCH",
    "/enrollments/{enrollment_id}",
    "Record progress: progress (0–100), currentLecture, completedLectures",
    body=UpdateEnrollmentProgress,
    response=EnrollmentOut,
    errors=(404, 409),
)
def update_enrollment(enrollment_id: str):
    path_id(enrollment_id, "that enrollment")
    enrollment_service.get_for_user(g.user.id, enrollment_id)
    body = parse_body(UpdateEnrollmentProgress)
    enrollment = enrollment_service.update_progress(
        g.user.id,
        enrollment_id,
        progress=body.progress,
        current_lecture=body.current_lecture,
        completed_lectures=body.completed_lectures,
    )
    return jsonify(enrollment_json(enrollment))


@api_route(
    "POST",
    "/enrollments/{enrollment_id}/cancel",
    "Give up access to a course (not a refund); idempotent",
    response=EnrollmentOut,
    errors=(404, 409),
)
def cancel_enrollment(enrollment_id: str):
    return jsonify(enrollment_json(enrollment_service.cancel_enrollment(g.user.id, path_id(enrollment_id))))


# -- saved cards -----------------------------------------------------------------------------


@api_route(
    "GET",
    "/payments/methods",
    "The caller's saved cards (refreshed from Stripe; the last known list when Stripe is unreachable)",
    response=PaymentMethodOut,
    response_is_list=True,
)
def list_payment_methods():
    try:
        cards = saved_cards.list_cards(user_row())
    except PaymentProviderUnavailable:
        cards = saved_cards.cached_cards(user_row())
    return jsonify([payment_method_json(c) for c in cards])


@api_route(
    "POST",
    "/payments/methods",
    "Save a card: attach a Stripe.js payment method, or (without one) get a Checkout URL in setup mode",
    body=AddPaymentMethod,
    body_required=False,
    ok_status=201,
    ok_description="The attached card",
    response=PaymentMethodOut,
    other_ok={200: ("No paymentMethodId: where to send the learner to add a card", RedirectOut)},
    errors=(404, 503),
)
def add_payment_method():
    body = parse_body(AddPaymentMethod, required=False)
    if body.payment_method_id is not None:
        if body.return_url is not None or body.cancel_url is not None:
            raise ValidationFailed("returnUrl and cancelUrl only apply without paymentMethodId.", field="returnUrl")
        card = saved_cards.attach_card(user_row(), body.payment_method_id)
        return jsonify(payment_method_json(card)), 201
    success_to, cancel_to = _return_urls(body)
    url = saved_cards.start_card_setup(user_row(), success_url=success_to, cancel_url=cancel_to)
    return jsonify(redirectUrl=url)


@api_route(
    "DELETE",
    "/payments/methods/{method_id}",
    "Remove one of the caller's saved cards (detached at Stripe)",
    response=SuccessOut,
    errors=(404, 503),
)
def remove_payment_method(method_id: str):
    saved_cards.remove_card(user_row(), path_id(method_id, "that card"))
    return jsonify(success=True)


@api_route(
    "POST",
    "/payments/methods/{method_id}/default",
    "Make one of the caller's saved cards the default",
    response=PaymentMethodOut,
    errors=(404, 503),
)
def make_default_payment_method(method_id: str):
    return jsonify(payment_method_json(saved_cards.make_default(user_row(), path_id(method_id, "that card"))))


# -- the document ----------------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document, generated from the route table above and the pydantic models."""
    return jsonify(build_openapi(ROUTES, prefix=bp.url_prefix or "", server_url=current_app.config["APP_URL"]))
