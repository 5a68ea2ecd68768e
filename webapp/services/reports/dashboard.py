"""The admin dashboard's figures: revenue, conversion, sessions by status, top courses, coupons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Course, Installment, InstallmentPlan, PaymentSession, Refund
from webapp.models.base import utcnow
from webapp.models.enums import InstallmentStatus, PaymentPlan, PaymentSessionStatus, PlanStatus, RefundStatus
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
    # currency -> (still scheduled on ACTIVE plans, failed installments of PAST_DUE/PAUSED plans)
    plans_outstanding: dict[str, tuple[int, int]]

    @property
    def conversion_rate(self) -> float | None:
        return self.sessions_completed / self.sessions_created if self.sessions_created else None


def dashboard(*, now: datetime | None = None, days: int = DASHBOARD_DAYS) -> Dashboard:
    """Figures for the last `days` UTC days, today included.

    Revenue per day and currency = money received: completed payment sessions' `final_amount`
    by completion day, except an installment plan's (its `final_amount` is the whole price,
    not yet received), whose installments count instead by the day each was paid; minus
    succeeded refunds by refund day. `plans_outstanding` is what installment plans still owe
    now, whatever the window. Conversion counts sessions created in the
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
        plans_outstanding=_plans_outstanding(),
    )


def _day(column: Any) -> Any:
    """The UTC calendar day of a timestamp column, as SQL (text YYYY-MM-DD on both backends)."""
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")
    return sa.func.strftime("%Y-%m-%d", column)


def _received(start: datetime) -> sa.Subquery:
    """Money received since `start`, one row per payment: (day, currency, course_id, amount).

    Sessions paid in one go (and a plan's balance paid after the plan was settled, which the
    plan did not count); an installment plan's checkout and its balance paid early come
    through their installments, each counted when paid.
    """
    counted_by_plan = sa.exists().where(Installment.payment_session_id == PaymentSession.id)
    sessions = sa.select(
        _day(PaymentSession.completed_at).label("day"),
        PaymentSession.currency.label("currency"),
        PaymentSession.course_id.label("course_id"),
        PaymentSession.final_amount.label("amount"),
    ).where(
        PaymentSession.status == PaymentSessionStatus.COMPLETED,
        PaymentSession.completed_at >= start,
        PaymentSession.final_amount > 0,
        PaymentSession.plan != PaymentPlan.INSTALLMENTS,
        ~counted_by_plan,
    )
    installments = (
        sa.select(
            _day(Installment.paid_at).label("day"),
            Installment.currency.label("currency"),
            InstallmentPlan.course_id.label("course_id"),
            Installment.amount.label("amount"),
        )
        .join(InstallmentPlan, InstallmentPlan.id == Installment.plan_id)
        .where(Installment.status == InstallmentStatus.PAID, Installment.paid_at >= start)
    )
    return sa.union_all(sessions, installments).subquery("received")


def _revenue(start: datetime, labels: list[str]) -> dict[str, list[RevenueDay]]:
    """Per currency (sorted), one RevenueDay per label: money received and refunds made that day."""
    received = _received(start)
    gross_rows = db.session.execute(
        sa.select(received.c.day, received.c.currency, sa.func.sum(received.c.amount)).group_by(
            received.c.day, received.c.currency
        )
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
    """The courses with the most sales in the window (ties by title), with the money received.

    A sale is a completed checkout (a plan's checkout included, a plan's balance not).
    """
    sales = (
        sa.select(PaymentSession.course_id.label("course_id"), sa.func.count().label("n"))
        .where(
            PaymentSession.status == PaymentSessionStatus.COMPLETED,
            PaymentSession.completed_at >= start,
            PaymentSession.plan != PaymentPlan.PAYOFF,
        )
        .group_by(PaymentSession.course_id)
        .subquery("sales")
    )
    received = _received(start)
    revenue = (
        sa.select(received.c.course_id.label("course_id"), sa.func.sum(received.c.amount).label("amount"))
        .group_by(received.c.course_id)
        .subquery("revenue")
    )
    rows = db.session.execute(
        sa.select(Course.id, Course.title, Course.currency, sales.c.n, sa.func.coalesce(revenue.c.amount, 0))
        .join(sales, sales.c.course_id == Course.id)
        .outerjoin(revenue, revenue.c.course_id == Course.id)
        .order_by(sales.c.n.desc(), Course.title)
        .limit(TOP_COURSES)
    ).all()
    return [TopCourse(i, t, c, int(n), int(r)) for i, t, c, n, r in rows]


def _plans_outstanding() -> dict[str, tuple[int, int]]:
    """Per currency (sorted): what ACTIVE plans still have scheduled, and the failed, still
    open installments of plans past due or paused (one statement)."""
    zero = sa.literal(0, sa.Integer)
    scheduled = sa.select(
        InstallmentPlan.currency.label("currency"),
        (InstallmentPlan.total_amount - InstallmentPlan.amount_paid).label("scheduled"),
        zero.label("past_due"),
    ).where(InstallmentPlan.status == PlanStatus.ACTIVE)
    past_due = (
        sa.select(
            InstallmentPlan.currency.label("currency"),
            zero.label("scheduled"),
            Installment.amount.label("past_due"),
        )
        .join(Installment, Installment.plan_id == InstallmentPlan.id)
        .where(
            InstallmentPlan.status.in_((PlanStatus.PAST_DUE, PlanStatus.PAUSED)),
            Installment.status == InstallmentStatus.OPEN,
            Installment.failed_at.is_not(None),
        )
    )
    both = sa.union_all(scheduled, past_due).subquery("outstanding")
    rows = db.session.execute(
        sa.select(both.c.currency, sa.func.sum(both.c.scheduled), sa.func.sum(both.c.past_due))
        .group_by(both.c.currency)
        .order_by(both.c.currency)
    ).all()
    return {cur: (int(s or 0), int(p or 0)) for cur, s, p in rows}
