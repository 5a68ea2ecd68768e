"""The JSON API's response shapes: one pydantic model per shape, built from our rows.

Each model is both what a view sends (`Model.of(row)`, dumped by `to_json`) and what
`/api/openapi.json` documents, so the two cannot disagree. Names are camelCase; timestamps are ISO 8601 in UTC (`...Z`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from webapp.models import Coupon, Course, Enrollment, PaymentMethod, PaymentSession, Refund
from webapp.models.enums import EnrollmentSource


class ResponseBody(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, serialize_by_alias=True, validate_by_name=True)

    @classmethod
    def from_row(cls, row: Any, **derived: Any):
        """The model from a row: each field read from the row's attribute of the same name,
        except those given in `derived` (fields the row names otherwise, or computes)."""
        read = {name: getattr(row, name) for name in cls.model_fields if name not in derived}
        return cls(**read, **derived)

    def to_json(self) -> dict[str, Any]:
        """The JSON object sent: camelCase names; optional fields never set are left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


# -- errors (every JSON error of the app, not only the API's) --------------------------------


class ErrorDetail(ResponseBody):
    field: str
    message: str


class ErrorResponse(ResponseBody):
    """NestJS's error body (what the design's front end reads) plus our `code` and `details`."""

    status_code: int = Field(description="The HTTP status, repeated.")
    message: str | list[str] = Field(description="The validation messages (a list), or one sentence.")
    error: str = Field(description='The reason phrase: "Bad Request", "Not Found", …')
    code: str = Field(description="Machine-readable: validation_failed, not_found, already_enrolled, …")
    details: list[ErrorDetail] = Field(description="One entry per refused field (may be empty).")


# -- resources -------------------------------------------------------------------------------


class PaymentSessionOut(ResponseBody):
    id: str
    course_id: str
    user_id: str
    status: str
    amount: int
    currency: str
    payment_intent_id: str | None
    enrollment_id: str | None
    metadata: dict[str, Any]
    stripe_session_id: str | None
    stripe_customer_id: str | None
    coupon_code: str | None
    discount_amount: int
    final_amount: int
    created_at: datetime | None
    updated_at: datetime | None
    expires_at: datetime | None
    plan: str = Field(description='"full", or "installments": the first of `installmentCount` monthly installments.')
    installment_count: int | None = Field(description="The plan's number of monthly installments (null: paid in full).")

    @classmethod
    def of(cls, s: PaymentSession) -> PaymentSessionOut:
        return cls.from_row(s, metadata=s.metadata_ or {})


class CreatePaymentSessionResult(ResponseBody):
    success: bool
    session: PaymentSessionOut
    redirect_url: str | None
    reused: bool = Field(description="True when this is the caller's open checkout, handed back again.")


class PaymentSessionResult(ResponseBody):
    """What both session GETs answer, as the design's service returns it."""

    success: bool
    session: PaymentSessionOut


class CourseRef(ResponseBody):
    id: str
    slug: str
    title: str
    installments: int | None = Field(description="Offered in this many monthly installments (null: in full only).")

    @classmethod
    def of(cls, course: Course | None) -> CourseRef | None:
        return cls.from_row(course) if course else None


