"""Stripe-shaped events for webhook tests: a small shop with one paid enrollment, event
bodies shaped like Stripe's published fixtures, and a snapshot of what must not change.

The objects follow the fields Stripe's API reference and its fixtures show for each
object (`checkout.session`, `payment_intent`, `charge`, `refund`, `dispute`,
`payment_method`, `customer`, `setup_intent`, `invoice`), trimmed to what matters here.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tests.support.auth import sign_in
from tests.support.checkout import buy, cs_id_of, start_checkout
from tests.support.factories import make_coupon, make_course

SLUG = "events-course"


@dataclass(frozen=True)
class Shop:
    """A paid enrollment (with a coupon) and another learner's open checkout."""

    cs_id: str
    payment_intent_id: str
    payment_session_id: str
    customer_id: str
    open_cs_id: str
    open_payment_session_id: str


def open_shop(app) -> Shop:
    from webapp.extensions import db
    from webapp.models import PaymentSession, User
    from webapp.payments.gateway import get_gateway

    make_course(app, SLUG, price=5000)
    make_coupon(app, "EVENTS10", value="10", max_uses=3)
    buyer, waiting = app.test_client(), app.test_client()
    sign_in(app, buyer, "events_buyer")
    page, cs_id = buy(buyer, SLUG, "EVENTS10")
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    sign_in(app, waiting, "events_waiting")
    started = start_checkout(waiting, SLUG, "EVENTS10")
    assert started.status_code == 303, started.get_data(as_text=True)[:300]
    open_cs_id = cs_id_of(started.headers["Location"])
    with app.app_context():
        remote = get_gateway().retrieve_checkout_session(cs_id)
        by_cs = sa.select(PaymentSession.id).where(PaymentSession.stripe_session_id == sa.bindparam("cs"))
        customer = db.session.scalar(sa.select(User.stripe_customer_id).where(User.id == "events_buyer"))
        return Shop(
            cs_id=cs_id,
            payment_intent_id=remote.payment_intent_id,
            payment_session_id=db.session.scalar(by_cs, {"cs": cs_id}),
            customer_id=customer,
            open_cs_id=open_cs_id,
            open_payment_session_id=db.session.scalar(by_cs, {"cs": open_cs_id}),
        )


def snapshot(app) -> dict[str, list[tuple]]:
    """Enrollments, coupons, payments and refunds as rows: what a bad event must not change."""
    from webapp.extensions import db

    queries = {
        "enrollments": "SELECT id, status, payment_status FROM enrollments ORDER BY id",
        "coupons": "SELECT code, current_uses, is_active FROM coupons ORDER BY code",
        "payments": "SELECT id, status, stripe_session_id, payment_intent_id FROM payment_sessions ORDER BY id",
        "refunds": "SELECT id, status, amount FROM refunds ORDER BY id",
    }
    with app.app_context():
        return {name: [tuple(row) for row in db.session.execute(sa.text(sql))] for name, sql in queries.items()}


def event(event_type: Any, obj: Any, *, event_id: Any = None, **envelope: Any) -> dict[str, Any]:
    """An event envelope as Stripe sends it (API version, request, pending webhooks)."""
    body = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    body.update(envelope)
    return body


def body_of(value: Any) -> str:
    return json.dumps(value)


def _hex(n: int = 14) -> str:
    return uuid.uuid4().hex[:n]


FOREIGN_METADATA = {"payment_session_id": "ps_somebody_elses", "user_id": "user_elsewhere", "order": "A-1001"}


def checkout_session(*, cs_id: str | None = None, mode: str = "payment", metadata=None, **over) -> dict[str, Any]:
    obj = {
        "id": cs_id or f"cs_test_{_hex(24)}",
        "object": "checkout.session",
        "amount_subtotal": 2000,
        "amount_total": 2000,
        "client_reference_id": None,
        "created": int(time.time()),
        "currency": "usd",
        "customer": f"cus_{_hex()}",
        "customer_details": {"email": "jenny.rosen@example.com", "name": "Jenny Rosen"},
        "expires_at": int(time.time()) + 3600,
        "livemode": False,
        "metadata": FOREIGN_METADATA if metadata is None else metadata,
        "mode": mode,
        "payment_intent": f"pi_{_hex()}" if mode == "payment" else None,
        "payment_status": "paid" if mode == "payment" else "no_payment_required",
        "setup_intent": f"seti_{_hex()}" if mode == "setup" else None,
        "status": "complete",
        "url": None,
    }
    return {**obj, **over}


