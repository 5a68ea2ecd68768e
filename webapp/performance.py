"""Per-request work that profiling showed to be pure overhead, removed without changing behaviour.

Each item below was measured with bench/inprocess.py (CPU per request of the checkout page)
and is explained with its numbers in the README ("Performance"). Installed last in the
factory, once every blueprint is registered.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface

from webapp.extensions import limiter

URL_CACHE_SIZE = 4096


def init_app(app: Flask) -> None:
    app.extensions["warm_up"] = lambda: warm_up(app)  # run by gunicorn.conf.py's when_ready
    app.extensions["warm_worker"] = lambda: warm_worker(app)  # by its post_worker_init
    app.session_interface = _CookieSessions()
    _cache_template_urls(app)
    _drop_limiter_middleware(app)


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per key set.

    Flask builds a new `URLSafeTimedSerializer` to open and again to save every session
    (about 60 µs each here, most of it itsdangerous probing the JSON serializer). The
    serializer holds no per-request state, so one per (secret key, fallbacks) is enough;
    rotating the key in config builds a new one.
    """

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = app.extensions.get("session_serializer")
        if cached is None or cached[0] != keys:
            cached = (keys, super().get_signing_serializer(app))
            app.extensions["session_serializer"] = cached
        return cached[1]


def _cache_template_urls(app: Flask) -> None:
    """Templates' `url_for`, memoised: the layout alone builds a dozen URLs per page.

    Building a URL walks Werkzeug's rule map (about 40 µs each here). For a relative URL
    the result depends only on the endpoint, its values, the blueprint (for ".name"
    endpoints) and the script root, all in the key; the rule map is fixed once the app is
    built. Anything else (`_external`, `_anchor`, unhashable values, no request) is built
    as before. Python code keeps Flask's own `url_for`.
    """
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


def _drop_limiter_middleware(app: Flask) -> None:
    """Removes Flask-Limiter's `before_request` hook when it could never limit anything.

    That hook resolves each request's default, application, blueprint and meta limits:
    about 100 µs per request here, even where the answer is "none". This app sets none of
    those, only per-view decorators, and a decorated view checks its own limits when it
    runs (Flask-Limiter's decorator calls the same check, keyed after sign-in). So the hook
    is pure cost, and is dropped once the app is built; if any such limit is ever
    configured it stays. Limited views still answer 429 (tests/integration/test_fast_paths.py).
    """
    manager = limiter.limit_manager
    if app.config.get("RATELIMIT_META") or manager.default_limits or manager.application_limits:
        return
    with app.test_request_context():
        if any(manager.blueprint_limits(app, name) for name in app.blueprints):
            return
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)


def warm_up(app: Flask) -> None:
    """Does once, before gunicorn forks its workers, what every worker would redo on its
    first requests: compiling every template and running one request through the stack.

    Called from gunicorn.conf.py (`preload_app`), never in tests. Without it each new
    worker spent its first few hundred milliseconds compiling Jinja templates, which showed
    as a p99 of over 300 ms in a 5 s load (bench/run.py), and parsing the token key and
    configuring the ORM mappers took a tenth of a short profile. No database work happens here.
    """
    from sqlalchemy.orm import configure_mappers

    from webapp.auth.tokens import verification_key

    for name in app.jinja_env.list_templates(extensions=("html", "txt")):
        app.jinja_env.get_template(name)
    configure_mappers()
    verification_key(app)  # parses the session-token key (the dev key: an RSA private key)
    with app.test_client() as client:
        client.get("/healthz")


def warm_worker(app: Flask) -> None:
    """Opens a forked worker's first database connection before it serves (gunicorn's
    `post_worker_init`). Connecting costs a PostgreSQL backend start, tens of milliseconds
    under load, which the first request of every recycled worker would otherwise wait for.
    A database that is down must not stop the worker from starting: it serves what it can
    (health, the outage page) and connects when the database is back."""
    from webapp.extensions import db

    try:
        with app.app_context():
            db.engine.connect().close()
    except Exception as exc:  # noqa: BLE001 - any failure here is the first request's to report
        app.logger.warning("worker warm-up could not reach the database: %s", type(exc).__name__)
