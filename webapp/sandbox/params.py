"""Stripe's form-encoded bracket parameters, parsed into nested dicts and lists.

The SDK sends `line_items[0][price_data][unit_amount]=1000`, `metadata[k]=v` and
`expand[0]=payment_intent` (older clients send `expand[]=...`). This turns such pairs back
into the structure the SDK started from: a dict whose keys are all decimal indices becomes a
list in index order; scalar values stay strings (Stripe's API coerces them per field, and so
do the sandbox's handlers).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


class ParamError(ValueError):
    """A parameter name that cannot be parsed; `param` names it for the error body."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def parse_form(body: str) -> dict[str, Any]:
    """Parses an `application/x-www-form-urlencoded` body (or query string)."""
    return parse_pairs(parse_qsl(body, keep_blank_values=True))


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Builds the nested structure from (bracketed key, value) pairs, in order."""
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        match = _KEY.match(raw_key)
        if not match:
            raise ParamError(f"Invalid parameter name: {raw_key}", raw_key)
        path = [match.group(1), *_PART.findall(match.group(2))]
        node: dict[str, Any] = root
        for depth, part in enumerate(path):
            if part == "":
                # `expand[]=a&expand[]=b`: append in order.
                part = str(sum(1 for k in node if k.isdigit()))
            last = depth == len(path) - 1
            if last:
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ParamError(f"Invalid parameter nesting: {raw_key}", raw_key)
                node = child
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted
