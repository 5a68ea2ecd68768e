"""Per-request work that profiling showed to be pure overhead, removed without changing behaviour.

Each item below was measured with bench/inprocess.py (CPU per request of the checkout page)
and is explained with its numbers in the README ("Performance"). Installed last in the
factory, once every blueprint is registered.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, current_app, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter.util import get_qualified_name

from webapp.extensions import limiter

URL_CACHE_SIZE = 4096
_filter_installed = False


def init_app(app: Flask) -> None:
    app.extensions["warm_up"] = lambda: warm_up(app)  # run by gunicorn.conf.py's when_ready
    app.session_interface = _CookieSessions()
    _cache_template_urls(app)
    _skip_unlimited_endpoints(app)


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


def _skip_unlimited_endpoints(app: Flask) -> None:
    """Lets Flask-Limiter skip requests to endpoints that carry no limit at all.

    Flask-Limiter resolves the limits of every request in a `before_request` hook, about
    250 µs here even where the answer is "none". This app sets no default, application or
    blueprint limits, only per-view decorators, so the endpoints that can be limited are
    known once the app is built; any other request is filtered out before that work. If
    defaults are ever configured, nothing is skipped.
    """
    manager = limiter.limit_manager
    with app.test_request_context():
        if manager.default_limits or manager.application_limits:
            return
        if any(manager.blueprint_limits(app, name) for name in app.blueprints):
            return
        limited = frozenset(
            endpoint
            for endpoint, view in app.view_functions.items()
            if manager.decorated_limits(get_qualified_name(view)) or manager.has_hints(endpoint)
        )
    app.extensions["rate_limited_endpoints"] = limited
    global _filter_installed
    if not _filter_installed:  # one Limiter serves every app of the process (tests build many)
        limiter.request_filter(_no_limit_applies)
        _filter_installed = True


def _no_limit_applies() -> bool:
    limited = current_app.extensions.get("rate_limited_endpoints")
    return limited is not None and request.endpoint not in limited


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
