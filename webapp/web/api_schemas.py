"""The JSON API's declared shapes: request bodies (validated) and responses (documented).

Request bodies are pydantic v2 models with the original design's camelCase names as
aliases (the only accepted spelling), unknown properties forbidden and strict types: a
string is never coerced to a number nor a number to a string. The same models generate
the OpenAPI 3.1 document served at `/api/openapi.json`, together with the route table
the API blueprint declares once (`ApiRoute`), so the document cannot drift from what
the views validate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel
from pydantic.json_schema import models_json_schema

REF_TEMPLATE = "#/components/schemas/{model}"

METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_STRING = 500
METADATA_MAX_DEPTH = 3
URL_MAX_LENGTH = 2048


def _safe_text(value: str) -> str:
    # NUL and unpaired surrogates cannot be stored (PostgreSQL text, UTF-8); refuse them here
    # rather than let the database raise.
    if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


SafeStr = Annotated[str, AfterValidator(_safe_text)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_safe_text)]
CouponCodeText = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_safe_text)]
UrlText = Annotated[str, StringConstraints(min_length=1, max_length=URL_MAX_LENGTH), AfterValidator(_safe_text)]


def _check_json_value(value: Any, depth: int, where: str) -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number")
        return
    if isinstance(value, str):
        _safe_text(value)
        if len(value) > METADATA_MAX_STRING:
            raise ValueError(f"{where} must be at most {METADATA_MAX_STRING} characters")
        return
    if depth >= METADATA_MAX_DEPTH:
        raise ValueError(f"metadata may nest at most {METADATA_MAX_DEPTH} levels")
    if isinstance(value, list):
        if len(value) > METADATA_MAX_KEYS:
            raise ValueError(f"{where} may hold at most {METADATA_MAX_KEYS} items")
        for item in value:
            _check_json_value(item, depth + 1, where)
        return
    if isinstance(value, dict):
        _check_metadata_object(value, depth + 1)
        return
    raise ValueError(f"{where} must be a JSON value")


def _check_metadata_object(value: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    if len(value) > METADATA_MAX_KEYS:
        raise ValueError(f"metadata may hold at most {METADATA_MAX_KEYS} keys")
    for key, item in value.items():
        _safe_text(key)
        if not key or len(key) > METADATA_MAX_KEY_LENGTH:
            raise ValueError(f"metadata keys must be 1-{METADATA_MAX_KEY_LENGTH} characters")
        _check_json_value(item, depth, f"metadata.{key}")
    return value


Metadata = Annotated[
    dict[str, Any],
    AfterValidator(_check_metadata_object),
    Field(description=f"Free-form JSON object (at most {METADATA_MAX_KEYS} keys), stored with the session."),
]


class RequestBody(BaseModel):
    """Base of every request body: camelCase only, unknown properties refused, no coercion."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        allow_inf_nan=False,
    )


class CreatePaymentSession(RequestBody):
    """Starts (or reuses) a Stripe Checkout Session for a course at the server's price."""

    course_id: Identifier
    coupon_code: CouponCodeText | None = None
    metadata: Metadata | None = None
    return_url: UrlText | None = Field(
        None,
        description="Where Stripe returns after paying; must be on the app's origin. "
        "`session_id={CHECKOUT_SESSION_ID}` is appended.",
    )
    cancel_url: UrlText | None = Field(None, description="Where Stripe returns on cancel; must be on the app's origin.")


class UpdatePaymentSession(RequestBody):
    """Replaces the session's metadata (nothing else of a payment session can change)."""

    metadata: Metadata


class ValidateCoupon(RequestBody):
    code: CouponCodeText
    course_id: Identifier
    amount: float | None = Field(
        None, description="Accepted for compatibility and ignored: prices come from the server."
    )


class CreateEnrollment(RequestBody):
    """Direct enrollment: a free course, or a completed payment session of the caller."""

    course_id: Identifier
    payment_session_id: Identifier | None = None


class UpdateEnrollmentProgress(RequestBody):
    progress: int | None = Field(None, description="Percent complete, 0–100.")
    current_lecture: int | None = Field(None, description="1 to the course's number of lectures.")
    completed_lectures: int | None = Field(None, description="0 to the course's number of lectures.")


class AddPaymentMethod(RequestBody):
    """With `paymentMethodId` (Stripe.js `pm_…`) attaches it; without, opens Checkout in setup mode."""

    payment_method_id: Identifier | None = None
    return_url: UrlText | None = None
    cancel_url: UrlText | None = None


# -- responses (documentation only: serializers build the dicts) ----------------------------


class ResponseBody(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, serialize_by_alias=True)


class ErrorDetail(ResponseBody):
    field: str
    message: str


class ErrorInfo(ResponseBody):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorResponse(ResponseBody):
    error: ErrorInfo


class PaymentSessionOut(ResponseBody):
    id: str
    course_id: str
    user_id: str
    status: str
    amount: int
    currency: str
    payment_intent_id: str | None
    enrollment_id: str | None
    metadata: dict[str, Any]
    stripe_session_id: str | None
    stripe_customer_id: str | None
    coupon_code: str | None
    discount_amount: int
    final_amount: int
    created_at: datetime | None
    updated_at: datetime | None
    expires_at: datetime | None


