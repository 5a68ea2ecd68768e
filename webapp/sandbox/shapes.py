"""Objects in the shape the SDK declares: every field present, nested objects complete.

The resource builders set what the sandbox models; `complete` adds each field the SDK
resource class declares and the builder left out — null where the type is optional (what
Stripe sends for a feature not in use), else the type's empty value (false, 0, "", [], or
the nested object, itself completed). Includable lists (`ListObject` fields such as a
session's `line_items`) stay absent unless expanded, and a few fields Stripe leaves out
unless they apply (`OMITTED_UNLESS_SET`) are not added.
"""

from __future__ import annotations

import importlib
import typing
from typing import Any

from stripe._object_classes import OBJECT_CLASSES

from webapp.sandbox import definitions as d

# (object or nested class name, field): left out by Stripe unless it applies.
OMITTED_UNLESS_SET = frozenset(
    {
        ("refund", "failure_reason"),
        ("refund", "failure_balance_transaction"),
        ("LastPaymentError", "decline_code"),
        ("LastSetupError", "decline_code"),
    }
)


def resource_for(object_name: Any) -> type | None:
    """The SDK resource class for an object's `object` value ('checkout.session' -> Session)."""
    found = OBJECT_CLASSES.get(object_name) if isinstance(object_name, str) else None
    if found is None:
        return None
    module, name = found
    return getattr(importlib.import_module(module), name)


def complete(obj: dict[str, Any], cls: type | None = None) -> dict[str, Any]:
    """Adds (in place) every declared field `obj` lacks, recursively; returns `obj`."""
    cls = cls or resource_for(obj.get("object"))
    if cls is None:
        return obj
    owner = obj["object"] if isinstance(obj.get("object"), str) else cls.__name__
    for name, field in d.resource_fields(cls).items():
        tp = d.resolve(field.type, cls)
        if name in obj:
            obj[name] = _complete_value(obj[name], tp, cls)
        elif (owner, name) not in OMITTED_UNLESS_SET and not _includable(tp):
            obj[name] = empty_value(tp, cls)
    return obj


def _complete_value(value: Any, tp: Any, owner: Any) -> Any:
    if isinstance(value, dict):
        target = _object_class(value, tp, owner)
        if target is not None:
            return complete(value, target)
        item = _list_item(tp, owner)
        if item is not None and value.get("object") == "list":
            value["data"] = [_complete_value(v, item, owner) for v in value.get("data", [])]
    elif isinstance(value, list):
        item = _array_item(tp)
        if item is not None:
            return [_complete_value(v, d.resolve(item, owner), owner) for v in value]
    return value


def _object_class(value: dict[str, Any], tp: Any, owner: Any) -> type | None:
    """The StripeObject class a dict value of type `tp` is (nested, or an expanded resource)."""
    if value.get("object") == "list":
        return None
    for member in d.members(tp):
        member = d.resolve(member, owner)
        if d.is_stripe_object(member):
            return resource_for(value.get("object")) or member
    return None


def _list_item(tp: Any, owner: Any) -> Any | None:
    for member in d.members(tp):
        item = d.list_item_type(member)
        if item is not None:
            return d.resolve(item, owner)
    return None


def _array_item(tp: Any) -> Any | None:
    for member in d.members(tp):
        if typing.get_origin(member) is list:
            return typing.get_args(member)[0]
    return None


def _includable(tp: Any) -> bool:
    return any(d.list_item_type(m) is not None for m in d.members(tp))


def empty_value(tp: Any, owner: Any) -> Any:
    """What Stripe sends for a field the sandbox does not model (module docstring)."""
    options = d.members(tp)
    if type(None) in options:
        return None
    tp = d.resolve(options[0], owner)
    if d.is_stripe_object(tp):
        return complete({}, tp)
    values = d.literal_values(tp)
    if values:
        return values[0]
    origin = typing.get_origin(tp)
    if origin is list:
        return []
    if origin is dict or tp is dict:
        return {}
    return {bool: False, int: 0, float: 0.0, str: ""}.get(tp)
