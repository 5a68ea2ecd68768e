"""An enrollment's installment plans as the admin sees them: the plan, its installments and
what remains refundable of each (three statements, whatever the number of plans)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Enrollment, Installment, InstallmentPlan, Refund
from webapp.models.enums import InstallmentStatus, PlanStatus
from webapp.services.errors import NotFound
from webapp.services.refund_mirror import OPEN_OR_DONE


@dataclass(frozen=True)
class InstallmentLine:
    installment: Installment
    refundable: int  # what may still be refunded of its charge (0 unless PAID)


@dataclass(frozen=True)
class PlanPanel:
    plan: InstallmentPlan
    lines: list[InstallmentLine]

    @property
    def live(self) -> bool:
        return self.plan.status in (PlanStatus.ACTIVE, PlanStatus.PAST_DUE, PlanStatus.PAUSED)

    @property
    def refundable(self) -> int:
        return sum(line.refundable for line in self.lines)

    @property
    def refundable_lines(self) -> list[InstallmentLine]:
        return [line for line in self.lines if line.refundable > 0]


def plans_of(enrollment: Enrollment) -> list[PlanPanel]:
    """The enrollment's installment plans, newest first, each with its installments in order."""
    condition = InstallmentPlan.enrollment_id == enrollment.id
    if enrollment.payment_session_id:
        condition = sa.or_(condition, InstallmentPlan.payment_session_id == enrollment.payment_session_id)
    plans = list(
        db.session.scalars(
            sa.select(InstallmentPlan).where(condition).order_by(InstallmentPlan.created_at.desc(), InstallmentPlan.id)
        )
    )
    if not plans:
        return []
    installments = list(
        db.session.scalars(
            sa.select(Installment)
            .where(Installment.plan_id.in_([p.id for p in plans]))
            .order_by(Installment.plan_id, Installment.sequence)
        )
    )
    refunded = dict(
        db.session.execute(
            sa.select(Refund.installment_id, sa.func.sum(Refund.amount))
            .where(Refund.installment_id.in_([i.id for i in installments] or [""]), Refund.status.in_(OPEN_OR_DONE))
            .group_by(Refund.installment_id)
        ).all()
    )
    by_plan: dict[str, list[InstallmentLine]] = {p.id: [] for p in plans}
    for i in installments:
        left = i.amount - int(refunded.get(i.id) or 0) if i.status == InstallmentStatus.PAID else 0
        by_plan[i.plan_id].append(InstallmentLine(i, max(left, 0)))
    return [PlanPanel(p, by_plan[p.id]) for p in plans]


def enrollment_plan(enrollment_id: str, plan_id: str) -> InstallmentPlan:
    """One installment plan of the enrollment; NotFound when it is not one of its plans."""
    plan = db.session.get(InstallmentPlan, plan_id)
    if plan is None or plan.enrollment_id != enrollment_id:
        raise NotFound("That installment plan does not belong to this enrollment.")
    return plan
