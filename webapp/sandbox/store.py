"""The sandbox's own storage: one SQLAlchemy engine per database URL, apart from the app's.

Stripe objects are stored whole as JSON blobs keyed by id, with a few indexed columns for
the lookups the API offers (by type, customer, payment intent). Every API call runs in one
`Store.transaction()`, and those transactions are serialised across threads *and*
processes — `BEGIN IMMEDIATE` on SQLite, a transaction-scoped advisory lock on PostgreSQL —
so read-modify-write operations (paying, refunding, idempotency checks, the fault counter)
can never interleave. The sandbox is a test double: simplicity and correctness beat
throughput here.

Tables are created on first use (`checkfirst`), never through the app's migrations.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

# An arbitrary constant naming "the sandbox" for pg_advisory_xact_lock.
_PG_LOCK_KEY = 0x5354_5250  # "STRP"

metadata = sa.MetaData()

objects = sa.Table(
    "stripe_sandbox_objects",
    metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("type", sa.String(40), nullable=False, index=True),
    sa.Column("customer", sa.String(80), index=True),
    sa.Column("payment_intent", sa.String(80), index=True),
    sa.Column("created", sa.Integer, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False, index=True),
    sa.Column("data", sa.Text, nullable=False),
)

idempotency_keys = sa.Table(
    "stripe_sandbox_idempotency_keys",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created", sa.Integer, nullable=False),
)

events = sa.Table(
    "stripe_sandbox_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(80), nullable=False, unique=True),
    sa.Column("type", sa.String(80), nullable=False),
    sa.Column("created", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)

deliveries = sa.Table(
    "stripe_sandbox_deliveries",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(80), nullable=False, index=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("attempted_at", sa.Float, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
)

faults = sa.Table(
    "stripe_sandbox_faults",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("remaining", sa.Integer, nullable=False),
)

FAULT_KINDS = ("500", "429", "network")


@dataclass(frozen=True)
class StoredResponse:
    """An idempotent request's saved outcome."""

    fingerprint: str
    status: int
    body: str


@dataclass(frozen=True)
class Delivery:
    event_id: str
    url: str
    attempt: int
    status_code: int | None
    error: str | None
    attempted_at: float
    duration_ms: int


