"""Blueprints by audience; each view parses, calls one service, renders."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from webapp.web import account, admin, api, catalog, checkout, devmail, errors, health, payment, webhooks

    errors.init_app(app)
    for blueprint in (health, catalog, checkout, payment, api, account, webhooks, devmail, admin):
        app.register_blueprint(blueprint.bp)

    from webapp.services.money import format_money, to_major

    app.add_template_filter(format_money, "money")
    app.add_template_filter(to_major, "major")
