"""Speed shortcuts, fenced: every place the app trades generality for speed lives here.

The rest of the app calls the small named functions below and knows nothing of how they
are fast. Figures are from bench/ (how to run it and the full history: bench/README.md);
"in process" is CPU per checkout-page request measured by bench/inprocess.py.

1. Ping only idle connections (`init_engine`). Buys: one round trip per pool checkout
   (a third of a cached page's database time, a quarter of a webhook's). Costs: a
   connection that dies while busy fails one request (503) before the pool is rebuilt.
   Relies on: SQLAlchemy's public pool events and `Dialect.do_ping`/`is_disconnect`.
2. Most recently used connection first (`engine_options`). Buys: hot connections keep
   psycopg's prepared statements and never idle long enough to be pinged (no separate
   figure). Costs: spare connections idle until the pool recycles them. Relies on: the
   public `pool_use_lifo` option.
3. Pools dropped in forked children (`init_engine`). Buys: `preload_app` (a recycled
   worker costs a fork, not an app build). Costs: nothing. Relies on: `os.register_at_fork`.
4. `DirectSelect` for the checkout page's one read. Buys: 1,160 -> 963 µs per page in
   process. Costs: skips SQLAlchemy's execution events (statement counts are taken at the
   driver); read-only, one row. Relies on: `Compiled.binds/params/positiontup`,
   `TypeEngine.dialect_impl` and its processors, `DBAPIError.instance` — pinned by
   tests/integration/test_speedups.py (same result as `Connection.execute`).
5. Seen-users cache (`known_user`, `remember_user`, `attach_known`). Buys: no SQL and
   no ORM object for a returning user (the ORM user object was 0.3 ms per request).
   Costs: per-process memory (bounded); users deleted behind the app need `forget_users`.
   Relies on: SQLAlchemy's public `make_transient_to_detached` and identity map.
6. Session-cookie serializer built once per key set (`init_app`). Buys: two serializer
   builds per request (part of the session cookie's 0.45 ms). Costs: nothing; a rotated
   key builds a new one. Relies on: Flask's public `get_signing_serializer` hook — pinned
   (a cookie it writes is read by Flask's own interface and back).
7. Templates' `url_for` memoised (`init_app`). Buys: a dozen URL builds per page (≈ 40 µs
   each). Costs: a bounded cache; `_external`, `_anchor` and unhashable values go to
   Flask. Relies on: the rule map being fixed once the app is built — pinned (cached URL
   equals `app.url_for`'s).
8. Flask-Limiter's `before_request` hook dropped when no default, application,
   blueprint or meta limit exists (`init_app`). Buys: ≈ 30 µs per request in process.
   Costs: a limit configured later only applies to decorated views. Relies on: the
   PRIVATE `Limiter._check_request_limit` — pinned by tests/integration/test_speedups.py
   (exists, has its signature, is the hook `init_app` registers).
9. CSRF secret bound to the sign-in (`bind_csrf_secret`). Buys: a signed-in page writes no
   session cookie, 963 -> 848 µs per page in process. Costs: nothing in safety (HMAC of the
   app key and the Clerk session id: unforgeable, changes with each sign-in). Relies on:
   Flask-WTF keeping its secret at `session[WTF_CSRF_FIELD_NAME]` and the public
   `session.modified` flag — pinned by tests/integration/test_speedups.py.
10. Warm-up before forking, and a worker's first connection before it serves
    (`warm_up`, `warm_worker`, run by gunicorn.conf.py). Buys: a new worker's first
    requests no longer compile templates (a p99 of 336 ms in a 5 s run) or wait for a
    backend start. Costs: a slower master start. Relies on: gunicorn's public hooks.
11. No CSRF secret minted for the layout's htmx header (`csrf_header_token`). Buys: an
    anonymous catalog or course page writes no session cookie (Flask-WTF's random secret
    was signed into a new cookie on every visit without cookies); with 12, the anonymous
    course page went 1,436 -> 716 µs and the catalog 1,261 -> 672 µs in process. Costs:
    a page an anonymous visitor sees with an htmx write and no form of its own would need
    its own `csrf_token()` (none exists: the only htmx writes are on the signed-in
    checkout page). Relies on: Flask-WTF keeping its secret at
    `session[WTF_CSRF_FIELD_NAME]` (as 9) — tested (no cookie, header after a form).
12. Catalog and course page in one `DirectSelect` each (`services.catalog`), the
    visitor's access in the same row (`DirectSelect.all` for the list). Buys: one
    statement instead of BEGIN/SELECT/ROLLBACK (and a second SELECT for a signed-in
    visitor), no ORM objects; see 11 for the figure. Costs: as 4; the pages get frozen
    `CourseListing` rows, not ORM objects.
13. Public pages memoised for visitors without state (`render_public`). Buys: the
    template (≈ 150 µs of the anonymous course page and catalog in process; 849 -> 743 µs
    in one breakdown run). Costs: up to PUBLIC_PAGES_MAX pages per worker in memory;
    signals `before_render_template`/`template_rendered` do not fire on a hit. Exact
    by construction: the key is the template, the rows this request read, and the host,
    script root, path and query; new data is a new key. Only for an anonymous GET with
    an empty session, and a render that put anything in the session (a CSRF secret) is
    not kept — tested. Relies on: templates being fixed once the app is built (as 7).
14. A teardown that finds no database session creates none (`session_exists`). Buys:
    ≈ 40 µs per request that never used the session (the mail hook's look created one
    for SQLAlchemy's teardown to close). Costs: nothing. Relies on: the public
    `scoped_session.registry.has()` — tested.
15. An event that is not ours recorded in two round trips (`session_is_idle`,
    `run_alone`, webhooks.handlers and webhooks.events). The payment-intent lookup runs
    as a `DirectSelect` while the session holds no transaction, and when the handler did
    nothing in the session the inbox row's upsert (the same `INSERT … ON CONFLICT DO
    UPDATE … WHERE claimable` statement) runs alone in autocommit, through SQLAlchemy's
    own connection: one statement is one transaction, so the exactly-once protocol is
    unchanged (the primary key and the WHERE still decide between twins). Buys: BEGIN,
    SELECT, INSERT, COMMIT -> SELECT, INSERT; 1,314 -> 1,012 µs of CPU per ignored event
    in process (wall 1,750 -> 1,352 µs). Costs: an event of ours found by its payment
    intent pays one extra SELECT (its metadata names our session first, so this is the
    fallback). PostgreSQL only (SQLite takes the session path). Relies on: the public
    `Session.get_transaction` and AUTOCOMMIT isolation level — tested.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from functools import lru_cache

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context, render_template, request, session
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from webapp import extensions

URL_CACHE_SIZE = 4096
SEEN_USERS_MAX = 10_000
PUBLIC_PAGES_MAX = 512


def init_app(app: Flask, *, warm_steps: Iterable[Callable[[Flask], object]] = ()) -> None:
    """Installs the per-request shortcuts; called last in the factory, once every blueprint
    is registered. `warm_steps` are the app's own first-request work (parsing the token key)
    for `warm_up` to do before forking."""
    steps = tuple(warm_steps)
    app.extensions["warm_up"] = lambda: warm_up(app, steps)  # run by gunicorn.conf.py's when_ready
    app.extensions["warm_worker"] = lambda: warm_worker(app)  # by its post_worker_init
    app.session_interface = _CookieSessions()
    _cache_template_urls(app)
    _drop_limiter_middleware(app)
    app.jinja_env.globals["csrf_header_token"] = csrf_header_token


# -- database ------------------------------------------------------------------------------


def engine_options(database_url: str, options: dict) -> dict:
    """The engine options with the pool's shortcuts added (configured options win)."""
    if database_url.startswith("postgresql"):
        return {"pool_use_lifo": True, **options}
    return options


