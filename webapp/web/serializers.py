"""camelCase JSON shapes of the original design, built from models."""

from __future__ import annotations

from datetime import datetime

from webapp.models import Coupon, Enrollment, PaymentMethod, PaymentSession


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def enrollment_json(e: Enrollment) -> dict:
    return {
        "id": e.id,
        "userId": e.user_id,
        "courseId": e.course_id,
        "status": e.status,
        "paymentStatus": e.payment_status,
        "source": e.source,
        "paymentSessionId": e.payment_session_id,
        "amountPaid": e.amount_paid,
        "discountApplied": e.discount_applied,
        "currency": e.currency,
        "progress": e.progress,
        "currentLecture": e.current_lecture,
        "completedLectures": e.completed_lectures,
        "lastAccessedAt": _iso(e.last_accessed_at),
        "enrolledAt": _iso(e.enrolled_at),
        "completedAt": _iso(e.completed_at),
        "cancelledAt": _iso(e.cancelled_at),
        "createdAt": _iso(e.created_at),
        "updatedAt": _iso(e.updated_at),
        "course": {"id": e.course.id, "slug": e.course.slug, "title": e.course.title} if e.course else None,
    }


def payment_session_json(s: PaymentSession) -> dict:
    return {
        "id": s.id,
        "courseId": s.course_id,
        "userId": s.user_id,
        "status": s.status,
        "amount": s.amount,
        "currency": s.currency,
        "paymentIntentId": s.payment_intent_id,
        "enrollmentId": s.enrollment_id,
        "metadata": s.metadata_ or {},
        "stripeSessionId": s.stripe_session_id,
        "stripeCustomerId": s.stripe_customer_id,
        "couponCode": s.coupon_code,
        "discountAmount": s.discount_amount,
        "finalAmount": s.final_amount,
        "createdAt": _iso(s.created_at),
        "updatedAt": _iso(s.updated_at),
        "expiresAt": _iso(s.expires_at),
    }


def coupon_json(c: Coupon) -> dict:
    return {
        "id": c.id,
        "code": c.code,
        "description": c.description,
        "discountType": c.discount_type,
        "discountValue": format(c.discount_value.normalize(), "f") if c.discount_value is not None else "0",
        "currency": c.currency,
        "maxUses": c.max_uses,
        "currentUses": c.current_uses,
        "maxUsesPerUser": c.max_uses_per_user,
        "validFrom": _iso(c.valid_from),
        "validUntil": _iso(c.valid_until),
        "minimumAmount": c.minimum_amount,
        "maximumDiscount": c.maximum_discount,
        "isActive": c.is_active,
        "isPublic": c.is_public,
        "applicableCourseIds": sorted(c.applicable_course_ids),
    }


def payment_method_json(m: PaymentMethod) -> dict:
    return {
        "id": m.id,
        "stripePaymentMethodId": m.stripe_payment_method_id,
        "type": m.type,
        "brand": m.brand,
        "last4": m.last4,
        "expMonth": m.exp_month,
        "expYear": m.exp_year,
        "isDefault": m.is_default,
        "createdAt": _iso(m.created_at),
    }
