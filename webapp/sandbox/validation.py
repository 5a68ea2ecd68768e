"""Request validation against the SDK's parameter definitions (`stripe.params`).

Every request the sandbox serves is checked, nested, before its handler runs: a parameter
the endpoint does not declare is refused (`parameter_unknown`), a required one that is
absent too (`parameter_missing`), and each value must fit its declared type — integers,
booleans, enums from the declared `Literal`s, hashes and arrays of the declared shapes.
`expand` may name only fields the resource declares expandable; list `limit` is 1..100.
Values arrive form-encoded, so scalars are strings and are checked as Stripe coerces them.
"""

from __future__ import annotations

import re
import typing
from typing import Any

from webapp.sandbox import definitions as d
from webapp.sandbox.errors import StripeAPIError

_INTEGER = re.compile(r"^-?[0-9]+$")
_DECIMAL = re.compile(r"^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")
_BOOLEANS = ("true", "false")


class ParameterError(StripeAPIError):
    """A request Stripe's definitions refuse: a 400 `invalid_request_error`."""

    def __init__(self, message: str, *, param: str, code: str | None = None) -> None:
        super().__init__(400, message, param=param, code=code)


def invalid(message: str, *, param: str, code: str | None = None) -> ParameterError:
    return ParameterError(message, param=param, code=code)


def unknown(param: str) -> ParameterError:
    return invalid(f"Received unknown parameter: {param}", param=param, code="parameter_unknown")


def validate_request(params: dict[str, Any], params_cls: type, resource: type, *, listing: bool) -> None:
    """Everything this module checks, for one request to one route."""
    validate_params(params, params_cls)
    expand = params.get("expand")
    if expand not in (None, ""):
        validate_expand(list(expand), resource, listing=listing)
    if listing and params.get("limit") not in (None, ""):
        limit = int(params["limit"])
        if not 1 <= limit <= 100:
            raise invalid(
                "Invalid limit: must be an integer between 1 and 100.", param="limit", code="parameter_invalid_integer"
            )


def validate_params(params: dict[str, Any], cls: type) -> None:
    """Refuses `params` unless they fit the params TypedDict `cls` (module docstring)."""
    _check_hash(params, cls, "")


def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def _check_hash(value: dict[str, Any], cls: type, prefix: str) -> None:
    declared = d.fields(cls)
    for key in value:
        if key not in declared:
            raise unknown(_name(prefix, key))
    for key, field in declared.items():
        if field.required and value.get(key) in (None, ""):
            param = _name(prefix, key)
            raise invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")
    for key, item in value.items():
        _check(item, d.resolve(declared[key].type, cls), _name(prefix, key), cls)


def _check(value: Any, tp: Any, param: str, owner: Any) -> None:
    tp = d.resolve(tp, owner)
    options = d.members(tp)
    if len(options) > 1:
        _check_union(value, options, param, owner)
        return
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        _check_enum(value, d.literal_values(tp), param)
    elif d.is_typed_dict(tp):
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {param} must be a hash.", param=param)
        _check_hash(value, tp, param)
    elif origin is list:
        _check_array(value, typing.get_args(tp)[0], param, owner)
    elif origin is dict or origin is d.UntypedStripeObject:
        _check_metadata_like(value, param)
    else:
        _check_scalar(value, tp, param)


def _check_union(value: Any, options: tuple[Any, ...], param: str, owner: Any) -> None:
    """A union: `Literal[...] | str` is an enum; `Literal['']` lets an empty string unset."""
    literals = tuple(v for o in options for v in d.literal_values(o))
    enum = tuple(v for v in literals if v != "")
    others = [o for o in options if typing.get_origin(o) is not typing.Literal]
    if value == "" and "" in literals:
        return
    if isinstance(value, str) and enum and str in others:
        _check_enum(value, enum, param)
        return
    first_error: StripeAPIError | None = None
    for option in others or options:
        try:
            _check(value, option, param, owner)
            return
        except StripeAPIError as exc:
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def _check_enum(value: Any, values: tuple[str, ...], param: str) -> None:
    if not isinstance(value, str) or value not in values:
        shown = values[0] if len(values) == 1 else ", ".join(values[:-1]) + f" or {values[-1]}"
        if len(values) > 2:
            shown = ", ".join(values[:-1]) + f", or {values[-1]}"
        raise invalid(f"Invalid {param}: must be one of {shown}", param=param)


def _check_array(value: Any, item_type: Any, param: str, owner: Any) -> None:
    if value == "":
        return  # an empty array, as the SDK encodes one
    if not isinstance(value, list):
        raise invalid(f"Invalid array: {param} must be an array.", param=param)
    for index, item in enumerate(value):
        _check(item, item_type, f"{param}[{index}]", owner)


def _check_metadata_like(value: Any, param: str) -> None:
    if value == "":
        return
    if not isinstance(value, dict):
        raise invalid(f"Invalid object: {param} must be a hash.", param=param)
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid(f"Invalid string: {_name(param, key)} must be a string.", param=_name(param, key))


def _check_scalar(value: Any, tp: Any, param: str) -> None:
    if tp is typing.Any or tp is object:
        return
    if not isinstance(value, str):
        raise invalid(f"Invalid {param}: expected a single value, got a hash or an array.", param=param)
    if tp is int and not _INTEGER.match(value):
        raise invalid(f"Invalid integer: {value}", param=param, code="parameter_invalid_integer")
    if tp is float and not _DECIMAL.match(value):
        raise invalid(f"Invalid decimal: {value}", param=param)
    if tp is bool and value not in _BOOLEANS:
        raise invalid(f"Invalid boolean: {value}", param=param)


def validate_expand(paths: list[str], resource: type, *, listing: bool) -> None:
    """Refuses an `expand[]` path unless each step names an expandable field of the resource.

    Expandable: a field the SDK types as "id or object" (`str | Resource`), or an includable
    list (`ListObject[...]`). A list endpoint's paths start with `data.`.
    """
    for path in paths:
        parts = path.split(".")
        if listing:
            if parts[0] != "data" or len(parts) < 2:
                raise _not_expandable(path)
            parts = parts[1:]
        _walk_expand(path, parts, resource)


def _walk_expand(path: str, parts: list[str], cls: Any) -> None:
    for index, part in enumerate(parts):
        field = d.resource_fields(cls).get(part) if isinstance(cls, type) else None
        if field is None:
            raise _not_expandable(path)
        item = d.list_item_type(d.members(field.type)[0]) or _list_in(field.type)
        if item is not None:
            rest = parts[index + 1 :]
            if rest and rest[0] != "data":
                raise _not_expandable(path)
            _walk_expand(path, rest[1:], d.resolve(item, cls))
            return
        target = d.expandable_target(field.type, cls)
        if target is None:
            raise _not_expandable(path)
        cls = target


def _list_in(tp: Any) -> Any | None:
    for member in d.members(tp):
        item = d.list_item_type(member)
        if item is not None:
            return item
    return None


def _not_expandable(path: str) -> StripeAPIError:
    return invalid(f"This property cannot be expanded ({path}).", param="expand")
