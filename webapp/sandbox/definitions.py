"""Stripe's own definitions, read from the pinned `stripe` SDK.

The SDK is generated from Stripe's API specification: request parameters are TypedDicts under
`stripe.params` (nested TypedDicts for nested parameters, `Literal`s for enums), and each
resource class annotates the fields of the object Stripe returns. The sandbox validates
requests against the first and builds objects to match the second, so that what passes
offline is what Stripe accepts and returns.
"""

from __future__ import annotations

import functools
import sys
import types
import typing
from dataclasses import dataclass
from typing import Any, ForwardRef, Literal, Union

import stripe
from stripe._list_object import ListObject
from stripe._request_options import RequestOptions
from stripe._stripe_object import StripeObject, UntypedStripeObject

_REQUEST_OPTIONS = frozenset(RequestOptions.__annotations__)
_WRAPPERS = {"NotRequired", "Required", "ReadOnly"}


@dataclass(frozen=True)
class Field:
    """One declared field or parameter: its type and whether Stripe requires it."""

    type: Any
    required: bool


def _unwrap(annotation: Any) -> tuple[Any, bool | None]:
    """(inner type, required flag) for `NotRequired[X]`/`Required[X]`; (X, None) otherwise."""
    origin = typing.get_origin(annotation)
    name = getattr(origin, "_name", None) or getattr(annotation, "_name", None)
    if name in _WRAPPERS and typing.get_args(annotation):
        inner = typing.get_args(annotation)[0]
        return inner, name != "NotRequired" if name != "ReadOnly" else None
    return annotation, None


def resolve(annotation: Any, owner: Any) -> Any:
    """`annotation` with string and ForwardRef parts evaluated where `owner` was defined."""
    if isinstance(annotation, ForwardRef):
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        return _evaluate(annotation, owner)
    return annotation


def _evaluate(text: str, owner: Any) -> Any:
    namespace: dict[str, Any] = {"Literal": Literal, "Union": Union, "Optional": typing.Optional}
    namespace.update({"List": list, "Dict": dict, "Any": Any})
    namespace.update(vars(sys.modules[owner.__module__]))
    namespace.update({"UntypedStripeObject": UntypedStripeObject})
    try:
        return eval(text, namespace)  # noqa: S307 - the SDK's own annotations
    except NameError:
        return resource_class(text)


def resource_class(name: str) -> Any:
    """The SDK resource class a forward reference names ('PaymentIntent', 'LineItem')."""
    for module in (stripe, stripe.checkout, stripe.test_helpers):
        found = getattr(module, name, None)
        if isinstance(found, type):
            return found
    return Any


@functools.cache
def fields(cls: type) -> dict[str, Field]:
    """The declared fields of a params TypedDict or a resource class, types resolved."""
    is_request = RequestOptions in getattr(cls, "__orig_bases__", ())
    required_keys = getattr(cls, "__required_keys__", frozenset())
    out: dict[str, Field] = {}
    for klass in reversed(cls.__mro__):
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if is_request and name in _REQUEST_OPTIONS:
                continue
            inner, flag = _unwrap(resolve(annotation, klass))
            inner, again = _unwrap(resolve(inner, klass))
            required = flag if flag is not None else (again if again is not None else name in required_keys)
            out[name] = Field(resolve(inner, klass), bool(required))
    return out


def resource_fields(cls: type) -> dict[str, Field]:
    """The fields of a resource's object (`object`, `id`... included); class attributes skipped."""
    return {name: f for name, f in fields(cls).items() if not name.startswith("_") and not _is_classvar(f.type)}


def _is_classvar(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.ClassVar or tp is typing.ClassVar


def members(tp: Any) -> tuple[Any, ...]:
    """The members of a Union (or `X | Y`); a one-tuple for anything else."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return (tp,)


def literal_values(tp: Any) -> tuple[str, ...]:
    """Every value of the `Literal` members of `tp`."""
    values: list[str] = []
    for member in members(tp):
        if typing.get_origin(member) is Literal:
            values.extend(str(v) for v in typing.get_args(member))
    return tuple(values)


def is_typed_dict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__annotations__")


def is_stripe_object(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, StripeObject) and tp is not UntypedStripeObject


def list_item_type(tp: Any) -> Any | None:
    """T for `ListObject[T]` (a list envelope of Stripe objects), else None."""
    if typing.get_origin(tp) is ListObject:
        (item,) = typing.get_args(tp)
        return item
    return None


def expandable_target(tp: Any, owner: Any) -> Any | None:
    """The resource an expandable field expands to (`str | Resource`), else None."""
    options = [m for m in members(tp) if m is not type(None)]
    if str not in options or len(options) != 2:
        return None
    (other,) = [m for m in options if m is not str]
    target = resolve(other, owner)
    return target if is_stripe_object(target) else None
