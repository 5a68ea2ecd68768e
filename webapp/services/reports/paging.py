"""The one keyset pager: every paged admin list (and the CSV export's batches) goes through it.

A page is the rows after an opaque cursor in a fixed (timestamp, id) order; the cursor
encodes the last row's pair, so the next page is a range read on the same index however
deep the reader goes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models.base import UTCDateTime
from webapp.services.errors import ValidationFailed

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page:
    """One page of a list; `next_cursor` is None on the last page."""

    rows: list[Any]
    next_cursor: str | None


def empty_page() -> Page:
    """What a list shows when its filter was refused."""
    return Page([], None)


def page_size(limit: int) -> int:
    """`limit` kept between 1 and MAX_PAGE_SIZE."""
    return max(1, min(limit, MAX_PAGE_SIZE))


@dataclass(frozen=True)
class KeysetOrder:
    """A list's order: a timestamp column, then the id column that breaks ties."""

    at: Any
    ident: Any
    descending: bool = True

    def after(self, query: sa.Select, cursor: tuple[datetime, str] | None) -> sa.Select:
        if cursor is not None:
            at, ident = cursor
            key = sa.tuple_(self.at, self.ident)
            bound = sa.tuple_(sa.literal(at, UTCDateTime()), ident)
            query = query.where(key < bound if self.descending else key > bound)
        columns = (self.at, self.ident)
        return query.order_by(*(c.desc() if self.descending else c.asc() for c in columns))

    def cursor_of(self, row: Any) -> str:
        # ORM entities and result rows both expose their columns as attributes.
        return _encode_cursor(getattr(row, self.at.key), getattr(row, self.ident.key))


def entities(query: sa.Select) -> Sequence[Any]:
    """Fetches a query selecting one ORM entity (joined relationships de-duplicated)."""
    return list(db.session.scalars(query).unique())


def result_rows(query: sa.Select) -> Sequence[Any]:
    """Fetches a query selecting columns."""
    return db.session.execute(query).all()


def keyset_page(
    query: sa.Select,
    order: KeysetOrder,
    *,
    after: str,
    limit: int,
    fetch: Callable[[sa.Select], Sequence[Any]] = entities,
) -> Page:
    """The `limit` rows of `query` after the cursor `after` ("" for the first page), in `order`.

    Raises ValidationFailed (field "after") for a cursor this pager did not write.
    """
    rows = list(fetch(order.after(query, _decode_cursor(after)).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, order.cursor_of(rows[-1]) if more and rows else None)


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