class Tx:
    """Operations inside one serialised sandbox transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: rolled back alone when the block raises."""
        with self.conn.begin_nested():
            yield

    # -- objects ---------------------------------------------------------------------------
    def get(self, object_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(sa.select(objects.c.data).where(objects.c.id == object_id)).first()
        return json.loads(row.data) if row else None

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Inserts or replaces `obj` (keyed by obj["id"]); returns it."""
        values = {
            "type": obj["object"],
            "customer": _ref(obj.get("customer")),
            "payment_intent": _ref(obj.get("payment_intent")),
            "created": int(obj.get("created") or time.time()),
            "data": json.dumps(obj, sort_keys=True),
        }
        updated = self.conn.execute(objects.update().where(objects.c.id == obj["id"]).values(**values)).rowcount
        if not updated:
            seq = self.conn.execute(sa.select(sa.func.coalesce(sa.func.max(objects.c.seq), 0))).scalar_one()
            self.conn.execute(objects.insert().values(id=obj["id"], seq=seq + 1, **values))
        return obj

    def delete(self, object_id: str) -> None:
        self.conn.execute(objects.delete().where(objects.c.id == object_id))

    def all_of_type(self, object_type: str, **indexed: str | None) -> list[dict[str, Any]]:
        """Every stored object of `object_type` (oldest first), optionally by customer."""
        query = sa.select(objects.c.data).where(objects.c.type == object_type).order_by(objects.c.seq)
        for column, value in indexed.items():
            query = query.where(objects.c[column] == value)
        return [json.loads(row.data) for row in self.conn.execute(query)]

    def seq_of(self, table: sa.Table, object_id: str) -> int | None:
        """The position of `object_id` in `table` (objects or events); None if unknown."""
        return self.conn.execute(sa.select(table.c.seq).where(table.c.id == object_id)).scalar()

    def page(
        self,
        table: sa.Table,
        conditions: list[Any],
        *,
        limit: int,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page, newest first, of the rows matching `conditions` and `keep`.

        `after_seq` pages on from a cursor (older rows), `before_seq` back towards newer ones.
        Filters apply before the limit; `has_more` says whether another matching row exists
        beyond the page in the direction of travel.
        """
        query = sa.select(table.c.data).where(*conditions)
        if before_seq is not None:
            query = query.where(table.c.seq > before_seq).order_by(table.c.seq.asc())
        else:
            if after_seq is not None:
                query = query.where(table.c.seq < after_seq)
            query = query.order_by(table.c.seq.desc())
        found: list[dict[str, Any]] = []
        has_more = False
        for row in self.conn.execute(query):
            obj = json.loads(row.data)
            if keep is not None and not keep(obj):
                continue
            if len(found) == limit:
                has_more = True
                break
            found.append(obj)
        if before_seq is not None:
            found.reverse()
        return found, has_more

    # -- idempotency -----------------------------------------------------------------------
    def get_idempotent(self, key: str) -> StoredResponse | None:
        row = self.conn.execute(sa.select(idempotency_keys).where(idempotency_keys.c.key == key)).first()
        return StoredResponse(row.fingerprint, row.status, row.body) if row else None

    def save_idempotent(self, key: str, fingerprint: str, status: int, body: str) -> None:
        now = int(time.time())
        if random.random() < 0.01:
            # Stripe forgets keys after 24 hours; pruning now and then keeps the table small.
            self.conn.execute(idempotency_keys.delete().where(idempotency_keys.c.created < now - 24 * 3600))
        self.conn.execute(
            idempotency_keys.insert().values(key=key, fingerprint=fingerprint, status=status, body=body, created=now)
        )

    # -- events ----------------------------------------------------------------------------
    def add_event(self, evt: dict[str, Any]) -> None:
        self.conn.execute(
            events.insert().values(
                id=evt["id"], type=evt["type"], created=evt["created"], data=json.dumps(evt, sort_keys=True)
            )
        )

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(sa.select(events.c.data).where(events.c.id == event_id)).first()
        return json.loads(row.data) if row else None

    def list_events(self, *, limit: int = 50, type_: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(events.c.data).order_by(events.c.seq.desc()).limit(limit)
        if type_:
            query = query.where(events.c.type == type_)
        return [json.loads(r.data) for r in self.conn.execute(query)]

    def record_delivery(self, d: Delivery) -> None:
        self.conn.execute(
            deliveries.insert().values(
                event_id=d.event_id,
                url=d.url,
                attempt=d.attempt,
                status_code=d.status_code,
                error=d.error,
                attempted_at=d.attempted_at,
                duration_ms=d.duration_ms,
            )
        )

    def deliveries_for(self, event_ids: list[str]) -> dict[str, list[Delivery]]:
        out: dict[str, list[Delivery]] = {eid: [] for eid in event_ids}
        if not event_ids:
            return out
        rows = self.conn.execute(
            sa.select(deliveries).where(deliveries.c.event_id.in_(event_ids)).order_by(deliveries.c.seq)
        )
        for r in rows:
            out[r.event_id].append(
                Delivery(r.event_id, r.url, r.attempt, r.status_code, r.error, r.attempted_at, r.duration_ms)
            )
        return out

    # -- fault injection -------------------------------------------------------------------
    def set_faults(self, kind: str, count: int) -> None:
        self.conn.execute(faults.delete())
        if count > 0:
            self.conn.execute(faults.insert().values(id=1, kind=kind, remaining=count))

    def take_fault(self) -> str | None:
        """Consumes one pending fault, if any, and returns its kind."""
        pending = self.pending_faults()
        if pending is None:
            return None
        kind, remaining = pending
        self.conn.execute(faults.update().where(faults.c.id == 1).values(remaining=remaining - 1))
        return kind

    def pending_faults(self) -> tuple[str, int] | None:
        row = self.conn.execute(sa.select(faults).where(faults.c.id == 1)).first()
        return (row.kind, row.remaining) if row and row.remaining > 0 else None


def _ref(value: Any) -> str | None:
    """An id from a field that may hold an id or an (expanded) object."""
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


class Store:
    """Storage bound to one database URL. Thread-safe; share one per URL (see `get_store`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        # An in-memory SQLite database is one shared connection: let one thread at a time in.
        self._memory_lock = threading.Lock() if self.engine.pool.__class__ is StaticPool else None
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            with self.engine.begin() as conn:
                # Two processes creating the tables at once would collide on pg_type.
                _lock_postgresql(conn)
                metadata.create_all(conn, checkfirst=True)
            self._schema_ready = True

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One serialised transaction: commits on success, rolls back on any exception."""
        self.ensure_schema()
        if self._memory_lock is not None:
            with self._memory_lock, self.engine.begin() as conn:
                yield Tx(conn)
            return
        with self.engine.begin() as conn:
            _lock_postgresql(conn)
            yield Tx(conn)

    def dispose(self) -> None:
        self.engine.dispose()


def _lock_postgresql(conn: Connection) -> None:
    """On PostgreSQL, serialises this transaction with every other sandbox transaction
    (SQLite needs nothing: its `BEGIN IMMEDIATE` already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def _make_engine(url: str) -> Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, future=True)
    memory = parsed.database in (None, "", ":memory:")
    options: dict[str, Any] = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    if memory:
        # One shared connection, or every connection would see its own empty database.
        options["poolclass"] = StaticPool
    engine = sa.create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" below issue BEGIN itself: pysqlite's implicit BEGIN is
        # DEFERRED, which lets two writers read the same state and then collide.
        dbapi_conn.isolation_level = None
        if not memory:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked worker (gunicorn's preload_app) must not reuse the parent's connections."""
    global _stores_lock
    _stores_lock = threading.Lock()
    for store in _stores.values():
        store.engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def driver_url(url: str) -> str:
    """`url` with PostgreSQL's driver spelled out: psycopg 3, the one driver installed.

    A bare `postgresql://` (or `postgres://`) would mean psycopg2 to SQLAlchemy. Other URLs
    pass through unchanged.
    """
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def get_store(url: str) -> Store:
    """The process-wide Store for `url` (one engine and pool per database, however the URL
    spells PostgreSQL's driver)."""
    url = driver_url(url)
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = Store(url)
        return store
