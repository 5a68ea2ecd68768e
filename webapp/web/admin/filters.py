"""The admin lists' query arguments read into the report services' filters, and back.

ValidationFailed names the argument in words the page shows next to its form.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from webapp.models.enums import EnrollmentStatus, PaymentSessionStatus, PaymentStatus, StripeEventStatus
from webapp.services.errors import ValidationFailed
from webapp.services.reports.enrollments import SORTS, EnrollmentFilter

CURSOR_MAX = 400


def parse_enrollment_filter(args: Mapping[str, str]) -> EnrollmentFilter:
    """The enrollment list's filter from query arguments; ValidationFailed names a bad one."""
    status = _upper(args, "status")
    if status and status not in set(EnrollmentStatus):
        raise ValidationFailed(f"Unknown status {status!r}.", field="status")
    payment_status = _upper(args, "payment_status")
    if payment_status and payment_status not in set(PaymentStatus):
        raise ValidationFailed(f"Unknown payment status {payment_status!r}.", field="payment_status")
    sort = (args.get("sort") or "newest").strip()
    if sort not in SORTS:
        raise ValidationFailed(f"Unknown sort {sort!r}.", field="sort")
    date_from = _date(args.get("date_from", ""), "date_from", "From")
    date_to = _date(args.get("date_to", ""), "date_to", "To")
    if date_from and date_to and date_to < date_from:
        raise ValidationFailed("The 'to' date is before the 'from' date.", field="date_to")
    q = (args.get("q") or "").strip()[:320]
    course = (args.get("course") or "").strip()[:120]
    return EnrollmentFilter(course, status, payment_status, date_from, date_to, q, sort)


def enrollment_filter_args(flt: EnrollmentFilter) -> dict[str, str]:
    """The filter as query-string arguments (empty ones left out), for links to the same list."""
    args = {
        "course": flt.course,
        "status": flt.status,
        "payment_status": flt.payment_status,
        "date_from": flt.date_from.isoformat() if flt.date_from else "",
        "date_to": flt.date_to.isoformat() if flt.date_to else "",
        "q": flt.q,
        "sort": flt.sort if flt.sort != "newest" else "",
    }
    return {k: v for k, v in args.items() if v}


def parse_payment_status(raw: str) -> PaymentSessionStatus | None:
    """The payments list's status argument (any case); None for all."""
    status = raw.strip().upper()
    if not status:
        return None
    if status not in set(PaymentSessionStatus):
        raise ValidationFailed(f"Unknown payment status {status!r}.", field="status")
    return PaymentSessionStatus(status)


def parse_event_status(raw: str) -> StripeEventStatus | None:
    """The events list's status argument (any case); None for all."""
    status = raw.strip().upper()
    if not status:
        return None
    if status not in set(StripeEventStatus):
        raise ValidationFailed(f"Unknown event status {status!r}.", field="status")
    return StripeEventStatus(status)


def cursor(args: Mapping[str, str]) -> str:
    """The opaque page cursor of a keyset-paged list ("" for the first page)."""
    return args.get("after", "")[:CURSOR_MAX]


def _upper(args: Mapping[str, str], name: str) -> str:
    return (args.get(name) or "").strip().upper()


def _date(raw: str, name: str, label: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{label} must be a date such as 2026-01-31.", field=name) from None