class EnrollmentOut(ResponseBody):
    """Every column of the design's `enrollments` under its TypeORM name, plus ours.

    Ours kept beside the design's: `source` (PURCHASE/FREE/COUPON/ADMIN_GRANT; the design's
    column of that name has no fixed vocabulary), `paymentSessionId` (= `paymentId`),
    `currentLecture` (our lecture number; `currentLectureId` is the front end's id, or
    that number as a string). We track no time spent, streaks, certificates, notes or
    access expiry: those are the design's defaults (0, false, null).
    """

    id: str
    user_id: str
    course_id: str
    status: str
    payment_status: str
    source: str
    enrollment_source: str = Field(
        description="PAID when bought through a payment session, else FREE (DIRECT for grants)."
    )
    type: str = Field(description="PAID when money was taken, else FREE.")
    payment_session_id: str | None
    payment_id: str | None = Field(description="Our payment session's id (the design's paymentId).")
    amount_paid: int
    amount: int = Field(description="What was paid, minor units (= amountPaid).")
    discount_applied: int
    currency: str
    progress: float = Field(description="Percent complete, 0–100 (DECIMAL(5,2)).")
    completion_percentage: float = Field(description="= progress.")
    current_lecture: int | None
    current_lecture_id: str | None
    completed_lectures: int
    total_lectures: int
    total_time_spent: int
    streak_days: int
    certificate_earned: bool
    certificate_earned_at: datetime | None
    notes: str | None
    last_accessed_at: datetime | None
    enrolled_at: datetime | None
    paid_at: datetime | None = Field(description="When the payment was confirmed (we enroll at that moment).")
    expires_at: datetime | None = Field(description="Always null: access does not expire.")
    completed_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    course: CourseRef | None

    @classmethod
    def of(cls, e: Enrollment) -> EnrollmentOut:
        progress = float(e.progress or 0)
        paid = (e.amount_paid or 0) > 0
        lecture_id = e.current_lecture_id or (str(e.current_lecture) if e.current_lecture is not None else None)
        return cls.from_row(
            e,
            enrollment_source=_design_source(e),
            type="PAID" if paid else "FREE",
            payment_id=e.payment_session_id,
            amount=e.amount_paid,
            progress=progress,
            completion_percentage=progress,
            current_lecture_id=lecture_id,
            total_lectures=(e.course.total_lectures or 0) if e.course else 0,
            total_time_spent=0,
            streak_days=0,
            certificate_earned=False,
            certificate_earned_at=None,
            notes=None,
            paid_at=e.enrolled_at if paid else None,
            expires_at=None,
            course=CourseRef.of(e.course),
        )


def _design_source(e: Enrollment) -> str:
    """The design's `enrollmentSource`: PAID with a payment session, FREE without, DIRECT for grants."""
    if e.source == EnrollmentSource.ADMIN_GRANT:
        return "DIRECT"
    return "PAID" if e.payment_session_id else "FREE"


class CouponOut(ResponseBody):
    """Every column of the design's `coupons`, plus ours (`isPublic`, `maxUsesPerUser`,
    `applicableCourseIds` = `applicableCourses`). A coupon's `name` is its code: we keep
    no separate display name."""

    id: str
    code: str
    name: str
    description: str | None
    discount_type: str
    discount_value: float = Field(description="Percent for PERCENTAGE, minor units for FIXED (DECIMAL).")
    currency: str | None
    max_uses: int | None
    current_uses: int
    max_uses_per_user: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    minimum_amount: int | None
    maximum_discount: int | None
    is_active: bool
    is_public: bool
    applicable_courses: list[str] = Field(description="Course ids; empty = every course.")
    applicable_course_ids: list[str]
    metadata: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, c: Coupon) -> CouponOut:
        courses = sorted(c.applicable_course_ids)
        return cls.from_row(
            c,
            name=c.code,
            discount_value=float(c.discount_value) if c.discount_value is not None else 0.0,
            applicable_courses=courses,
            applicable_course_ids=courses,
            metadata={},
        )


class CouponValidation(ResponseBody):
    is_valid: bool
    discount_amount: int | None = None
    final_amount: int | None = None
    amount: int | None = Field(None, description="The course's price (server side), minor units.")
    currency: str | None = None
    coupon: CouponOut | None = None
    message: str | None = None
    code: str | None = Field(None, description="Why the coupon was refused (when isValid is false).")


class PaymentMethodOut(ResponseBody):
    """Every column of the design's `payment_methods`, plus ours (`brand`, `last4`,
    `expMonth`, `expYear`: the same values). Billing details stay at Stripe: not mirrored."""

    id: str
    user_id: str
    stripe_payment_method_id: str
    type: str
    card_brand: str | None
    card_last4: str | None
    card_exp_month: int | None
    card_exp_year: int | None
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    billing_details: dict[str, Any]
    is_default: bool
    metadata: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, m: PaymentMethod) -> PaymentMethodOut:
        return cls.from_row(
            m,
            card_brand=m.brand,
            card_last4=m.last4,
            card_exp_month=m.exp_month,
            card_exp_year=m.exp_year,
            billing_details={},
            metadata={},
        )


class RefundOut(ResponseBody):
    """Every column of the design's `refunds`, plus ours (`enrollmentId`, `failureReason`)."""

    id: str
    payment_session_id: str
    enrollment_id: str | None
    amount: int
    currency: str
    reason: str
    status: str
    stripe_refund_id: str | None
    failure_reason: str | None
    metadata: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, r: Refund) -> RefundOut:
        return cls.from_row(r, reason=r.reason or "", metadata={})


class RedirectOut(ResponseBody):
    redirect_url: str


class SuccessOut(ResponseBody):
    success: bool
