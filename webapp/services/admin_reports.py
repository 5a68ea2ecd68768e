"""What admins read: dashboard figures, enrollment lists and exports, timelines, usage.

Every figure is aggregated in SQL (GROUP BY with conditional sums), never by looping over
rows in Python. Lists use keyset pagination on indexed columns (`enrolled_at, id` for
enrollments, `created_at, id` for payments, `received_at, id` for events), so page N costs
the same as page 1 at a million rows.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import AuditLog, Coupon, Course, Enrollment, PaymentSession, Refund, StripeEvent, User
from webapp.models.base import UTCDateTime, utcnow
from webapp.models.enums import EnrollmentStatus, PaymentSessionStatus, PaymentStatus, RefundStatus
from webapp.services.errors import NotFound, ValidationFailed
from webapp.services.money import format_money, to_major

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
DASHBOARD_DAYS = 30

SORTS = {"newest": "Newest first", "oldest": "Oldest first"}


# -- helpers -------------------------------------------------------------------------------


def _day(column: Any) -> Any:
    """The UTC calendar day of a timestamp column, as SQL (text YYYY-MM-DD on both backends)."""
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")
    return sa.func.strftime("%Y-%m-%d", column)


def _days(since: date, count: int) -> list[str]:
    return [(since + timedelta(days=i)).isoformat() for i in range(count)]


# -- dashboard -----------------------------------------------------------------------------


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
    labels = _days(since, days)

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
    revenue = {
        cur: [RevenueDay(d, gross.get((d, cur), 0), refunded.get((d, cur), 0)) for d in labels] for cur in currencies
    }
    totals = {}
    for cur, series in revenue.items():
        g = sum(r.gross for r in series)
        r_ = sum(r.refunded for r in series)
        totals[cur] = (g, r_, g - r_)

    created_day = _day(PaymentSession.created_at)
    completed = sa.func.sum(sa.case((PaymentSession.status == PaymentSessionStatus.COMPLETED, 1), else_=0))
    conv_rows = db.session.execute(
        sa.select(created_day, sa.func.count(), completed)
        .where(PaymentSession.created_at >= start)
        .group_by(created_day)
    ).all()
    conv = {d: (int(n), int(c or 0)) for d, n, c in conv_rows}
    conversion = [ConversionDay(d, *conv.get(d, (0, 0))) for d in labels]

    status_rows = db.session.execute(
        sa.select(PaymentSession.status, sa.func.count())
        .where(PaymentSession.created_at >= start)
        .group_by(PaymentSession.status)
    ).all()
    by_status = {s: int(n) for s, n in status_rows}

    top_rows = db.session.execute(
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
        .limit(5)
    ).all()
    top = [TopCourse(i, t, c, int(n), int(r)) for i, t, c, n, r in top_rows]

    usage = coupon_usage(now=now)
    usage.sort(key=lambda u: (-u.conversions, -u.held, u.code))
    return Dashboard(
        since=since,
        until=until,
        revenue=revenue,
        revenue_totals=totals,
        conversion=conversion,
        sessions_created=sum(by_status.values()),
        sessions_completed=by_status.get(PaymentSessionStatus.COMPLETED, 0),
        sessions_failed=by_status.get(PaymentSessionStatus.FAILED, 0),
        sessions_expired=by_status.get(PaymentSessionStatus.EXPIRED, 0),
        sessions_canceled=by_status.get(PaymentSessionStatus.CANCELED, 0),
        top_courses=top,
        coupons=usage[:5],
    )


# -- coupons -------------------------------------------------------------------------------


def coupon_usage(*, now: datetime | None = None) -> list[CouponUsage]:
    """Every coupon with held (open PENDING sessions), used, max, discount given per currency
    (completed sessions) and conversions (completed sessions / all sessions using it)."""
    now = now or utcnow()
    completed = PaymentSession.status == PaymentSessionStatus.COMPLETED
    held = sa.and_(PaymentSession.status == PaymentSessionStatus.PENDING, PaymentSession.expires_at > now)
    stats = (
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
    rows = db.session.execute(
        sa.select(Coupon, stats.c.currency, stats.c.held, stats.c.conversions, stats.c.discount, stats.c.attempts)
        .outerjoin(stats, stats.c.coupon_id == Coupon.id)
        .order_by(Coupon.created_at.desc(), Coupon.id)
    ).all()
    merged: dict[str, dict[str, Any]] = {}
    for coupon, currency, n_held, n_conv, discount, attempts in rows:
        entry = merged.setdefault(coupon.id, {"coupon": coupon, "held": 0, "conv": 0, "attempts": 0, "discount": {}})
        if currency is not None:
            entry["held"] += int(n_held or 0)
            entry["conv"] += int(n_conv or 0)
            entry["attempts"] += int(attempts or 0)
            if discount:
                entry["discount"][currency] = int(discount)
    return [
        CouponUsage(
            coupon_id=e["coupon"].id,
            code=e["coupon"].code,
            discount_type=e["coupon"].discount_type,
            discount_value=e["coupon"].discount_value,
            currency=e["coupon"].currency,
            is_active=e["coupon"].is_active,
            is_public=e["coupon"].is_public,
            held=e["held"],
            used=e["coupon"].current_uses,
            max_uses=e["coupon"].max_uses,
            discount_given=e["discount"],
            conversions=e["conv"],
            attempts=e["attempts"],
            valid_until=e["coupon"].valid_until,
        )
        for e in merged.values()
    ]


def get_coupon(coupon_id: str) -> Coupon:
    coupon = db.session.get(Coupon, coupon_id)
    if coupon is None:
        raise NotFound("That coupon does not exist.")
    return coupon


def all_courses() -> list[Course]:
    return list(db.session.scalars(sa.select(Course).order_by(Course.title, Course.id)))


# -- enrollments ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollmentFilter:
    course: str = ""
    status: str = ""
    payment_status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    sort: str = "newest"

    def as_args(self) -> dict[str, str]:
        """The filter as query-string arguments (empty ones left out)."""
        args = {
            "course": self.course,
            "status": self.status,
            "payment_status": self.payment_status,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "q": self.q,
            "sort": self.sort if self.sort != "newest" else "",
        }
        return {k: v for k, v in args.items() if v}


def _parse_date(raw: str, name: str, label: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{label} must be a date such as 2026-01-31.", field=name) from None


def parse_enrollment_filter(args: dict[str, str]) -> EnrollmentFilter:
    """Reads filters from query arguments; ValidationFailed names a bad one."""
    status = (args.get("status") or "").strip().upper()
    if status and status not in {s.value for s in EnrollmentStatus}:
        raise ValidationFailed(f"Unknown status {status!r}.", field="status")
    payment_status = (args.get("payment_status") or "").strip().upper()
    if payment_status and payment_status not in {s.value for s in PaymentStatus}:
        raise ValidationFailed(f"Unknown payment status {payment_status!r}.", field="payment_status")
    sort = (args.get("sort") or "newest").strip()
    if sort not in SORTS:
        raise ValidationFailed(f"Unknown sort {sort!r}.", field="sort")
    date_from = _parse_date(args.get("date_from", ""), "date_from", "From")
    date_to = _parse_date(args.get("date_to", ""), "date_to", "To")
    if date_from and date_to and date_to < date_from:
        raise ValidationFailed("The 'to' date is before the 'from' date.", field="date_to")
    q = (args.get("q") or "").strip()[:320]
    course = (args.get("course") or "").strip()[:120]
    return EnrollmentFilter(course, status, payment_status, date_from, date_to, q, sort)


def _filtered(query: sa.Select, flt: EnrollmentFilter) -> sa.Select:
    if flt.course:
        course_id = sa.select(Course.id).where(sa.or_(Course.id == flt.course, Course.slug == flt.course))
        query = query.where(Enrollment.course_id.in_(course_id.scalar_subquery()))
    if flt.status:
        query = query.where(Enrollment.status == flt.status)
    if flt.payment_status:
        query = query.where(Enrollment.payment_status == flt.payment_status)
    if flt.date_from:
        query = query.where(Enrollment.enrolled_at >= datetime.combine(flt.date_from, time.min, tzinfo=UTC))
    if flt.date_to:
        end = datetime.combine(flt.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        query = query.where(Enrollment.enrolled_at < end)
    if flt.q:
        needle = flt.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        users = sa.select(User.id).where(
            sa.or_(User.id == flt.q, sa.func.lower(User.email).like(f"%{needle}%", escape="\\"))
        )
        query = query.where(Enrollment.user_id.in_(users.scalar_subquery()))
    return query


def _encode_cursor(at: datetime, ident: str) -> str:
    raw = f"{at.astimezone(UTC).isoformat()}|{ident}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, ident = raw.split("|", 1)
        moment = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("That page link is no longer valid; start from the first page.", field="after") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment, ident[:64]


@dataclass
class Page:
    rows: list[Any]
    next_cursor: str | None
    extra: dict[str, Any] = field(default_factory=dict)


def _keyset(query: sa.Select, at_col: Any, id_col: Any, *, after: str, descending: bool, limit: int) -> sa.Select:
    cursor = _decode_cursor(after)
    if cursor is not None:
        at, ident = cursor
        if descending:
            query = query.where(sa.tuple_(at_col, id_col) < sa.tuple_(sa.literal(at, UTCDateTime()), ident))
        else:
            query = query.where(sa.tuple_(at_col, id_col) > sa.tuple_(sa.literal(at, UTCDateTime()), ident))
    order = (at_col.desc(), id_col.desc()) if descending else (at_col.asc(), id_col.asc())
    return query.order_by(*order).limit(limit + 1)


def _page(rows: list[Any], limit: int, at_of, id_of) -> Page:
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, _encode_cursor(at_of(rows[-1]), id_of(rows[-1])) if more and rows else None)


def list_enrollments(flt: EnrollmentFilter, *, after: str = "", limit: int = PAGE_SIZE) -> Page:
    """One page of enrollments (with learner and course) for the filter, keyset-paginated."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = _filtered(sa.select(Enrollment).options(joinedload(Enrollment.user), joinedload(Enrollment.course)), flt)
    query = _keyset(
        query, Enrollment.enrolled_at, Enrollment.id, after=after, descending=flt.sort != "oldest", limit=limit
    )
    rows = list(db.session.scalars(query).unique())
    return _page(rows, limit, lambda e: e.enrolled_at, lambda e: e.id)


