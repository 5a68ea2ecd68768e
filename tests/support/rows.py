"""What the database holds: fresh, detached rows for assertions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def rows(app, model_name: str, **where: Any) -> list[Any]:
    """Fresh rows of a model (detached), filtered by column equality."""
    import webapp.models as models
    from webapp.extensions import db

    model = getattr(models, model_name)
    with app.app_context():
        query = sa.select(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        return found


def payment_sessions(app, **where: Any) -> list[Any]:
    return rows(app, "PaymentSession", **where)


def enrollments(app, **where: Any) -> list[Any]:
    return rows(app, "Enrollment", **where)


def coupon_uses(app, code: str) -> int:
    return rows(app, "Coupon", code=code)[0].current_uses


def audit_actions(app, payment_session_id: str) -> list[str]:
    from webapp.extensions import db
    from webapp.models.events import AuditLog

    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditLog.action)
                .where(AuditLog.payment_session_id == payment_session_id)
                .order_by(AuditLog.id)
            )
        )


def update_row(app, model_name: str, row_id: str, **values: Any) -> None:
    import webapp.models as models
    from webapp.extensions import db

    model = getattr(models, model_name)
    with app.app_context():
        db.session.execute(sa.update(model).where(model.id == row_id).values(**values))
        db.session.commit()
