"""What a learner sees of a payment: confirming it on return from Stripe, refreshing it for the API.

These call `fulfillment.fulfill_checkout` and turn a Stripe failure into the services' own
errors or a notice, so pages and the API never handle the gateway's exceptions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import Enrollment, PaymentSession
from webapp.payments.gateway import GatewayError, PaymentRejected, StripeUnavailable
from webapp.services.errors import PaymentProviderUnavailable, ServiceError
from webapp.services.fulfillment import Fulfillment, fulfill_checkout
from webapp.services.receipts import confirmation_address, order_number, payment_method_of, refunded_by_session

log = logging.getLogger("webapp")

UNAVAILABLE_MESSAGE = "We couldn't reach our payment provider, so nothing was charged. Please try again in a minute."


def provider_failure(exc: GatewayError) -> ServiceError:
    """A Stripe failure as the services' own user-safe error (views never see GatewayError)."""
    if isinstance(exc, PaymentRejected):
        log.warning("stripe refused a request", extra={"fields": {"code": getattr(exc, "code", None)}})
        return ServiceError(
            "Our payment provider refused this checkout. Please try again or contact support.",
            code="payment_provider_refused",
        )
    if not isinstance(exc, StripeUnavailable):
        log.error("stripe configuration error", extra={"fields": {"error": type(exc).__name__}})
    return PaymentProviderUnavailable(UNAVAILABLE_MESSAGE)


def confirm_payment(stripe_session_id: str, *, actor: str) -> Fulfillment:
    """`fulfill_checkout` for pages and the API: a Stripe failure becomes the services' error."""
    try:
        return fulfill_checkout(stripe_session_id, actor=actor)
    except GatewayError as exc:
        raise provider_failure(exc) from None


@dataclass(frozen=True)
class Receipt(Fulfillment):
    """A confirmation as the success page shows it: the fulfilment and the receipt's extras.

    `refunded` is minor units refunded (succeeded and pending refunds); `payment_method`
    "card", "bank_transfer" or None (free, or Stripe not reachable); `email_sent_to` the
    address of the enrollment's confirmation email, else the learner's.
    """

    order_number: str = ""
    refunded: int = 0
    payment_method: str | None = None
    email_sent_to: str | None = None


def _receipt(result: Fulfillment, payment_session: PaymentSession) -> Receipt:
    enrollment_id = result.enrollment.id if result.enrollment else payment_session.enrollment_id
    return Receipt(
        **{f.name: getattr(result, f.name) for f in fields(Fulfillment)},
        order_number=order_number(payment_session.id),
        refunded=refunded_by_session([payment_session.id]).get(payment_session.id, 0),
        payment_method=payment_method_of(
            payment_session, stripe_type=result.payment_method_type, card_brand=result.card_brand
        ),
        email_sent_to=confirmation_address(enrollment_id, payment_session.user_id),
    )


def confirm_return(payment_session: PaymentSession, *, actor: str) -> tuple[Receipt, str | None]:
    """The success page's confirmation: fulfils if Stripe says paid, and loads what the page shows.

    A Stripe outage gives the last known state and a notice, never an error. A free
    checkout (no Stripe session) is shown as it is.
    """
    session_id = payment_session.id
    notice = None
    if not payment_session.stripe_session_id:
        enrollment_id = payment_session.enrollment_id
        enrollment = db.session.get(Enrollment, enrollment_id) if enrollment_id else None
        result = Fulfillment(payment_session, enrollment, payment_session.status)
    else:
        try:
            result = fulfill_checkout(payment_session.stripe_session_id, actor=actor)
        except GatewayError as exc:
            log.warning("success page could not reach stripe", extra={"fields": {"error": type(exc).__name__}})
            result, notice = Fulfillment(payment_session, None, payment_session.status), UNAVAILABLE_MESSAGE
    _reload_for_page(session_id)
    return _receipt(result, payment_session), notice


def _reload_for_page(payment_session_id: str) -> None:
    """Refreshes the session, its enrollment and course in one SELECT after fulfilment's commit.

    Without it the template lazily reloads each expired row on its own (three statements).
    """
    db.session.execute(
        sa.select(PaymentSession, Enrollment)
        .outerjoin(Enrollment, Enrollment.id == PaymentSession.enrollment_id)
        .options(joinedload(PaymentSession.course))
        .where(PaymentSession.id == payment_session_id)
    ).all()
