"""Status vocabularies, stored as strings (no native enum types to migrate)."""

from __future__ import annotations

from enum import StrEnum


class PaymentSessionStatus(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


OPEN_SESSION_STATUSES = (PaymentSessionStatus.PENDING, PaymentSessionStatus.PROCESSING)
FINAL_SESSION_STATUSES = (
    PaymentSessionStatus.COMPLETED,
    PaymentSessionStatus.FAILED,
    PaymentSessionStatus.CANCELED,
    PaymentSessionStatus.EXPIRED,
)


class EnrollmentStatus(StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"


class PaymentStatus(StrEnum):
    PAID = "PAID"
    FREE = "FREE"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    DISPUTED = "DISPUTED"  # a chargeback is open; access is kept until it is decided
    DISPUTE_LOST = "DISPUTE_LOST"  # the bank took the money back; access removed


class EnrollmentSource(StrEnum):
    PURCHASE = "PURCHASE"
    FREE = "FREE"
    COUPON = "COUPON"
    ADMIN_GRANT = "ADMIN_GRANT"


class DiscountType(StrEnum):
    PERCENTAGE = "PERCENTAGE"
    FIXED = "FIXED"


class RefundStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class StripeEventStatus(StrEnum):
    RECEIVED = "RECEIVED"
    PROCESSING = "PROCESSING"  # claimed by one delivery until `locked_until`
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"
    IGNORED = "IGNORED"


class OutboxEmailStatus(StrEnum):
    PENDING = "PENDING"  # waiting for SMTP delivery
    SENDING = "SENDING"  # claimed by one sender
    SENT = "SENT"
    OUTBOX = "OUTBOX"  # no MAIL_SERVER: kept in the database, readable at /dev/mail
