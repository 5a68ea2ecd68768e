"""The API's routing helpers: route declaration, error mapping, JSON bodies, path ids, responses.

Each route is declared once with `api_route`: that registers the Flask rule (signed-in
only) and adds the row from which `/api/openapi.json` is generated, with the request
model the view validates against. Bodies must be `application/json` (415 otherwise),
well-formed (400), under 1 MB (413) and valid for the model (400 naming each field).
Every id in a path is the caller's or it is 404, exactly as if it didn't exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, jsonify, request
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from webapp.auth import login_required
from webapp.extensions import csrf
from webapp.services.errors import NotFound, ServiceError
from webapp.services.transactions import discard
from webapp.web.api.openapi import ApiRoute
from webapp.web.api_responses import ResponseBody
from webapp.web.api_schemas import validation_details
from webapp.web.errors import error_response

bp = Blueprint("api", __name__, url_prefix="/api")
# Bearer-only authentication: a cookie never authenticates the API, so it needs no CSRF token.
csrf.exempt(bp)

ROUTES: list[ApiRoute] = []
Model = TypeVar("Model", bound=BaseModel)

_PATH_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")


class BadBody(Exception):
    """A request body refused before any service runs; answered as the API's error JSON."""

    def __init__(self, status: int, message: str, *, code: str, details: list | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = details or []


def api_route(method: str, path: str, summary: str, **options) -> Callable:
    """Registers a signed-in JSON route and its OpenAPI row (path in OpenAPI `{param}` style)."""

    def register(view: Callable) -> Callable:
        ROUTES.append(ApiRoute(method=method, path=path, summary=summary, endpoint=view.__name__, **options))
        rule = re.sub(r"\{(\w+)\}", r"<\1>", path)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=login_required(view), methods=[method])
        return view

    return register


def respond(body: ResponseBody | list[ResponseBody], status: int = 200):
    """The JSON answer for a response model (or a list of them) with `status`."""
    payload = [item.to_json() for item in body] if isinstance(body, list) else body.to_json()
    return jsonify(payload), status


# -- errors ----------------------------------------------------------------------------------


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError):
    discard()
    message, details = _camel_case_fields(exc.message, exc.details or [])
    return error_response(exc.status, message, code=exc.code, details=details)


def _camel_case_fields(message: str, details: list[dict]) -> tuple[str, list[dict[str, str]]]:
    """Field names in a service's refusal as the API spells them (`course_id` -> `courseId`)."""
    camel_details = []
    for detail in details:
        name = detail.get("field") or ""
        camel = to_camel(name) if "_" in name else name
        if camel != name:
            message = message.replace(name, camel)
        camel_details.append({"field": camel, "message": str(detail.get("message", "")).replace(name, camel)})
    return message, camel_details


@bp.errorhandler(BadBody)
def _bad_body(exc: BadBody):
    return error_response(exc.status, exc.message, code=exc.code, details=exc.details)


# -- request parsing -------------------------------------------------------------------------


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_body(model: type[Model], *, required: bool = True) -> Model:
    """The request body validated against `model` (BadBody/413 otherwise).

    An optional body may be left out entirely (no bytes); when present it must be JSON.
    """
    raw = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH, answered as JSON under /api
    if not raw and not required:
        return model()
    if not request.is_json:
        raise BadBody(415, "Send the request body as application/json.", code="unsupported_media_type")
    return _validated(model, _json_object(raw))


def _json_object(raw: bytes) -> dict:
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadBody(400, "The request body is not valid JSON.", code="malformed_json") from None
    if not isinstance(data, dict):
        raise BadBody(
            400,
            "The request body must be a JSON object.",
            code="validation_failed",
            details=[{"field": "body", "message": "body must be a JSON object"}],
        )
    return data


def _validated(model: type[Model], data: dict) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        message = "; ".join(d["message"] for d in details[:10])
        raise BadBody(
            400, message or "The request body is invalid.", code="validation_failed", details=details
        ) from None


def path_id(value: str, what: str = "that") -> str:
    """An id from the path, or NotFound when it could not be one of ours (never reaches the DB)."""
    if _PATH_ID.fullmatch(value) is None:
        raise NotFound(f"We couldn't find {what}.")
    return value