def init_engine(app: Flask) -> None:
    """Pings a pooled connection before use only when it sat idle longer than
    DATABASE_PING_IDLE_SECONDS (a dead one is replaced before the request sees it), and
    drops inherited pools in forked workers."""
    idle = app.config["DATABASE_PING_IDLE_SECONDS"]
    with app.app_context():
        engine = extensions.db.engine
    _dispose_in_forked_children(engine)
    if isinstance(engine.pool, sa.pool.StaticPool):
        return  # one shared in-memory SQLite connection: nothing to ping

    @sa.event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is not None and time.monotonic() - returned_at < idle:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise sa.exc.DisconnectionError(str(exc)) from exc  # the pool reconnects and retries
            raise


def _dispose_in_forked_children(engine: sa.Engine) -> None:
    """Each forked worker drops the pool it inherited (without closing the parent's sockets).
    Weakly referenced, so the many apps a test run builds are still garbage-collected."""
    ref = weakref.ref(engine)

    def _after_fork() -> None:
        inherited = ref()
        if inherited is not None:
            inherited.dispose(close=False)

    os.register_at_fork(after_in_child=_after_fork)


class DirectSelect:
    """A read-only Core SELECT, run straight on a pooled DBAPI cursor.

    Compiled once per dialect, with SQLAlchemy's bind and result processing; the connection
    comes from the app's pool (idle ping and reset apply); driver errors come out as
    SQLAlchemy's `DBAPIError` subclasses, and a disconnect invalidates the connection and
    empties the pool. On PostgreSQL it runs in autocommit (one round trip, no BEGIN or
    ROLLBACK), switched back before the connection returns to the pool. Never for writes;
    it does not fire `before_cursor_execute`.
    """

    def __init__(self, statement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str, str], tuple] = {}  # per dialect, driver, paramstyle

    def _for(self, dialect) -> tuple:
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        prepared = self._compiled.get(key)
        if prepared is None:
            compiled = self.statement.compile(dialect=dialect)
            binds = {
                name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in compiled.binds.items()
            }
            columns = getattr(self.statement, "selected_columns", ())
            prepared = (
                str(compiled),
                compiled.params,
                {name: process for name, process in binds.items() if process is not None},
                compiled.positiontup if compiled.positional else None,
                [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns],
            )
            self._compiled[key] = prepared
        return prepared

    def _arguments(self, dialect, params: dict) -> tuple[str, object, list]:
        sql, defaults, bind_processors, positions, result_processors = self._for(dialect)
        values = {**defaults, **params}
        for name, process in bind_processors.items():
            values[name] = process(values[name])
        arguments = tuple(values[name] for name in positions) if positions is not None else values
        return sql, arguments, result_processors

    @staticmethod
    def _processed(row: tuple, result_processors: list) -> tuple:
        return tuple(
            value if process is None else process(value) for value, process in zip(row, result_processors, strict=True)
        )

    def first(self, **params) -> tuple | None:
        """The first row, processed like SQLAlchemy's, or None."""
        engine = extensions.db.engine
        sql, arguments, result_processors = self._arguments(engine.dialect, params)
        row = _run(engine, sql, arguments, lambda cursor: cursor.fetchone())
        return None if row is None else self._processed(row, result_processors)

    def all(self, **params) -> list[tuple]:
        """Every row, processed like SQLAlchemy's."""
        engine = extensions.db.engine
        sql, arguments, result_processors = self._arguments(engine.dialect, params)
        rows = _run(engine, sql, arguments, lambda cursor: cursor.fetchall())
        return [self._processed(row, result_processors) for row in rows]


