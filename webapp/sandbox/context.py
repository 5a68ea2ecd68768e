"""What every sandbox operation shares: its transaction, ids, events and list envelopes.

Every resource function runs inside one serialised sandbox transaction (`Ctx.tx`) and
either returns the changed object or raises `StripeAPIError` (which rolls it back). Events
are emitted through `Ctx.emit` in the same transaction and delivered only after it commits.
Keys starting with "_" are the sandbox's private bookkeeping and never leave it (`public`).
"""

from __future__ import annotations

import copy
import secrets
import string
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from webapp.sandbox.errors import invalid, missing
from webapp.sandbox.shapes import complete
from webapp.sandbox.store import Tx

API_VERSION = "2026-10-28.endive"  # what the pinned SDK (16.1) sends and expects

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """What Stripe would send: a deep copy without the sandbox's private ("_"-prefixed) keys,
    completed to every field the SDK declares for the object (`shapes.complete`)."""
    return complete({k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")})


def list_object(url: str, data: list[dict[str, Any]], has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


@dataclass
class Ctx:
    """What one sandbox operation needs: its transaction and where it came from."""

    tx: Tx
    base_url: str  # where the hosted pages live, e.g. APP_URL + "/_sandbox/stripe"
    webhooks_enabled: bool
    request_id: str | None = None
    idempotency_key: str | None = None
    now: int = field(default_factory=lambda: int(time.time()))
    emitted: list[str] = field(default_factory=list)

    def load(self, object_id: Any, object_type: str, kind: str, param: str = "id") -> dict[str, Any]:
        """The stored object of that type, or Stripe's 404 resource_missing."""
        if not isinstance(object_id, str) or not object_id:
            raise invalid(f"Invalid {kind} id", param=param)
        obj = self.tx.get(object_id)
        if obj is None or obj.get("object") != object_type:
            raise missing(kind, object_id, param)
        return obj

    @contextmanager
    def at(self, timestamp: int) -> Iterator[None]:
        """Runs the block at `timestamp` (a test clock's time, or a due time while advancing):
        objects and events it makes carry that time."""
        saved, self.now = self.now, timestamp
        try:
            yield
        finally:
            self.now = saved

    def emit(
        self, type_: str, obj: dict[str, Any], previous_attributes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Records an event (Stripe's envelope) carrying a snapshot of `obj`."""
        data: dict[str, Any] = {"object": public(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        evt = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now,
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 if self.webhooks_enabled else 0,
            "request": {"id": self.request_id, "idempotency_key": self.idempotency_key},
            "type": type_,
        }
        complete(evt)
        self.tx.add_event(evt)
        self.emitted.append(evt["id"])
        return evt