def payment_intent(*, pi_id: str | None = None, status: str = "succeeded", metadata=None, **over) -> dict[str, Any]:
    obj = {
        "id": pi_id or f"pi_{_hex()}",
        "object": "payment_intent",
        "amount": 2000,
        "amount_received": 2000 if status == "succeeded" else 0,
        "capture_method": "automatic",
        "created": int(time.time()),
        "currency": "usd",
        "customer": None,
        "last_payment_error": None,
        "latest_charge": f"ch_{_hex()}",
        "livemode": False,
        "metadata": FOREIGN_METADATA if metadata is None else metadata,
        "payment_method": f"pm_{_hex()}",
        "payment_method_types": ["card"],
        "status": status,
    }
    return {**obj, **over}


def charge(*, payment_intent_id: str | None = None, refunded: bool = False, **over) -> dict[str, Any]:
    obj = {
        "id": f"ch_{_hex()}",
        "object": "charge",
        "amount": 2000,
        "amount_captured": 2000,
        "amount_refunded": 2000 if refunded else 0,
        "captured": True,
        "currency": "usd",
        "customer": None,
        "metadata": {},
        "paid": True,
        "payment_intent": payment_intent_id or f"pi_{_hex()}",
        "payment_method_details": {"card": {"brand": "visa", "last4": "4242"}, "type": "card"},
        "refunded": refunded,
        "refunds": {"object": "list", "data": [], "has_more": False, "url": "/v1/charges/ch_x/refunds"},
        "status": "succeeded",
    }
    return {**obj, **over}


def refund(*, payment_intent_id: str | None = None, status: str = "succeeded", **over) -> dict[str, Any]:
    obj = {
        "id": f"re_{_hex()}",
        "object": "refund",
        "amount": 1000,
        "charge": f"ch_{_hex()}",
        "created": int(time.time()),
        "currency": "usd",
        "metadata": {},
        "payment_intent": payment_intent_id or f"pi_{_hex()}",
        "reason": "requested_by_customer",
        "status": status,
    }
    return {**obj, **over}


def dispute(*, status: str = "needs_response", **over) -> dict[str, Any]:
    obj = {
        "id": f"dp_{_hex()}",
        "object": "dispute",
        "amount": 2000,
        "charge": f"ch_{_hex()}",
        "currency": "usd",
        "evidence_details": {"due_by": int(time.time()) + 86400, "has_evidence": False},
        "is_charge_refundable": False,
        "payment_intent": f"pi_{_hex()}",
        "reason": "fraudulent",
        "status": status,
    }
    return {**obj, **over}


def payment_method(**over) -> dict[str, Any]:
    obj = {
        "id": f"pm_{_hex()}",
        "object": "payment_method",
        "billing_details": {"email": None, "name": None},
        "card": {"brand": "visa", "country": "US", "exp_month": 8, "exp_year": 2031, "last4": "4242"},
        "created": int(time.time()),
        "customer": f"cus_{_hex()}",
        "livemode": False,
        "metadata": {},
        "type": "card",
    }
    return {**obj, **over}


def customer(**over) -> dict[str, Any]:
    obj = {
        "id": f"cus_{_hex()}",
        "object": "customer",
        "email": "jenny.rosen@example.com",
        "invoice_settings": {"default_payment_method": None},
        "metadata": {"user_id": "user_elsewhere"},
        "name": "Jenny Rosen",
    }
    return {**obj, **over}


def setup_intent(status: str = "succeeded", **over) -> dict[str, Any]:
    obj = {
        "id": f"seti_{_hex()}",
        "object": "setup_intent",
        "customer": f"cus_{_hex()}",
        "payment_method": f"pm_{_hex()}",
        "payment_method_types": ["card"],
        "status": status,
        "usage": "off_session",
    }
    return {**obj, **over}


