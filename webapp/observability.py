"""Error tracking with Sentry when SENTRY_DSN is set; nothing is sent (or imported) otherwise.

Events carry no cookies, no Authorization or Stripe-Signature headers, no request bodies
(card data never reaches us, but emails and tokens could sit in a body) and no user PII.
"""

from __future__ import annotations

from flask import Flask

_SCRUBBED_HEADERS = {"authorization", "cookie", "stripe-signature", "x-csrftoken", "set-cookie"}


def scrub_event(event: dict, hint: dict | None = None) -> dict:
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        request.pop("data", None)
        request.pop("query_string", None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                k: ("[Filtered]" if k.lower() in _SCRUBBED_HEADERS else v) for k, v in headers.items()
            }
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user.get("id")} if user.get("id") else {}
    return event


def init_app(app: Flask) -> None:
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration()],
        environment=app.config["APP_ENV"],
        max_request_body_size="never",
        include_local_variables=False,  # a frame's locals can hold a token or an email
        before_send=scrub_event,
        traces_sample_rate=0.0,
    )
