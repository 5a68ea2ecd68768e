"""The admin dashboard's figures: revenue, conversion, sessions by status, top courses, coupons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Course, PaymentSession, Refund
from webapp.models.base import utcnow
from webapp.models.enums import PaymentSessionStatus, RefundStatus
from webapp.services.reports.coupons import CouponUsage, coupon_usage

DASHBOARD_DAYS = 30
TOP_COURSES = 5
TOP_COUPONS = 5


@dataclass(frozen=True)
class RevenueDay:
    day: str
    gross: int
    refunded: int

    @property
    def net(self) -> int:
        return self.gross - self.refunded


@dataclass(frozen=True)
class ConversionDay:
    day: str
    created: int
    completed: int


@dataclass(frozen=True)
class TopCourse:
    course_id: str
    title: str
    currency: str
    enrollments: int
    revenue: int


@dataclass(frozen=True)
class Dashboard:
    since: date
    until: date
    revenue: dict[str, list[RevenueDay]]  # currency -> one entry per day, oldest first
    revenue_totals: dict[str, tuple[int, int, int]]  # currency -> (gross, refunded, net)
    conversion: list[ConversionDay]
    sessions_created: int
    sessions_completed: int
    sessions_failed: int
    sessions_expired: int
    sessions_canceled: int
    top_courses: list[TopCourse]
    coupons: list[CouponUsage]

    @property
    def conversion_rate(self) -> float | None:
        return self.sessions_completed / self.sessions_created if self.sessions_created else None


def dashboard(*, now: datetime | None = None, days: int = DASHBOARD_DAYS) -> Dashboard:
    """Figures for the last `days` UTC days, today included.

    Revenue per day and currency = completed payment sessions' `final_amount` by completion
    day, minus succeeded refunds by refund day. Conversion counts sessions created in the
    window and how many of those completed; failed/expired/canceled likewise by status.
    """
    now = now or utcnow()
    until = now.astimezone(UTC).date()
    since = until - timedelta(days=days - 1)
    start = datetime.combine(since, time.min, tzinfo=UTC)
    labels = [(since + timedelta(days=i)).isoformat() for i in range(days)]
    revenue = _revenue(start, labels)
    by_status = _sessions_by_status(start)
    usage = coupon_usage(now=now)
    usage.sort(key=lambda u: (-u.conversions, -u.held, u.code))
    return Dashboard(
        since=since,
        until=until,
        revenue=revenue,
        revenue_totals={cur: _totals(series) for cur, series in revenue.items()},
        conversion=_conversion(start, labels),
        sessions_created=sum(by_status.values()),
        sessions_completed=by_status.get(PaymentSessionStatus.COMPLETED, 0),
        sessions_failed=by_status.get(PaymentSessionStatus.FAILED, 0),
        sessions_expired=by_status.get(PaymentSessionStatus.EXPIRED, 0),
        sessions_canceled=by_status.get(PaymentSessionStatus.CANCELED, 0),
        top_courses=_top_courses(start),
        coupons=usage[:TOP_COUPONS],
    )


def _day(column: Any) -> Any:
    """The UTC calendar day of a timestamp column, as SQL (text YYYY-MM-DD on both backends)."""
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")
    return sa.func.strftime("%Y-%m-%d", column)


def _revenue(start: datetime, labels: list[str]) -> dict[str, list[RevenueDay]]:
    """Per currency (sorted), one RevenueDay per label: gross taken and refunds made that day."""
    gross_day = _day(PaymentSession.completed_at)
    gross_rows = db.session.execute(
        sa.select(gross_day, PaymentSession.currency, sa.func.sum(PaymentSession.final_amount))
        .where(
            PaymentSession.status == PaymentSessionStatus.COMPLETED,
            PaymentSession.completed_at >= start,
            PaymentSession.final_amount > 0,
        )
        .group_by(gross_day, PaymentSession.currency)
    ).all()
    refund_day = _day(Refund.created_at)
    refund_rows = db.session.execute(
        sa.select(refund_day, Refund.currency, sa.func.sum(Refund.amount))
        .where(Refund.status == RefundStatus.SUCCEEDED, Refund.created_at >= start)
        .group_by(refund_day, Refund.currency)
    ).all()
    gross: dict[tuple[str, str], int] = {(d, c): int(v) for d, c, v in gross_rows}
    refunded: dict[tuple[str, str], int] = {(d, c): int(v) for d, c, v in refund_rows}
    currencies = sorted({c for _, c in gross} | {c for _, c in refunded})
    return {
        cur: [RevenueDay(d, gross.get((d, cur), 0), refunded.get((d, cur), 0)) for d in labels] for cur in currencies
    }


def _totals(series: list[RevenueDay]) -> tuple[int, int, int]:
    gross = sum(day.gross for day in series)
    refunded = sum(day.refunded for day in series)
    return gross, refunded, gross - refunded


def _conversion(start: datetime, labels: list[str]) -> list[ConversionDay]:
    """Per day: sessions created, and how many of those completed."""
    created_day = _day(PaymentSession.created_at)
    completed = sa.func.sum(sa.case((PaymentSession.status == PaymentSessionStatus.COMPLETED, 1), else_=0))
    rows = db.session.execute(
        sa.select(created_day, sa.func.count(), completed)
        .where(PaymentSession.created_at >= start)
        .group_by(created_day)
    ).all()
    counts = {d: (int(n), int(c or 0)) for d, n, c in rows}
    return [ConversionDay(d, *counts.get(d, (0, 0))) for d in labels]


def _sessions_by_status(start: datetime) -> dict[str, int]:
    rows = db.session.execute(
        sa.select(PaymentSession.status, sa.func.count())
        .where(PaymentSession.created_at >= start)
        .group_by(PaymentSession.status)
    ).all()
    return {s: int(n) for s, n in rows}


def _top_courses(start: datetime) -> list[TopCourse]:
    """The courses with the most completed payments in the window (ties by title)."""
    rows = db.session.execute(
        sa.select(
            Course.id,
            Course.title,
            Course.currency,
            sa.func.count(PaymentSession.id),
            sa.func.coalesce(sa.func.sum(PaymentSession.final_amount), 0),
        )
        .join(PaymentSession, PaymentSession.course_id == Course.id)
        .where(PaymentSession.status == PaymentSessionStatus.COMPLETED, PaymentSession.completed_at >= start)
        .group_by(Course.id, Course.title, Course.currency)
        .order_by(sa.func.count(PaymentSession.id).desc(), Course.title)
        .limit(TOP_COURSES)
    ).all()
    return [TopCourse(i, t, c, int(n), int(r)) for i, t, c, n, r in rows]