def invoice(status: str = "paid", **over) -> dict[str, Any]:
    obj = {
        "id": f"in_{_hex()}",
        "object": "invoice",
        "amount_due": 2000,
        "amount_paid": 2000 if status == "paid" else 0,
        "currency": "usd",
        "customer": f"cus_{_hex()}",
        "lines": {"object": "list", "data": [], "has_more": False},
        "status": status,
        "subscription": None,
    }
    return {**obj, **over}


#: Every Stripe event type a course shop's account may send, with a foreign object of its kind.
FOREIGN_EVENTS: dict[str, Any] = {
    "checkout.session.completed": checkout_session,
    "checkout.session.async_payment_succeeded": checkout_session,
    "checkout.session.async_payment_failed": lambda: checkout_session(payment_status="unpaid"),
    "checkout.session.expired": lambda: checkout_session(status="expired", payment_status="unpaid"),
    "payment_intent.created": lambda: payment_intent(status="requires_payment_method"),
    "payment_intent.succeeded": payment_intent,
    "payment_intent.processing": lambda: payment_intent(status="processing"),
    "payment_intent.payment_failed": lambda: payment_intent(
        status="requires_payment_method", last_payment_error={"code": "card_declined", "type": "card_error"}
    ),
    "payment_intent.canceled": lambda: payment_intent(status="canceled"),
    "payment_intent.requires_action": lambda: payment_intent(status="requires_action"),
    "charge.succeeded": charge,
    "charge.failed": lambda: charge(status="failed", paid=False),
    "charge.captured": charge,
    "charge.updated": charge,
    "charge.refunded": lambda: charge(refunded=True),
    "charge.refund.updated": refund,
    "refund.created": refund,
    "refund.updated": refund,
    "refund.failed": lambda: refund(status="failed"),
    "charge.dispute.created": dispute,
    "charge.dispute.updated": lambda: dispute(status="under_review"),
    "charge.dispute.closed": lambda: dispute(status="lost"),
    "charge.dispute.funds_withdrawn": dispute,
    "payment_method.attached": payment_method,
    "payment_method.detached": lambda: payment_method(customer=None),
    "payment_method.updated": payment_method,
    "payment_method.automatically_updated": payment_method,
    "customer.created": customer,
    "customer.updated": customer,
    "customer.deleted": customer,
    "setup_intent.created": lambda: setup_intent("requires_payment_method"),
    "setup_intent.succeeded": setup_intent,
    "setup_intent.setup_failed": lambda: setup_intent("requires_payment_method"),
    "invoice.created": lambda: invoice("draft"),
    "invoice.finalized": lambda: invoice("open"),
    "invoice.paid": invoice,
    "invoice.payment_failed": lambda: invoice("open"),
}


def events_about_our_payment(shop: Shop) -> list[dict[str, Any]]:
    """Events naming our paid checkout that must change nothing now: it is fulfilled already,
    and Stripe has no refund or dispute of it."""
    ours = {"payment_session_id": shop.payment_session_id, "user_id": "events_buyer"}
    return [
        event("checkout.session.completed", checkout_session(cs_id=shop.cs_id, metadata=ours)),
        event("checkout.session.async_payment_succeeded", checkout_session(cs_id=shop.cs_id, metadata=ours)),
        event("payment_intent.succeeded", payment_intent(pi_id=shop.payment_intent_id, metadata=ours)),
        event("payment_intent.processing", payment_intent(pi_id=shop.payment_intent_id, status="processing")),
        event("charge.succeeded", charge(payment_intent_id=shop.payment_intent_id)),
        event("charge.refunded", charge(payment_intent_id=shop.payment_intent_id)),
        event("refund.updated", refund(payment_intent_id=shop.payment_intent_id)),
        event("checkout.session.completed", checkout_session(mode="setup", customer=shop.customer_id)),
    ]


UNKNOWN_TYPES = ["account.updated", "product.created", "price.updated", "v2.core.account.created", "made.up.type"]
