"""Stripe's `expand[]`: ids replaced with the objects they name, along dotted paths."""

from __future__ import annotations

from typing import Any

from webapp.sandbox.context import Ctx, public
from webapp.sandbox.errors import invalid


def expand(ctx: Ctx, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Replaces ids with objects along each dotted path, like Stripe's `expand[]`."""
    for path in paths:
        _expand_path(ctx, obj, path.split("."), path)
    return obj


def _expand_path(ctx: Ctx, node: Any, parts: list[str], path: str) -> None:
    if not parts or not isinstance(node, dict):
        return
    key, rest = parts[0], parts[1:]
    if node.get("object") == "list" and key == "data":
        for item in node["data"]:
            _expand_path(ctx, item, rest, path)
        return
    if key not in node:
        raise invalid(f"This property cannot be expanded ({path}).", param="expand")
    value = node[key]
    if isinstance(value, str):
        loaded = ctx.tx.get(value)
        if loaded is not None:
            node[key] = public(loaded)
    _expand_path(ctx, node[key], rest, path)
