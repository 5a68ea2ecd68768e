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
    PAUSED = "PAUSED"  # an installment is past due beyond the grace period: no access until paid


class PaymentStatus(StrEnum):
    PAID = "PAID"
    FREE = "FREE"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    DISPUTED = "DISPUTED"  # a chargeback is open; access is kept until it is decided
    DISPUTE_LOST = "DISPUTE_LOST"  # the bank took the money back; access removed
    INSTALLMENTS = "INSTALLMENTS"  # paying by installment plan, every installment so far paid
    PAST_DUE = "PAST_DUE"  # an installment failed; Stripe is retrying it


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


class PaymentPlan(StrEnum):
    """What a payment session pays: the whole price, the first of N installments, or a plan's balance."""

    FULL = "full"
    INSTALLMENTS = "installments"
    PAYOFF = "payoff"


class PlanStatus(StrEnum):
    ACTIVE = "ACTIVE"  # every installment due so far is paid
    PAST_DUE = "PAST_DUE"  # an installment failed; access kept for the grace period
    PAUSED = "PAUSED"  # past due beyond the grace period: access paused until it is paid
    PAID = "PAID"  # paid in full (the last installment, or the balance paid early)
    CANCELED = "CANCELED"  # ended before it was paid: Stripe gave up, or an admin cancelled it


LIVE_PLAN_STATUSES = (PlanStatus.ACTIVE, PlanStatus.PAST_DUE, PlanStatus.PAUSED)


class InstallmentStatus(StrEnum):
    OPEN = "OPEN"  # invoiced, not paid yet (a failed attempt leaves it open while Stripe retries)
    PAID = "PAID"
    VOID = "VOID"  # Stripe voided it or marked it uncollectible: it will not be paid
