"""Parameter coercion: Stripe receives form-encoded strings and coerces them per field."""

from __future__ import annotations

from typing import Any

from webapp.sandbox.errors import invalid


def as_int(value: Any, param: str, *, minimum: int | None = None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid integer: {value}", param=param) from None
    if minimum is not None and number < minimum:
        if minimum == 1:
            raise invalid(f"Invalid positive integer: {value}", param=param)
        raise invalid(f"This value must be greater than or equal to {minimum}.", param=param)
    return number


def as_str(value: Any, param: str, *, required: bool = False, max_len: int = 5000) -> str | None:
    if value is None or value == "":
        if required:
            raise invalid(f"Missing required param: {param}.", param=param)
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {value!r}", param=param)
    if len(value) > max_len:
        raise invalid(f"Invalid string: must be at most {max_len} characters", param=param)
    return value


def as_bool(value: Any, param: str) -> bool:
    if value in (True, "true"):
        return True
    if value in (False, "false", None, ""):
        return False
    raise invalid(f"Invalid boolean: {value}", param=param)


def as_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid object", param=param)
    if len(value) > 50:
        raise invalid("Metadata can have at most 50 keys.", param=param)
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid("Invalid metadata value: must be a string", param=f"{param}[{key}]")
        if len(key) > 40 or len(item) > 500:
            raise invalid("Metadata keys are limited to 40 and values to 500 characters.", param=param)
    return dict(value)


def merge_metadata(current: dict[str, str], update: dict[str, str]) -> dict[str, str]:
    """Stripe's update semantics: keys set to "" are removed, others replaced."""
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def as_currency(value: Any, param: str = "currency") -> str:
    text = as_str(value, param, required=True)
    assert text is not None
    if len(text) != 3 or not text.isalpha():
        raise invalid(f"Invalid currency: {text}", param=param)
    return text.lower()


def refuse_unmodelled(params: Any, allowed: set[str], prefix: str = "") -> None:
    """Refuses parameters Stripe accepts but the sandbox does not model (rather than ignore
    them and answer as if they had applied)."""
    if not isinstance(params, dict):
        return
    for key in params:
        if key not in allowed:
            param = f"{prefix}[{key}]" if prefix else key
            raise invalid(f"The sandbox does not model `{param}` on this endpoint.", param=param)