def run_alone(statement, params: dict) -> int | None:
    """Runs ONE write statement as a whole transaction by itself and returns its rowcount:
    on PostgreSQL in autocommit, so the statement is its own transaction (atomic; one round
    trip instead of BEGIN, statement, COMMIT). Through SQLAlchemy's own `Connection`, so its
    events (the commit included), error translation and disconnect handling all apply.

    Only where nothing else belongs in the transaction: the caller checks that the database
    session holds no transaction (`session_is_idle`). Elsewhere (SQLite, which serialises its
    transactions in `sqlite_locking`) it answers None and the caller takes its usual path.
    """
    engine = extensions.db.engine
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        rowcount = connection.execute(statement, params).rowcount
        connection.commit()  # PostgreSQL already committed the statement; this is SQLAlchemy's record of it
    return rowcount


def session_is_idle() -> bool:
    """True when the app's database session has no transaction at all (nothing read or
    written in it since it last committed or rolled back), so a statement run beside it is
    not part of anything it would commit."""
    return extensions.db.session().get_transaction() is None


def _run(engine: sa.Engine, sql: str, arguments, fetch: Callable):
    """`fetch(cursor)` after executing `sql` on a pooled connection (autocommit on PostgreSQL)."""
    dialect = engine.dialect
    autocommit = dialect.name == "postgresql"
    try:
        pooled = engine.raw_connection()
    except dialect.loaded_dbapi.Error as exc:  # no connection to be had (the database is down)
        raise sa.exc.DBAPIError.instance(
            sql, arguments, exc, dialect.loaded_dbapi.Error, connection_invalidated=False, dialect=dialect
        ) from exc
    try:
        driver = pooled.driver_connection
        if autocommit:
            driver.autocommit = True
        try:
            cursor = pooled.cursor()
            try:
                cursor.execute(sql, arguments)
                return fetch(cursor)
            finally:
                cursor.close()
        finally:
            if autocommit and not driver.closed:
                driver.autocommit = False
    except dialect.loaded_dbapi.Error as exc:
        disconnected = dialect.is_disconnect(exc, pooled.dbapi_connection, None)
        if disconnected:
            pooled.invalidate(exc)
            engine.pool.dispose()  # its other idle connections died with this one
        raise sa.exc.DBAPIError.instance(
            sql, arguments, exc, dialect.loaded_dbapi.Error, connection_invalidated=disconnected, dialect=dialect
        ) from exc
    finally:
        pooled.close()


