"""The admin dashboard (figures and charts) and its grant-an-enrollment form."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from webapp.services import grants
from webapp.services.catalog import all_courses
from webapp.services.errors import ServiceError
from webapp.services.reports.dashboard import Dashboard
from webapp.services.reports.dashboard import dashboard as dashboard_figures
from webapp.web.admin.blueprint import bp
from webapp.web.admin.charts import CHART_HEIGHT, CHART_WIDTH, bar_chart


@bp.get("")
def dashboard():
    figures = dashboard_figures()
    return render_template(
        "admin/dashboard.html",
        figures=figures,
        chart_width=CHART_WIDTH,
        chart_height=CHART_HEIGHT,
        courses=all_courses(),
        **_charts(figures),
    )


def _charts(figures: Dashboard) -> dict:
    """Revenue bars per currency; created checkouts with the completed ones drawn inside them."""
    created = [d.created for d in figures.conversion]
    # Completed bars share the created bars' scale so one sits inside the other.
    completed = bar_chart([d.completed for d in figures.conversion], top=max(created))["bars"] if any(created) else []
    return {
        "charts": {cur: bar_chart([d.net for d in days]) for cur, days in figures.revenue.items()},
        "conversion_created": bar_chart(created)["bars"],
        "conversion_completed": completed,
    }


@bp.post("/grants")
def grant():
    try:
        enrollment = grants.grant_enrollment(
            user_ref=request.form.get("user", "")[:320],
            course_id=request.form.get("course_id", "")[:64],
            reason=request.form.get("reason", "")[:2000],
            admin_id=g.user.id,
        )
    except ServiceError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.dashboard") + "#grant", code=303)
    flash(f"Enrollment granted to {enrollment.user.email or enrollment.user_id}.", "success")
    return redirect(url_for("admin.enrollment_detail", enrollment_id=enrollment.id), code=303)