class CreatePaymentSessionResult(ResponseBody):
    success: bool
    session: PaymentSessionOut
    redirect_url: str | None


class CourseRef(ResponseBody):
    id: str
    slug: str
    title: str


class EnrollmentOut(ResponseBody):
    id: str
    user_id: str
    course_id: str
    status: str
    payment_status: str
    source: str
    payment_session_id: str | None
    amount_paid: int
    discount_applied: int
    currency: str
    progress: int
    current_lecture: int | None
    completed_lectures: int
    last_accessed_at: datetime | None
    enrolled_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    course: CourseRef | None


class CouponOut(ResponseBody):
    id: str
    code: str
    description: str | None
    discount_type: str
    discount_value: str = Field(description="Percent for PERCENTAGE, minor units for FIXED, as a decimal string.")
    currency: str | None
    max_uses: int | None
    current_uses: int
    max_uses_per_user: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    minimum_amount: int | None
    maximum_discount: int | None
    is_active: bool
    is_public: bool
    applicable_course_ids: list[str]


class CouponValidation(ResponseBody):
    is_valid: bool
    discount_amount: int | None = None
    final_amount: int | None = None
    amount: int | None = Field(None, description="The course's price (server side), minor units.")
    currency: str | None = None
    coupon: CouponOut | None = None
    message: str | None = None
    code: str | None = Field(None, description="Why the coupon was refused (when isValid is false).")


class PaymentMethodOut(ResponseBody):
    id: str
    stripe_payment_method_id: str
    type: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool
    created_at: datetime | None


class RedirectOut(ResponseBody):
    redirect_url: str


class SuccessOut(ResponseBody):
    success: bool


# -- validation errors in the API's error shape ---------------------------------------------


def _field_name(loc: tuple) -> str:
    return ".".join(str(part) for part in loc if part != "[key]")


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """pydantic errors as `[{field, message}]`, worded like the original's class-validator."""
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        name = _field_name(error["loc"]) or "body"
        kind = error["type"]
        if kind == "extra_forbidden":
            message = f"property {name} should not exist"
        elif kind == "missing":
            message = f"{name} should not be empty"
        elif kind == "string_type":
            message = f"{name} must be a string"
        elif kind in ("int_type", "int_parsing", "int_from_float"):
            message = f"{name} must be an integer number"
        elif kind in ("float_type", "float_parsing", "finite_number"):
            message = f"{name} must be a number"
        elif kind in ("dict_type", "model_type"):
            message = f"{name} must be an object"
        else:
            message = f"{name}: {error['msg'].removeprefix('Value error, ')}"
        details.append({"field": name, "message": message})
    return details


# -- OpenAPI ---------------------------------------------------------------------------------


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


def _schema_ref(model: type[BaseModel], *, many: bool = False) -> dict:
    ref = {"$ref": REF_TEMPLATE.format(model=model.__name__)}
    return {"type": "array", "items": ref} if many else ref


def _json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def build_openapi(routes: list[ApiRoute], *, prefix: str, server_url: str, version: str = "1.0.0") -> dict:
    """The OpenAPI 3.1 document for `routes`, with component schemas generated from the models."""
    models: list[type[BaseModel]] = [ErrorResponse]
    for route in routes:
        for model in (route.body, route.response, *(m for _, m in route.other_ok.values())):
            if model is not None and model not in models:
                models.append(model)
    _, defs = models_json_schema(
        [(m, "validation" if issubclass(m, RequestBody) else "serialization") for m in models],
        ref_template=REF_TEMPLATE,
    )
    paths: dict[str, dict] = {}
    for route in routes:
        responses: dict[str, dict] = {}
        ok: dict[str, Any] = {"description": route.ok_description}
        if route.response is not None:
            ok["content"] = _json_content(_schema_ref(route.response, many=route.response_is_list))
        responses[str(route.ok_status)] = ok
        for status, (description, model) in route.other_ok.items():
            extra: dict[str, Any] = {"description": description}
            if model is not None:
                extra["content"] = _json_content(_schema_ref(model))
            responses[str(status)] = extra
        codes = set(route.errors) | {401, 429}
        if route.body is not None:
            codes |= {400, 413, 415}
        for status in sorted(codes):
            responses[str(status)] = {
                "description": ERROR_DESCRIPTIONS[status],
                "content": _json_content(_schema_ref(ErrorResponse)),
            }
        operation: dict[str, Any] = {
            "operationId": route.endpoint,
            "summary": route.summary,
            "responses": responses,
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in _path_params(route.path)
        ]
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {
                "required": route.body_required,
                "content": _json_content(_schema_ref(route.body)),
            }
        paths.setdefault(prefix + route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Course checkout API",
            "version": version,
            "description": "JSON API of the original design. Authenticate with `Authorization: Bearer <Clerk "
            'session token>`; errors are `{"error": {"code", "message", "details"}}`.',
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _path_params(path: str) -> list[str]:
    names = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            names.append(part[1:-1])
    return names