# -- users seen by this process ------------------------------------------------------------


def _seen_users() -> OrderedDict[str, tuple[str | None, str | None]]:
    """user id -> (email, name) as this process last read or wrote them; per app object.
    The app never deletes users, so a row seen once exists."""
    return current_app.extensions.setdefault("seen_users", OrderedDict())


def known_user(user_id: str, *, email: str | None, name: str | None) -> tuple[str | None, str | None] | None:
    """(email, name) of a user already stored with these claims (a missing claim matches
    anything), else None."""
    seen = _seen_users().get(user_id)
    if seen is None or (email and seen[0] != email) or (name and seen[1] != name):
        return None
    return seen


def seen_user(user_id: str) -> tuple[str | None, str | None] | None:
    """(email, name) of a user this process has stored or read, whatever the claims."""
    return _seen_users().get(user_id)


def remember_user(user_id: str, email: str | None, name: str | None) -> None:
    seen = _seen_users()
    seen[user_id] = (email, name)
    seen.move_to_end(user_id)
    while len(seen) > SEEN_USERS_MAX:
        seen.popitem(last=False)


def forget_users() -> None:
    _seen_users().clear()


def in_session(model: type, key: str):
    """The database session's copy of a row, if it has one (no SQL)."""
    return extensions.db.session.identity_map.get(identity_key(model, key))


def attach_known(model: type, key: str, **columns):
    """The session's copy of a row known to exist, else one attached by primary key from
    `columns` without a SELECT (its other columns load on first access)."""
    known = in_session(model, key)
    if known is not None:
        return known
    row = model(id=key, **columns)
    make_transient_to_detached(row)
    extensions.db.session.add(row)
    return row


# -- request handling ----------------------------------------------------------------------


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per key set
    (it holds no per-request state; rotating the key in config builds a new one)."""

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = app.extensions.get("session_serializer")
        if cached is None or cached[0] != keys:
            cached = (keys, super().get_signing_serializer(app))
            app.extensions["session_serializer"] = cached
        return cached[1]


def _cache_template_urls(app: Flask) -> None:
    """Templates' `url_for`, memoised by endpoint, values, blueprint (for ".name") and
    script root; the rule map is fixed once the app is built. Python code keeps Flask's."""
    build = app.url_for

    @lru_cache(maxsize=URL_CACHE_SIZE)
    def cached(script_root: str, blueprint: str | None, endpoint: str, values: tuple) -> str:
        return build(endpoint, **dict(values))

    def url_for(endpoint: str, **values) -> str:
        if not has_request_context() or any(key.startswith("_") for key in values):
            return build(endpoint, **values)
        items = tuple(values.items())  # call order, so query strings keep their order
        try:
            hash(items)
        except TypeError:
            return build(endpoint, **values)
        blueprint = request.blueprint if endpoint.startswith(".") else None
        return cached(request.script_root, blueprint, endpoint, items)

    url_for.cache_info = cached.cache_info  # type: ignore[attr-defined]
    app.jinja_env.globals["url_for"] = url_for


def limiter_hook(limiter=None):
    """The `before_request` hook Flask-Limiter registers (a private method of `Limiter`)."""
    return (limiter or extensions.limiter)._check_request_limit


def _drop_limiter_middleware(app: Flask) -> None:
    """Removes Flask-Limiter's `before_request` hook when it could never limit anything:
    this app only limits by per-view decorators, which check their own limits when the view
    runs. If any default, application, blueprint or meta limit is configured, it stays."""
    limiter = extensions.limiter
    manager = limiter.limit_manager
    if app.config.get("RATELIMIT_META") or manager.default_limits or manager.application_limits:
        return
    with app.test_request_context():
        if any(manager.blueprint_limits(app, name) for name in app.blueprints):
            return
    hooks = app.before_request_funcs.get(None, [])
    hook = limiter_hook(limiter)
    if hook in hooks:
        hooks.remove(hook)


