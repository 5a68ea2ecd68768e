"""The admin's enrollment export: the filtered list as CSV, streamed in keyset batches."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import sqlalchemy as sa

from webapp.models import Coupon, Course, Enrollment, User
from webapp.services.money import to_major
from webapp.services.reports.enrollments import EnrollmentFilter, enrollment_order, filtered
from webapp.services.reports.paging import keyset_page, result_rows

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

_COLUMNS = (
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


def export_enrollments_csv(flt: EnrollmentFilter, *, batch: int = 1000) -> Iterator[str]:
    """The filter's enrollments as CSV text chunks (header first, then one chunk per batch),
    read in keyset batches so memory stays flat however many rows match. Amounts in the
    major unit; free text neutralised against spreadsheet formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    yield _drain(buffer)
    query, order, after = filtered(_COLUMNS, flt), enrollment_order(flt), ""
    while True:
        page = keyset_page(query, order, after=after, limit=batch, fetch=result_rows)
        writer.writerows(_csv_row(row) for row in page.rows)
        yield _drain(buffer)
        if not page.next_cursor:
            return
        after = page.next_cursor


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _csv_row(row: Any) -> list[str]:
    currency = row.currency
    return [
        row.id,
        row.enrolled_at.astimezone(UTC).isoformat(),
        row.user_id,
        _csv_safe(row.email or ""),
        row.course_id,
        row.slug,
        _csv_safe(row.title),
        row.status,
        row.payment_status,
        row.source,
        currency.upper(),
        str(to_major(row.amount_paid, currency)),
        str(to_major(row.discount_applied, currency)),
        row.code or "",
    ]


def _csv_safe(text: str) -> str:
    """Neutralises spreadsheet formulas in free text (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
