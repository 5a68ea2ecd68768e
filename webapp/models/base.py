"""Column types and helpers shared by every model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL stores `timestamptz`; SQLite stores the naive UTC value. Reads are normalised
    to aware UTC so comparisons never mix naive and aware datetimes.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


IdColumn = sa.String(32)


class StatusColumn(TypeDecorator):
    """A status stored as its plain string, refused on write unless it is a member of `enum`.

    The table's CHECK constraint (`status_check`) says the same to the database; the
    allowed moves between members are services.transitions' business, not the column's.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int = 20):
        super().__init__(length)
        self.enum = enum

    def coerce_compared_value(self, op, value):
        # Values compared with (WHERE status = ...) bind as plain strings: only writes are checked.
        return self.impl_instance

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value not in self.enum._value2member_map_:
            raise ValueError(f"{value!r} is not a {self.enum.__name__}")
        return str(value)


def status_check(column: str, enum: type[StrEnum]) -> sa.CheckConstraint:
    """`column IN (<every member of enum>)`, named `<column>_valid` (ck_<table>_<column>_valid)."""
    values = ", ".join(f"'{member.value}'" for member in enum)
    return sa.CheckConstraint(f"{column} IN ({values})", name=f"{column}_valid")
