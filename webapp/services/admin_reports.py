"""Former home of the admin reports, kept only for the tests that still import from here.

The reports live in `webapp.services.reports` (dashboard, enrollments, enrollments_csv,
timeline, coupons, activity, paging); reading query arguments into a filter lives with the
admin pages (`webapp.web.admin.filters`). New code imports from those modules; this
module goes once no test imports it.
"""

from __future__ import annotations

from webapp.services.reports.dashboard import dashboard
from webapp.services.reports.enrollments import EnrollmentFilter, list_enrollments
from webapp.services.reports.enrollments import filtered as _filtered
from webapp.services.reports.enrollments_csv import export_enrollments_csv
from webapp.web.admin.filters import parse_enrollment_filter

__all__ = [
    "EnrollmentFilter",
    "_filtered",
    "dashboard",
    "export_enrollments_csv",
    "list_enrollments",
    "parse_enrollment_filter",
]
