"""Typed SQLAlchemy models, one module per aggregate."""

from webapp.models.coupon import Coupon, coupon_courses
from webapp.models.course import Course
from webapp.models.enrollment import Enrollment
from webapp.models.events import AuditLog, StripeEvent
from webapp.models.installments import Installment, InstallmentPlan
from webapp.models.mail import OutboxEmail
from webapp.models.payment import PaymentMethod, PaymentSession, Refund
from webapp.models.user import User

__all__ = [
    "AuditLog",
    "Coupon",
    "Course",
    "Enrollment",
    "Installment",
    "InstallmentPlan",
    "OutboxEmail",
    "PaymentMethod",
    "PaymentSession",
    "Refund",
    "StripeEvent",
    "User",
    "coupon_courses",
]
