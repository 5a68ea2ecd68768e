"""Blueprints by audience; each view parses, calls one service, renders."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from webapp.web import api, catalog, checkout, errors, health, payment

    errors.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(catalog.bp)
    app.register_blueprint(checkout.bp)
    app.register_blueprint(payment.bp)
    app.register_blueprint(api.bp)
    from webapp.web import account

    app.register_blueprint(account.bp)

    from webapp.web import devmail, webhooks

    app.register_blueprint(webhooks.bp)
    app.register_blueprint(devmail.bp)
    from webapp.web import admin

    app.register_blueprint(admin.bp)

    from webapp.services.money import format_money

    app.add_template_filter(format_money, "money")
    # Live view of registered endpoints, so the layout links only to pages that exist.
    app.jinja_env.globals["url_endpoints"] = app.view_functions
