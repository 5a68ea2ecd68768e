"""Coupon usage as admins read it: held, used, conversions and discount given per coupon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Coupon, PaymentSession
from webapp.models.base import utcnow
from webapp.models.enums import PaymentSessionStatus
from webapp.services.errors import NotFound


@dataclass(frozen=True)
class CouponUsage:
    coupon_id: str
    code: str
    discount_type: str
    discount_value: Any
    currency: str | None
    is_active: bool
    is_public: bool
    held: int
    used: int
    max_uses: int | None
    discount_given: dict[str, int]
    conversions: int
    attempts: int
    valid_until: datetime | None = None
    valid_from: datetime | None = None


@dataclass
class _Tally:
    held: int = 0
    conversions: int = 0
    attempts: int = 0
    discount: dict[str, int] | None = None


def coupon_usage(*, now: datetime | None = None) -> list[CouponUsage]:
    """Every coupon, newest first, with held (open PENDING sessions), used, max, discount given
    per currency (completed sessions) and conversions (completed sessions / all sessions using it)."""
    now = now or utcnow()
    stats = _session_stats(now)
    rows = db.session.execute(
        sa.select(Coupon, stats.c.currency, stats.c.held, stats.c.conversions, stats.c.discount, stats.c.attempts)
        .outerjoin(stats, stats.c.coupon_id == Coupon.id)
        .order_by(Coupon.created_at.desc(), Coupon.id)
    ).all()
    coupons: dict[str, Coupon] = {}
    tallies: dict[str, _Tally] = {}
    for coupon, currency, n_held, n_conv, discount, attempts in rows:
        coupons.setdefault(coupon.id, coupon)
        tally = tallies.setdefault(coupon.id, _Tally(discount={}))
        if currency is not None:
            tally.held += int(n_held or 0)
            tally.conversions += int(n_conv or 0)
            tally.attempts += int(attempts or 0)
            if discount:
                tally.discount[currency] = int(discount)
    return [_usage(coupons[coupon_id], tally) for coupon_id, tally in tallies.items()]


def _session_stats(now: datetime) -> sa.Subquery:
    """Per coupon and currency: sessions holding a use now, completed, discount given, all."""
    completed = PaymentSession.status == PaymentSessionStatus.COMPLETED
    held = sa.and_(PaymentSession.status == PaymentSessionStatus.PENDING, PaymentSession.expires_at > now)
    return (
        sa.select(
            PaymentSession.coupon_id.label("coupon_id"),
            PaymentSession.currency.label("currency"),
            sa.func.sum(sa.case((held, 1), else_=0)).label("held"),
            sa.func.sum(sa.case((completed, 1), else_=0)).label("conversions"),
            sa.func.sum(sa.case((completed, PaymentSession.discount_amount), else_=0)).label("discount"),
            sa.func.count().label("attempts"),
        )
        .where(PaymentSession.coupon_id.is_not(None))
        .group_by(PaymentSession.coupon_id, PaymentSession.currency)
        .subquery()
    )


def _usage(coupon: Coupon, tally: _Tally) -> CouponUsage:
    return CouponUsage(
        coupon_id=coupon.id,
        code=coupon.code,
        discount_type=coupon.discount_type,
        discount_value=coupon.discount_value,
        currency=coupon.currency,
        is_active=coupon.is_active,
        is_public=coupon.is_public,
        held=tally.held,
        used=coupon.current_uses,
        max_uses=coupon.max_uses,
        discount_given=tally.discount or {},
        conversions=tally.conversions,
        attempts=tally.attempts,
        valid_until=coupon.valid_until,
        valid_from=coupon.valid_from,
    )


def get_coupon(coupon_id: str) -> Coupon:
    """One coupon by id, for the admin's edit page; NotFound otherwise."""
    coupon = db.session.get(Coupon, coupon_id)
    if coupon is None:
        raise NotFound("That coupon does not exist.")
    return coupon
