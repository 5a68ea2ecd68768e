"""Payment sessions and webhook events as admins browse them, newest first."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import PaymentSession, StripeEvent
from webapp.models.enums import PaymentSessionStatus, StripeEventStatus
from webapp.services.errors import NotFound
from webapp.services.reports.paging import PAGE_SIZE, KeysetOrder, Page, keyset_page, page_size

PAYMENT_ORDER = KeysetOrder(PaymentSession.created_at, PaymentSession.id)
EVENT_ORDER = KeysetOrder(StripeEvent.received_at, StripeEvent.id)


def list_payments(*, status: PaymentSessionStatus | None = None, after: str = "", limit: int = PAGE_SIZE) -> Page:
    """Payment sessions (with learner and course), newest first, optionally of one status."""
    query = sa.select(PaymentSession).options(joinedload(PaymentSession.user), joinedload(PaymentSession.course))
    if status:
        query = query.where(PaymentSession.status == status)
    return keyset_page(query, PAYMENT_ORDER, after=after, limit=page_size(limit))


def list_events(
    *, status: StripeEventStatus | None = None, type_: str = "", after: str = "", limit: int = PAGE_SIZE
) -> Page:
    """Webhook events, newest first, optionally of one status and one type."""
    query = sa.select(StripeEvent)
    if status:
        query = query.where(StripeEvent.status == status)
    if type_:
        query = query.where(StripeEvent.type == type_)
    return keyset_page(query, EVENT_ORDER, after=after, limit=page_size(limit))


def get_event(event_id: str) -> StripeEvent:
    """One webhook event by id; NotFound otherwise."""
    event = db.session.get(StripeEvent, event_id)
    if event is None:
        raise NotFound("That webhook event does not exist.")
    return event
