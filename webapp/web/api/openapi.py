"""The API's route table and the OpenAPI 3.1 document generated from it.

Each route is declared once (`ApiRoute`, registered by `framework.api_route`); the
document's paths come from those rows and its schemas from the pydantic models the views
validate (webapp.web.api_schemas) and answer with (webapp.web.api_responses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from webapp.web.api_responses import ErrorResponse
from webapp.web.api_schemas import RequestBody

REF_TEMPLATE = "#/components/schemas/{model}"


@dataclass(frozen=True)
class ApiRoute:
    """One row of the API's route table: the Flask rule and the OpenAPI operation come from it."""

    method: str
    path: str  # OpenAPI style, relative to /api: "/payments/sessions/{id}"
    summary: str
    endpoint: str
    ok_status: int = 200
    ok_description: str = "OK"
    response: type[BaseModel] | None = None
    response_is_list: bool = False
    body: type[BaseModel] | None = None
    body_required: bool = True
    errors: tuple[int, ...] = ()
    other_ok: dict[int, tuple[str, type[BaseModel] | None]] = field(default_factory=dict)


ERROR_DESCRIPTIONS = {
    400: "Invalid request: malformed JSON or a body that fails validation (each field named in details)",
    401: "Missing or invalid Bearer session token",
    403: "Not allowed",
    404: "Not found (unknown, or not the caller's)",
    409: "Conflicts with the current state",
    413: "Body larger than 1 MB",
    415: "Body is not application/json",
    429: "Rate limited",
    503: "The payment provider is unreachable; nothing was changed, retry later",
}

DESCRIPTION = (
    "JSON API of the original design. Authenticate with `Authorization: Bearer <Clerk "
    "session token>`; errors are NestJS's `{statusCode, message, error}` plus `code` and `details`. "
    "The Stripe webhook is the one route without a token (Stripe signs it)."
)

WEBHOOK_PATH = "/payments/webhooks/stripe"


def _webhook_operation() -> dict[str, Any]:
    """Stripe's webhook (web/webhooks.py, not an `api_route`): signed by Stripe, no Bearer token."""
    return {
        "operationId": "stripe_webhook",
        "summary": "Stripe's webhook: the raw event, verified with the Stripe-Signature header "
        "(also served at /webhooks/stripe)",
        "security": [],
        "parameters": [{"name": "Stripe-Signature", "in": "header", "required": True, "schema": {"type": "string"}}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "description": "A Stripe event."}}},
        },
        "responses": {
            "200": _json_described(
                "Stored and handled (or a duplicate, or a type we ignore)",
                {
                    "type": "object",
                    "properties": {"received": {"type": "boolean"}, "status": {"type": "string"}},
                    "required": ["received", "status"],
                },
            ),
            "400": _described("Missing, invalid or stale signature, or not a Stripe event", ErrorResponse),
            "409": _described("Another delivery of this event is being processed; Stripe retries", ErrorResponse),
            "413": _described(ERROR_DESCRIPTIONS[413], ErrorResponse),
            "500": _described("The event could not be processed; Stripe retries", ErrorResponse),
            "503": _described("The database is unavailable; Stripe retries", ErrorResponse),
        },
    }


def _json_described(description: str, schema: dict) -> dict[str, Any]:
    return {"description": description, "content": _json_content(schema)}


def build_openapi(routes: list[ApiRoute], *, prefix: str, server_url: str, version: str = "1.0.0") -> dict:
    """The OpenAPI 3.1 document for `routes`, with component schemas generated from the models."""
    paths: dict[str, dict] = {}
    for route in routes:
        paths.setdefault(prefix + route.path, {})[route.method.lower()] = _operation(route)
    paths[prefix + WEBHOOK_PATH] = {"post": _webhook_operation()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Course checkout API", "version": version, "description": DESCRIPTION},
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": _component_schemas(routes),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _component_schemas(routes: list[ApiRoute]) -> dict[str, Any]:
    """Every model a route names (and the error shape), as request or response schemas."""
    models: list[type[BaseModel]] = [ErrorResponse]
    for route in routes:
        for model in (route.body, route.response, *(m for _, m in route.other_ok.values())):
            if model is not None and model not in models:
                models.append(model)
    _, defs = models_json_schema(
        [(m, "validation" if issubclass(m, RequestBody) else "serialization") for m in models],
        ref_template=REF_TEMPLATE,
    )
    return defs.get("$defs", {})


def _operation(route: ApiRoute) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.endpoint,
        "summary": route.summary,
        "responses": _responses(route),
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in _path_params(route.path)
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {"required": route.body_required, "content": _json_content(_schema_ref(route.body))}
    return operation


def _responses(route: ApiRoute) -> dict[str, dict]:
    """The route's success answers, then every error it can give (401 and 429 always)."""
    responses: dict[str, dict] = {str(route.ok_status): _described(route.ok_description, route.response, route)}
    for status, (description, model) in route.other_ok.items():
        responses[str(status)] = _described(description, model)
    codes = set(route.errors) | {401, 429}
    if route.body is not None:
        codes |= {400, 413, 415}
    for status in sorted(codes):
        responses[str(status)] = _described(ERROR_DESCRIPTIONS[status], ErrorResponse)
    return responses


def _described(description: str, model: type[BaseModel] | None, route: ApiRoute | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if model is not None:
        many = route is not None and route.response_is_list
        answer["content"] = _json_content(_schema_ref(model, many=many))
    return answer


def _schema_ref(model: type[BaseModel], *, many: bool = False) -> dict:
    ref = {"$ref": REF_TEMPLATE.format(model=model.__name__)}
    return {"type": "array", "items": ref} if many else ref


def _json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
