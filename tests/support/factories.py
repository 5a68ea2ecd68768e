"""Rows a test starts from, created through the services as the app would."""

from __future__ import annotations

from typing import Any


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


def make_paid_and_free(app, slug: str = "python-payments") -> dict[str, str]:
    """The two-course shop several test modules start from: a $49.99 course and a free one."""
    return {
        "paid": make_course(app, slug, price=4999, currency="usd", title="Python for Payments", total_lectures=12),
        "free": make_course(app, "free-course", price=0, currency="usd", title="Free Course", total_lectures=4),
    }
