"""The JSON API's request bodies, validated before any service runs.

Pydantic v2 models with the API's camelCase names as aliases (the only accepted
spelling), unknown properties forbidden and strict types: a string is never
coerced to a number nor a number to a string. The same models are the request schemas of
`/api/openapi.json` (webapp.web.api.openapi), so the document cannot drift from what the
views validate. Response shapes are in webapp.web.api_responses.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from pydantic.alias_generators import to_camel

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
    coupon_code: CouponCodeText | None = Field(
        None, description='A coupon code; `""` (as the design sends) means none.'
    )
    metadata: Metadata | None = None
    return_url: UrlText | None = Field(
        None,
        description="Where Stripe returns after paying; must be on the app's origin or a FRONTEND_URL origin. "
        "`session_id={CHECKOUT_SESSION_ID}` is appended.",
    )
    cancel_url: UrlText | None = Field(
        None, description="Where Stripe returns on cancel; on the app's or a FRONTEND_URL origin."
    )
    plan: Literal["full", "installments"] | None = Field(
        None,
        description='"full" (the default) or "installments": the first of the monthly installments the course '
        "offers (`installments` on the course; 400 `installments_not_offered` otherwise), on a Stripe subscription.",
    )

    @field_validator("coupon_code", mode="before")
    @classmethod
    def _empty_code_is_no_coupon(cls, value: Any) -> Any:
        return None if value == "" else value


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
    progress: float | None = Field(
        None, ge=0, le=100, description="Percent complete, 0–100, at most two decimals (DECIMAL(5,2))."
    )
    current_lecture_id: Identifier | None = Field(None, description="The front end's id of the current lecture.")
    current_lecture: int | None = Field(None, description="1 to the course's number of lectures.")
    completed_lectures: int | None = Field(None, description="0 to the course's number of lectures.")


class AddPaymentMethod(RequestBody):
    """With `paymentMethodId` (Stripe.js `pm_…`) attaches it; without, opens Checkout in setup mode."""

    payment_method_id: Identifier | None = None
    return_url: UrlText | None = None
    cancel_url: UrlText | None = None


# -- validation errors in the API's error shape ---------------------------------------------


def _field_name(loc: tuple) -> str:
    return ".".join(str(part) for part in loc if part != "[key]")


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """pydantic errors as `[{field, message}]`, in the wording the API's clients already parse."""
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
