"""Coupons: price a course with one, list those on offer, read one by code."""

from __future__ import annotations

from flask import g

from webapp.auth import rate_limit_key
from webapp.extensions import limiter
from webapp.services import checkout as checkout_service
from webapp.services.checkout_lookups import published_course
from webapp.services.coupons import REFUSALS, CouponRefused, find_coupon, offered_coupons
from webapp.services.errors import NotFound
from webapp.web.api.framework import api_route, parse_body, respond
from webapp.web.api_responses import CouponOut, CouponValidation
from webapp.web.api_schemas import ValidateCoupon


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
    course = published_course(body.course_id)
    try:
        quote = checkout_service.quote(course, user_id=g.user.id, raw_code=body.code)
    except CouponRefused as exc:
        return respond(CouponValidation(is_valid=False, message=exc.message, code=exc.code))
    if quote.coupon is None:
        return respond(CouponValidation(is_valid=False, message=REFUSALS["unknown"], code="unknown"))
    return respond(
        CouponValidation(
            is_valid=True,
            discount_amount=quote.breakdown.discount,
            final_amount=quote.breakdown.total,
            amount=quote.breakdown.original,
            currency=course.currency,
            coupon=CouponOut.of(quote.coupon),
        )
    )


@api_route(
    "GET",
    "/payments/coupons/active",
    "Coupons on offer: public, active and usable ones to learners; every coupon to admins",
    response=CouponOut,
    response_is_list=True,
)
def list_active_coupons():
    return respond([CouponOut.of(c) for c in offered_coupons(include_all=g.is_admin)])


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
    return respond(CouponOut.of(coupon))