def bind_csrf_secret(clerk_session_id: str) -> None:
    """Gives a signed-in browser the CSRF secret HMAC(SECRET_KEY, Clerk session id).

    Flask-WTF signs and checks each form's token with a secret kept in the session. Derived
    from the verified sign-in on every request, it never needs storing: it is put in the
    session without marking it modified, so a page that only renders forms writes no cookie
    (if the session is saved for another reason it carries the same value). A new sign-in
    gets another secret, so older tokens stop validating. Signed-out visitors keep
    Flask-WTF's random secret; Flask-WTF's tokens and checks are unchanged.
    """
    app_key = current_app.secret_key
    app_key = app_key if isinstance(app_key, bytes) else app_key.encode()
    secret = hmac.new(app_key, b"csrf-secret\x00" + clerk_session_id.encode(), hashlib.sha256).hexdigest()
    key = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")  # where Flask-WTF keeps its secret
    if session.get(key) != secret:
        modified = session.modified
        session[key] = secret
        session.modified = modified  # derived, not state: nothing to persist


def render_public(template: str, **context) -> str:
    """`render_template` for a public page, memoised for visitors who bring no state.

    For a visitor with no identity and an empty session (no flashed message, no CSRF
    secret) the page is a function of the template, `context` (the data this request
    read, hashable: frozen rows) and the request's host, script root, path and query (the
    sign-in link carries the path and query back): exactly the cache key. New data is a new key, so there is
    nothing to invalidate; a render that touches the session (a form minting a CSRF
    secret, a flashed message) is never stored, so no visitor is ever handed another's
    token. Anyone signed in, or with anything in their session, gets a fresh render.
    Bounded (least recently used out) and per app (templates are fixed once built).
    """
    if g.get("user") is not None or session or request.method != "GET":
        return render_template(template, **context)
    environ = request.environ
    key = (template, environ.get("HTTP_HOST"), request.script_root, request.full_path, *sorted(context.items()))
    try:
        hash(key)
    except TypeError:
        return render_template(template, **context)
    pages: OrderedDict = current_app.extensions.setdefault("public_pages", OrderedDict())
    page = pages.get(key)
    if page is not None:
        pages.move_to_end(key)
        return page
    page = render_template(template, **context)
    if not session and not session.modified:  # the render left no state to hand on
        pages[key] = page
        while len(pages) > PUBLIC_PAGES_MAX:
            pages.popitem(last=False)
    return page


def session_exists() -> bool:
    """Whether this request has created the app's database session at all (a teardown with
    nothing to look at then creates none just to look)."""
    return extensions.db.session.registry.has()


def csrf_header_token() -> str | None:
    """The CSRF token for the layout's htmx header, or None for a visitor who has no CSRF
    secret yet (anonymous, no form rendered so far).

    Flask-WTF mints a random secret into the session the first time a token is asked for,
    and the session then has to be written as a cookie. The layout asked on every page, so
    every anonymous page view signed and sent a new session cookie although it had no form.
    A signed-in visitor always has a secret (`bind_csrf_secret`), and a page with a form
    still mints one through the form's own `csrf_token()`; only the header of a page with
    neither is left out, and htmx sends no header there (nothing on it could post).
    """
    key = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")  # where Flask-WTF keeps its secret
    if key not in session:
        return None
    from flask_wtf.csrf import generate_csrf

    return generate_csrf()


# -- worker start --------------------------------------------------------------------------


def warm_up(app: Flask, steps: Iterable[Callable[[Flask], object]] = ()) -> None:
    """Does once in the gunicorn master, before forking, what every worker would redo on its
    first requests: compiles every template, configures the mappers, runs the app's `steps`
    and one request through the stack. No database work. Never run in tests."""
    from sqlalchemy.orm import configure_mappers

    for name in app.jinja_env.list_templates(extensions=("html", "txt")):
        app.jinja_env.get_template(name)
    configure_mappers()
    for step in steps:
        step(app)
    with app.test_client() as client:
        client.get("/healthz")


def warm_worker(app: Flask) -> None:
    """Opens a forked worker's first database connection before it serves. A database that
    is down does not stop the worker: it serves what it can and connects when it is back."""
    try:
        with app.app_context():
            extensions.db.engine.connect().close()
    except Exception as exc:  # noqa: BLE001 - any failure here is the first request's to report
        app.logger.warning("worker warm-up could not reach the database: %s", type(exc).__name__)
