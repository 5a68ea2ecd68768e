"""Stripe's `expand[]`: ids replaced with the objects they name, along dotted paths.

Includable lists (a session's `line_items`, a charge's `refunds`) are absent from an object
until a path names them; then they are built from the stored object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from webapp.sandbox.context import Ctx, public
from webapp.sandbox.errors import invalid
from webapp.sandbox.resources.charges import charge_refunds
from webapp.sandbox.resources.checkout_sessions import session_line_items
from webapp.sandbox.resources.invoices import invoice_payments

# object -> {field: builder}: the lists Stripe includes only when expanded.
INCLUDABLE: dict[Any, dict[str, Callable[[Ctx, dict[str, Any]], dict[str, Any]]]] = {
    "checkout.session": {
        "line_items": lambda ctx, s: session_line_items(s, f"/v1/checkout/sessions/{s['id']}/line_items")
    },
    "charge": {"refunds": lambda ctx, charge: charge_refunds(charge, ctx)},
    "invoice": {"payments": invoice_payments},
}


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
        builder = INCLUDABLE.get(node.get("object"), {}).get(key)
        stored = ctx.tx.get(node.get("id") or "") if builder else None
        if builder is None or stored is None:
            raise invalid(f"This property cannot be expanded ({path}).", param="expand")
        node[key] = builder(ctx, stored)
    value = node[key]
    if isinstance(value, str):
        loaded = ctx.tx.get(value)
        if loaded is not None:
            node[key] = public(loaded)
    _expand_path(ctx, node[key], rest, path)
