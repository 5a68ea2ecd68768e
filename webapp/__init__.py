"""Course checkout: the application factory."""

from __future__ import annotations

import sys

from flask import Flask

from webapp.config import ROOT, ConfigError, check_production, load_config, sqlalchemy_url


def create_app(config: dict | None = None) -> Flask:
    """Builds the app from the environment, then `config` on top (tests pass overrides).

    In production, any setting that would fall back to a dev default stops start-up with
    a message naming each one (SystemExit, so `flask` commands exit non-zero too).
    """
    try:
        settings = load_config()
    except ConfigError as exc:
        raise SystemExit(f"Configuration error: {exc}") from None
    if config:
        settings.update(config)
    # The sandbox's own URL is normalised where every sandbox engine is made (sandbox.store).
    settings["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(str(settings["SQLALCHEMY_DATABASE_URI"]))
    from webapp import speedups

    settings["SQLALCHEMY_ENGINE_OPTIONS"] = speedups.engine_options(
        settings["SQLALCHEMY_DATABASE_URI"], settings["SQLALCHEMY_ENGINE_OPTIONS"]
    )
    problems = check_production(settings)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        print(f"Refusing to start in production with development defaults:\n{lines}", file=sys.stderr)
        raise SystemExit(2)

    app = Flask(
        __name__,
        instance_path=settings["INSTANCE_PATH"],
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(settings)
    if app.config.get("TRUSTED_PROXY_COUNT"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Client IPs (rate limits, logs) from X-Forwarded-For, trusting only our own proxies.
        count = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)

    from webapp import extensions, logging_setup, metrics, observability, security, sqlite_locking

    logging_setup.init_app(app)
    observability.init_app(app)
    security.init_app(app)
    metrics.init_app(app)
    extensions.db.init_app(app)
    with app.app_context():
        sqlite_locking.serialize_transactions(extensions.db.engine)
    speedups.init_engine(app)
    extensions.migrate.init_app(app, extensions.db, directory=str(ROOT / "migrations"), render_as_batch=True)
    extensions.htmx.init_app(app)
    # The limiter is created once per process; each app takes its default limits from its
    # own config (Flask-Limiter keeps defaults an earlier app set and ignores the config).
    extensions.limiter.limit_manager.set_default_limits([])
    extensions.limiter.init_app(app)
    if app.config["FRONTEND_URLS"]:
        from flask_cors import CORS

        # Only the JSON API, only the configured origins, Bearer tokens (no credentials mode);
        # never the HTML pages or the webhook alias.
        CORS(
            app,
            resources={r"^/api/(?!payments/webhooks/).*": {"origins": app.config["FRONTEND_URLS"]}},
            methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            # A cross-origin page may read these (a 429's wait, the id to quote to support).
            expose_headers=["Retry-After", "X-Request-ID"],
            supports_credentials=False,
            max_age=600,
        )

    from webapp import models  # noqa: F401  (registers the tables)
    from webapp.auth import init_app as init_auth
    from webapp.payments import gateway
    from webapp.sandbox import init_app as init_sandbox
    from webapp.web import init_app as init_web

    init_auth(app)
    # After auth: a signed-in browser's CSRF secret comes from its verified Clerk session
    # (speedups.bind_csrf_secret), so the identity hook must run before Flask-WTF's check.
    extensions.csrf.init_app(app)
    gateway.init_app(app)
    sandbox_db = app.config.get("STRIPE_SANDBOX_DATABASE_URL")
    sandbox_bp = init_sandbox(app, database_url=sqlalchemy_url(str(sandbox_db)) if sandbox_db else None)
    if sandbox_bp is not None:
        # The sandbox stands for Stripe's own domain: no CSRF token, no rate limit.
        extensions.csrf.exempt(sandbox_bp)
        extensions.limiter.exempt(sandbox_bp)
    init_web(app)

    from webapp.services import mail

    mail.init_app(app)

    if not app.config.get("STRIPE_SECRET_KEY") and not app.testing:
        from webapp.logging_setup import log_event

        # The sandbox's signing secret is a dev value; operators rehearsing webhooks need it.
        log_event(
            "stripe sandbox in use",
            webhook_secret=app.config["STRIPE_WEBHOOK_SECRETS"][0],
            webhooks_delivered_to=app.config["STRIPE_SANDBOX_WEBHOOK_URL"]
            if app.config["STRIPE_SANDBOX_WEBHOOKS"]
            else None,
        )

    from webapp.cli import init_app as init_cli

    init_cli(app)

    from webapp.auth.tokens import verification_key

    speedups.init_app(app, warm_steps=[verification_key])  # parses the session-token key before forking
    return app
