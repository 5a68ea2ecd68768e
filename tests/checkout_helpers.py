"""Helpers for the purchase-loop tests: catalog rows, coupons and what Stripe/the DB hold."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any

import sqlalchemy as sa

CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"

# Tests never wait for the SDK's back-off between retries.
FAST_STRIPE = {"STRIPE_NETWORK_RETRY_DELAY": 0, "STRIPE_MAX_NETWORK_RETRIES": 2}

# The webhook secret `harness.make_app` configures (STRIPE_WEBHOOK_SECRETS).
WEBHOOK_SECRET = "whsec_test_secret"


def make_course(app, slug: str = "python-payments", *, price: int = 4999, currency: str = "usd", **kw: Any) -> str:
    from webapp.services.courses import create_course

    with app.app_context():
        return create_course(
            slug=slug,
            title=kw.pop("title", f"Course {slug}"),
            price=price,
            currency=currency,
            short_description=kw.pop("short_description", "Learn it well"),
            **kw,
        ).id


def make_coupon(app, code: str, *, discount_type: str = "percentage", value: str | int = "10", **kw: Any) -> str:
    from webapp.services.coupons import create_coupon

    with app.app_context():
        return create_coupon(code=code, discount_type=discount_type, value=str(value), **kw).id


def make_user(app, user_id: str) -> None:
    from webapp.services.users import upsert_user

    with app.app_context():
        upsert_user(user_id, email=f"{user_id}@example.test", name=None)


def rows(app, model_name: str, **where: Any) -> list[Any]:
    """Fresh rows of a model (detached), filtered by column equality."""
    import webapp.models as models
    from webapp.extensions import db

    model = getattr(models, model_name)
    with app.app_context():
        query = sa.select(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        return found


def payment_sessions(app, **where: Any) -> list[Any]:
    return rows(app, "PaymentSession", **where)


def enrollments(app, **where: Any) -> list[Any]:
    return rows(app, "Enrollment", **where)


def coupon_uses(app, code: str) -> int:
    return rows(app, "Coupon", code=code)[0].current_uses


def audit_actions(app, payment_session_id: str) -> list[str]:
    from webapp.extensions import db
    from webapp.models.events import AuditLog

    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditLog.action)
                .where(AuditLog.payment_session_id == payment_session_id)
                .order_by(AuditLog.id)
            )
        )


def update_row(app, model_name: str, row_id: str, **values: Any) -> None:
    import webapp.models as models
    from webapp.extensions import db

    model = getattr(models, model_name)
    with app.app_context():
        db.session.execute(sa.update(model).where(model.id == row_id).values(**values))
        db.session.commit()


def stripe_sessions(app) -> list[Any]:
    """Every checkout session the sandbox has, newest first."""
    from webapp.payments.gateway import get_gateway

    with app.app_context():
        return get_gateway().list_checkout_sessions(limit=100)


def stripe_session(app, cs_id: str):
    from webapp.payments.gateway import get_gateway

    with app.app_context():
        return get_gateway().retrieve_checkout_session(cs_id)


def cs_id_of(location: str) -> str:
    match = re.search(r"(cs_test_[A-Za-z0-9]+)", location)
    assert match, f"no checkout session id in {location!r}"
    return match.group(1)


def start_checkout(client, slug: str, code: str = "", **extra: str):
    return client.post(f"/checkout/{slug}", data={"coupon_code": code, **extra})


def pay(client, checkout_url: str, card: str = CARD_OK, *, method: str = "card"):
    """Submits the sandbox's hosted page like a learner's browser would."""
    return client.post(checkout_url, data={"action": "pay", "method": method, "card_number": card})


def buy(client, slug: str, code: str = "", card: str = CARD_OK):
    """Checkout → pay → follow Stripe's redirect; returns (success page response, cs id)."""
    started = start_checkout(client, slug, code)
    assert started.status_code == 303, started.get_data(as_text=True)[:500]
    paid = pay(client, started.headers["Location"], card)
    assert paid.status_code == 303, paid.get_data(as_text=True)[:500]
    return client.get(paid.headers["Location"]), cs_id_of(started.headers["Location"])


def main_attrs(html: str) -> dict[str, str]:
    match = re.search(r"<main\b([^>]*)>", html)
    assert match, "page has no <main>"
    return dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', match.group(1)))


def session_token(app, user_id: str) -> str:
    """A real dev session token (what `auth.sign_in` sets), usable from any thread or client."""
    from webapp.auth.tokens import issue_dev_token

    return issue_dev_token(app, user_id, email=f"{user_id}@example.test", name=None, admin=False)


def sign_in_as(app, client, user_id: str) -> None:
    client.set_cookie("__session", session_token(app, user_id), domain="localhost")


def make_paid_and_free(app, slug: str = "python-payments") -> dict[str, str]:
    """The two-course shop several test modules start from: a $49.99 course and a free one."""
    return {
        "paid": make_course(app, slug, price=4999, currency="usd", title="Python for Payments", total_lectures=12),
        "free": make_course(app, "free-course", price=0, currency="usd", title="Free Course", total_lectures=4),
    }


def stripe_signature(body: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header value for `body`, computed here (not by the code under test)."""
    t = int(time.time()) if timestamp is None else timestamp
    sig = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={sig}"


def signed_headers(body: str, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    """Headers of a webhook delivery of `body` signed with `secret`, signed now."""
    return {"Content-Type": "application/json", "Stripe-Signature": stripe_signature(body, secret)}