CSV_HEADER = [
    "enrollment_id",
    "enrolled_at",
    "user_id",
    "email",
    "course_id",
    "course_slug",
    "course_title",
    "status",
    "payment_status",
    "source",
    "currency",
    "amount_paid",
    "discount_applied",
    "coupon_code",
]


def export_enrollments_csv(flt: EnrollmentFilter, *, batch: int = 1000) -> Iterator[str]:
    """The filter's enrollments as CSV text chunks (header first), read in keyset batches
    so memory stays flat however many rows match. Amounts in the major unit."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_HEADER)
    yield flush()
    columns = (
        sa.select(
            Enrollment.id,
            Enrollment.enrolled_at,
            Enrollment.user_id,
            User.email,
            Enrollment.course_id,
            Course.slug,
            Course.title,
            Enrollment.status,
            Enrollment.payment_status,
            Enrollment.source,
            Enrollment.currency,
            Enrollment.amount_paid,
            Enrollment.discount_applied,
            Coupon.code,
        )
        .join(User, User.id == Enrollment.user_id)
        .join(Course, Course.id == Enrollment.course_id)
        .outerjoin(Coupon, Coupon.id == Enrollment.coupon_id)
    )
    descending = flt.sort != "oldest"
    after = ""
    while True:
        query = _keyset(
            _filtered(columns, flt),
            Enrollment.enrolled_at,
            Enrollment.id,
            after=after,
            descending=descending,
            limit=batch,
        )
        rows = db.session.execute(query).all()
        page = _page(rows, batch, lambda r: r[1], lambda r: r[0])
        for row in page.rows:
            writer.writerow(
                [
                    row[0],
                    row[1].astimezone(UTC).isoformat(),
                    row[2],
                    _csv_safe(row[3] or ""),
                    row[4],
                    row[5],
                    _csv_safe(row[6]),
                    row[7],
                    row[8],
                    row[9],
                    row[10].upper(),
                    str(to_major(row[11], row[10])),
                    str(to_major(row[12], row[10])),
                    row[13] or "",
                ]
            )
        yield flush()
        if not page.next_cursor:
            return
        after = page.next_cursor


def _csv_safe(text: str) -> str:
    """Neutralises spreadsheet formulas in free text (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def get_enrollment(enrollment_id: str) -> Enrollment:
    enrollment = db.session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound("That enrollment does not exist.")
    return enrollment


# -- timeline ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # payment_session | stripe_event | audit | refund
    title: str
    detail: str = ""
    status: str = ""
    ref: str = ""


def enrollment_timeline(enrollment: Enrollment) -> list[TimelineEntry]:
    """Payment sessions, Stripe events, audit entries and refunds of one enrollment, oldest first."""
    sessions = list(
        db.session.scalars(
            sa.select(PaymentSession).where(
                sa.or_(
                    PaymentSession.enrollment_id == enrollment.id,
                    PaymentSession.id == enrollment.payment_session_id,
                    sa.and_(
                        PaymentSession.user_id == enrollment.user_id, PaymentSession.course_id == enrollment.course_id
                    ),
                )
            )
        ).unique()
    )
    session_ids = [s.id for s in sessions]
    refunds = list(
        db.session.scalars(
            sa.select(Refund).where(
                sa.or_(Refund.enrollment_id == enrollment.id, Refund.payment_session_id.in_(session_ids or [""]))
            )
        )
    )
    object_ids = [s.stripe_session_id for s in sessions if s.stripe_session_id]
    object_ids += [s.payment_intent_id for s in sessions if s.payment_intent_id]
    object_ids += [r.stripe_refund_id for r in refunds if r.stripe_refund_id]
    events = list(
        db.session.scalars(
            sa.select(StripeEvent).where(
                sa.or_(
                    StripeEvent.payment_session_id.in_(session_ids or [""]),
                    StripeEvent.object_id.in_(object_ids or [""]),
                )
            )
        )
    )
    audits = list(
        db.session.scalars(
            sa.select(AuditLog).where(
                sa.or_(
                    AuditLog.enrollment_id == enrollment.id,
                    AuditLog.payment_session_id.in_(session_ids or [""]),
                    sa.and_(AuditLog.entity_type == "refund", AuditLog.entity_id.in_([r.id for r in refunds] or [""])),
                )
            )
        )
    )
    entries: list[TimelineEntry] = []
    for s in sessions:
        coupon = f", coupon {s.coupon_code}" if s.coupon_code else ""
        entries.append(
            TimelineEntry(
                s.created_at,
                "payment_session",
                "Checkout started",
                f"{s.stripe_session_id or s.id}{coupon}",
                s.status,
                s.id,
            )
        )
        if s.completed_at:
            entries.append(
                TimelineEntry(
                    s.completed_at, "payment_session", "Checkout completed", s.payment_intent_id or "", s.status, s.id
                )
            )
    for e in events:
        entries.append(TimelineEntry(e.received_at, "stripe_event", e.type, e.id, e.status, e.id))
    for a in audits:
        entries.append(TimelineEntry(a.created_at, "audit", a.action, _describe(a.data), f"by {a.actor}", str(a.id)))
    for r in refunds:
        detail = r.reason or ""
        if r.failure_reason:
            detail = f"{detail} — failed: {r.failure_reason}"
        entries.append(
            TimelineEntry(
                r.created_at, "refund", f"Refund {format_money(r.amount, r.currency)}", detail, r.status, r.id
            )
        )
    kinds = {"payment_session": 0, "stripe_event": 1, "refund": 2, "audit": 3}
    entries.sort(key=lambda t: (t.at, kinds[t.kind], t.ref))
    return entries


def _describe(data: dict[str, Any] | None) -> str:
    if not data:
        return ""
    return ", ".join(f"{k}={v}" for k, v in data.items() if v not in (None, "", [], {}))


def refunds_of(enrollment: Enrollment) -> list[Refund]:
    """Refunds of the enrollment's payment and of any extra payment linked to it."""
    condition = Refund.enrollment_id == enrollment.id
    if enrollment.payment_session_id:
        condition = sa.or_(condition, Refund.payment_session_id == enrollment.payment_session_id)
    return list(db.session.scalars(sa.select(Refund).where(condition).order_by(Refund.created_at, Refund.id)))


# -- payments and events -------------------------------------------------------------------


def list_payments(*, status: str = "", after: str = "", limit: int = PAGE_SIZE) -> Page:
    """Payment sessions, newest first, optionally of one status."""
    status = (status or "").strip().upper()
    if status and status not in {s.value for s in PaymentSessionStatus}:
        raise ValidationFailed(f"Unknown payment status {status!r}.", field="status")
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = sa.select(PaymentSession).options(joinedload(PaymentSession.user), joinedload(PaymentSession.course))
    if status:
        query = query.where(PaymentSession.status == status)
    query = _keyset(query, PaymentSession.created_at, PaymentSession.id, after=after, descending=True, limit=limit)
    rows = list(db.session.scalars(query).unique())
    return _page(rows, limit, lambda p: p.created_at, lambda p: p.id)


EVENT_STATUSES = ("RECEIVED", "PROCESSED", "FAILED", "IGNORED")


def list_events(*, status: str = "", type_: str = "", after: str = "", limit: int = PAGE_SIZE) -> Page:
    """Webhook events, newest first, optionally by status and type."""
    status = (status or "").strip().upper()
    if status and status not in EVENT_STATUSES:
        raise ValidationFailed(f"Unknown event status {status!r}.", field="status")
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = sa.select(StripeEvent)
    if status:
        query = query.where(StripeEvent.status == status)
    if type_:
        query = query.where(StripeEvent.type == type_.strip()[:100])
    query = _keyset(query, StripeEvent.received_at, StripeEvent.id, after=after, descending=True, limit=limit)
    rows = list(db.session.scalars(query))
    return _page(rows, limit, lambda e: e.received_at, lambda e: e.id)


def get_event(event_id: str) -> StripeEvent:
    event = db.session.get(StripeEvent, event_id)
    if event is None:
        raise NotFound("That webhook event does not exist.")
    return event
