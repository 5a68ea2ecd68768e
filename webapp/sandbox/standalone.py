"""A small Flask app serving only the sandbox (for `flask stripe-sandbox serve`).

Same blueprint, same storage as the embedded sandbox; the REST API answers both under
`/_sandbox/stripe/v1/...` and at the root (`/v1/...`, as Stripe's host does); its hosted pages
live under `public_url`, and it delivers webhooks over HTTP to `STRIPE_SANDBOX_WEBHOOK_URL` (it serves
no webhook route itself, so nothing is dispatched in-process).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from webapp.sandbox.core import Sandbox, SandboxSettings

# The project's templates/ and static/ folders, beside the `webapp` package.
_PROJECT = Path(__file__).resolve().parent.parent.parent


def create_standalone_app(
    config: dict[str, Any],
    *,
    public_url: str,
    template_folder: str | None = None,
    static_folder: str | None = None,
) -> Flask:
    """The standalone sandbox app; the folders default to the project's templates/ and static/."""
    app = Flask(
        "stripe_sandbox",
        template_folder=template_folder or str(_PROJECT / "templates"),
        static_folder=static_folder or str(_PROJECT / "static"),
    )
    app.config.update({k: v for k, v in config.items() if k.startswith("STRIPE_") or k in ("APP_URL", "SECRET_KEY")})
    app.config.setdefault("SECRET_KEY", secrets.token_hex(16))
    settings = SandboxSettings.from_config(app.config, base_url=public_url.rstrip("/") + "/_sandbox/stripe")
    # Not the app's origin: never dispatch in-process from here.
    app.extensions["stripe_sandbox"] = Sandbox(settings, dispatch_app=None)
    from webapp.sandbox import views

    app.register_blueprint(views.bp)
    # Also at the root, like Stripe's own host and stripe-mock: STRIPE_API_BASE=<public_url>.
    app.add_url_rule("/v1/<path:subpath>", "root_api", views.api, methods=["GET", "POST", "DELETE"])
    return app
