"""Stripe's list endpoints: cursors, filters before the limit, exact `has_more`.

Lists are newest first. `starting_after` pages on to older objects and `ending_before`
back to newer ones; a cursor naming no object of the list is refused. Every filter —
including those Stripe applies to fields the sandbox keeps only inside the stored JSON —
applies before `limit`, so a page is never short while more matches exist, and `has_more`
is true exactly when another match lies beyond the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from webapp.sandbox.context import Ctx, list_object
from webapp.sandbox.errors import invalid
from webapp.sandbox.store import events, objects

_OPERATORS = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}


def limit_of(params: dict[str, Any]) -> int:
    """`limit`: 10 by default, 1..100 allowed (validation has made it an integer string)."""
    raw = params.get("limit")
    if raw in (None, ""):
        return 10
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise invalid(f"Invalid integer: {raw}", param="limit", code="parameter_invalid_integer") from None
    if not 1 <= limit <= 100:
        raise invalid(
            "Invalid limit: must be an integer between 1 and 100.", param="limit", code="parameter_invalid_integer"
        )
    return limit


def created_conditions(column: Any, value: Any) -> list[Any]:
    """`created=N` or `created[gt|gte|lt|lte]=N` as SQL conditions on `column`."""
    if value in (None, ""):
        return []
    if not isinstance(value, dict):
        return [column == int(value)]
    return [getattr(column, _OPERATORS[op])(int(bound)) for op, bound in value.items() if op in _OPERATORS]


def page(
    ctx: Ctx,
    params: dict[str, Any],
    url: str,
    *,
    table: sa.Table,
    conditions: list[Any],
    kind: str,
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """One list page of `table` rows matching `conditions` and `keep` (module docstring)."""
    limit = limit_of(params)
    after = params.get("starting_after") or None
    before = params.get("ending_before") or None
    if after and before:
        raise invalid(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
            code="parameters_exclusive",
        )
    after_seq = _cursor(ctx, table, after, kind, "starting_after")
    before_seq = _cursor(ctx, table, before, kind, "ending_before")
    conditions = [*conditions, *created_conditions(table.c.created, params.get("created"))]
    found, has_more = ctx.tx.page(table, conditions, limit=limit, keep=keep, after_seq=after_seq, before_seq=before_seq)
    return list_object(url, found, has_more)


def _cursor(ctx: Ctx, table: sa.Table, object_id: Any, kind: str, param: str) -> int | None:
    if object_id is None:
        return None
    seq = ctx.tx.seq_of(table, object_id) if isinstance(object_id, str) else None
    if seq is None:
        raise invalid(f"No such {kind}: '{object_id}'", param=param, code="resource_missing")
    return seq


def object_page(
    ctx: Ctx,
    params: dict[str, Any],
    url: str,
    *,
    object_type: str,
    kind: str,
    keep: Callable[[dict[str, Any]], bool] | None = None,
    **indexed: str | None,
) -> dict[str, Any]:
    """A page of stored objects of `object_type`; `indexed` filters by customer/payment_intent."""
    conditions = [objects.c.type == object_type]
    for column, value in indexed.items():
        if value is not None:
            conditions.append(objects.c[column] == value)
    return page(ctx, params, url, table=objects, conditions=conditions, kind=kind, keep=keep)


def list_events(ctx: Ctx, params: dict[str, Any], url: str) -> dict[str, Any]:
    """`GET /v1/events`: filtered by `type` (a `*` wildcard allowed) or `types[]`, and `created`."""
    conditions: list[Any] = []
    if params.get("type") and params.get("types"):
        raise invalid(
            "You may only specify one of these parameters: type, types.", param="types", code="parameters_exclusive"
        )
    if params.get("type"):
        conditions.append(_type_condition(params["type"]))
    if params.get("types"):
        conditions.append(sa.or_(*(_type_condition(t) for t in params["types"])))
    return page(ctx, params, url, table=events, conditions=conditions, kind="event")


def _type_condition(pattern: str) -> Any:
    if "*" in pattern:
        escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return events.c.type.like(escaped.replace("*", "%"), escape="\\")
    return events.c.type == pattern
