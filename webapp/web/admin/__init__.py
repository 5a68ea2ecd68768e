"""Admin pages: dashboard, enrollments (list, CSV, detail, refund), coupons, courses, payments, events.

Every route is admin-only (`blueprint.bp`); every action is a CSRF-protected POST that
calls one service, which audit-logs it with the admin's id. Bad input answers with the
page and a clear message (400/404/409), never a 500. Query arguments and forms are read
by `filters` and `coupon_form`; the figures come from `webapp.services.reports`.
Importing this package registers every route on `bp`.
"""

from __future__ import annotations

from webapp.web.admin import activity, coupons, courses, dashboard, enrollments  # noqa: F401  (register the routes)
from webapp.web.admin.blueprint import bp

__all__ = ["bp"]
