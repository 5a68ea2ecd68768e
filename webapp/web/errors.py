"""Error pages: HTML for pages; under /api and for JSON clients, NestJS's error JSON.

`{statusCode, message, error}` as the original design's front end reads it (`message` is
the list of messages for a validation failure, else one string; `error` the reason
phrase), plus our machine-readable `code` and per-field `details`.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.services.health import DATABASE_UNAVAILABLE
from webapp.services.transactions import discard
from webapp.web.api_responses import ErrorDetail, ErrorResponse

log = logging.getLogger("webapp")

TITLES = {
    400: ("Bad request", "Something in that request wasn't right. Please go back and try again."),
    401: ("Sign-in required", "Please sign in to continue."),
    403: ("Not allowed", "Your account doesn't have access to this page."),
    404: ("Page not found", "We couldn't find that page. It may have moved, or the link may be wrong."),
    405: ("Method not allowed", "That action isn't available here."),
    409: ("Conflict", "That action conflicts with the current state. Please reload and try again."),
    413: ("Too large", "That request was too large."),
    415: ("Unsupported content type", "Send this request as application/json."),
    429: ("Too many requests", "You're going a little fast. Please wait a moment and try again."),
    500: (
        "Something went wrong",
        "An unexpected error happened on our side. Nothing was charged twice; please try again.",
    ),
    503: ("Temporarily unavailable", "We can't reach a service we depend on right now. Please try again in a minute."),
}

CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


# NestJS's wording where it differs from Python's phrase.
REASONS = {413: "Payload Too Large"}


def reason_phrase(status: int) -> str:
    try:
        return REASONS.get(status) or HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def wants_json() -> bool:
    if request.path.startswith(("/api/", "/webhooks/")) or request.path == "/api":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, message: str | None = None, *, code: str | None = None, details=None):
    title, default_message = TITLES.get(status, ("Error", "Something went wrong."))
    message = message or default_message
    if wants_json():
        code = code or CODES.get(status, "error")
        listed = [ErrorDetail(field=d["field"], message=d["message"]) for d in details or []]
        body = ErrorResponse(
            status_code=status,
            # NestJS's ValidationPipe answers the list of messages; every other error one string.
            message=[d.message for d in listed] if code == "validation_failed" and listed else message,
            error=reason_phrase(status),
            code=code,
            details=listed,
        )
        response = jsonify(body.to_json())
        response.status_code = status
        return response
    if getattr(request, "htmx", False) and request.headers.get("HX-Request"):
        return render_template("errors/_inline.html", status=status, title=title, message=message), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(HTTPException, _http_error)
    for unavailable in DATABASE_UNAVAILABLE:
        app.register_error_handler(unavailable, _database_down)
    app.register_error_handler(InternalServerError, _internal_error)


def _csrf_failed(exc: CSRFError):
    return error_response(
        400, "Your form expired or was sent from another site. Reload the page and try again.", code="csrf_failed"
    )


def _http_error(exc: HTTPException):
    custom = exc.description if exc.description != type(exc).description else None
    if exc.code == 429:
        custom = None  # Flask-Limiter's description is the limit itself ("30 per 1 minute")
    response = error_response(exc.code or 500, custom)
    # Only a JSON answer is a Response here; a page is (html, status) and gets no extra headers.
    headers = getattr(response[0] if isinstance(response, tuple) else response, "headers", None)
    if headers is not None and exc.code == 429 and getattr(exc, "retry_after", None) is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if headers is not None and exc.code == 405 and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _database_down(exc: Exception):
    discard()
    log.error(
        "database unavailable", extra={"fields": {"request_id": g.get("request_id"), "error": type(exc).__name__}}
    )
    return error_response(503)


def _internal_error(exc: InternalServerError):
    discard()
    log.exception("unhandled error", extra={"fields": {"request_id": g.get("request_id")}})
    return error_response(500)
