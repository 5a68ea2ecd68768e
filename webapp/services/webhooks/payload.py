"""What a verified event must look like before the inbox stores it or a handler reads it.

The signature proves a body is Stripe's, not that its fields have the types a handler
reads; a signed body must still get a decided answer, never a 500. Two levels:

- the envelope (`envelope_problem`): an event we can't store or dispatch — an `id` or
  `type` that isn't a usable string, nesting deeper than MAX_DEPTH, or text the database
  can't hold (U+0000 or an unpaired surrogate, anywhere). The webhook refuses it with 400 and the returned code.
- the fields its handler reads (`field_problem`): a wrong JSON type in `data.object` or
  under it. The event is recorded IGNORED with a reason that names the field and answers
  200: redelivering a signed payload can't change it.
"""

from __future__ import annotations

import re
from typing import Any

#: Stripe object ids: letters, digits and underscores (`cs_test_…`, `pm_…`, `pi_…`).
STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")

#: Stripe's events nest a dozen levels at most; much deeper JSON parses, yet serialising it
#: again to store it can exhaust Python's recursion limit.
MAX_DEPTH = 64

# Escapes that may decode to text the database refuses; only then is the event walked.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF])")
_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")

_ID = "a Stripe id"
_KINDS: dict[Any, tuple[type, ...]] = {
    str: (str,),
    dict: (dict,),
    bool: (bool,),
    int: (int,),
    _ID: (str,),
    (str, dict): (str, dict),
}
_NAMES: dict[Any, str] = {
    str: "a string",
    dict: "an object",
    bool: "a boolean",
    int: "an integer",
    (str, dict): "a string or an object",
}

# What each handler reads: (path under the event, expected kind, required); a child is
# checked only when its parent is an object. The first matching prefix applies.
_SESSION_PAID = (("data.object.id", _ID, True),)  # the session is re-read from Stripe by its id
_SESSION_CLOSED = (
    *_SESSION_PAID,
    ("data.object.metadata", dict, False),
    ("data.object.metadata.payment_session_id", str, False),
    ("data.object.client_reference_id", str, False),
)
_PAYMENT_INTENT = (
    ("data.object.id", _ID, False),
    ("data.object.metadata", dict, False),
    ("data.object.metadata.payment_session_id", str, False),
    ("data.object.last_payment_error", dict, False),
    ("data.object.last_payment_error.code", str, False),
)
_CHARGE_LINK = (
    ("data.object.payment_intent", (str, dict), False),
    ("data.object.payment_intent.id", str, False),
)
_DISPUTE = (
    *_CHARGE_LINK,
    ("data.object.id", str, False),
    ("data.object.status", str, False),
    ("data.object.reason", str, False),
    ("data.object.amount", int, False),
    ("data.object.currency", str, False),
)
_PAYMENT_METHOD = (
    ("data.object.id", _ID, True),
    ("data.object.type", str, False),
)
_INVOICE = (
    ("data.object.parent", dict, False),
    ("data.object.parent.subscription_details", dict, False),
    ("data.object.parent.subscription_details.subscription", (str, dict), False),
    ("data.object.parent.subscription_details.metadata", dict, False),
    ("data.object.parent.subscription_details.metadata.payment_session_id", str, False),
    ("created", int, False),
)
_SUBSCRIPTION = (
    ("data.object.id", _ID, True),
    ("data.object.metadata", dict, False),
    ("data.object.metadata.payment_session_id", str, False),
    ("created", int, False),
)
_SCHEDULE = (
    ("data.object.subscription", (str, dict), False),
    ("data.object.released_subscription", str, False),
    ("created", int, False),
)
_FIELDS_BY_PREFIX = (
    ("checkout.session.completed", _SESSION_PAID),
    ("checkout.session.async_payment_succeeded", _SESSION_PAID),
    ("checkout.session.", _SESSION_CLOSED),
    ("payment_intent.", _PAYMENT_INTENT),
    ("charge.dispute.", _DISPUTE),
    ("charge.refund", _CHARGE_LINK),  # charge.refunded, charge.refund.updated
    ("refund.", _CHARGE_LINK),
    ("payment_method.", _PAYMENT_METHOD),
    ("invoice.", _INVOICE),
    ("customer.subscription.", _SUBSCRIPTION),
    ("subscription_schedule.", _SCHEDULE),
)
_OBJECT = (("data", dict, True), ("data.object", dict, True))


def envelope_problem(event: dict[str, Any], raw: bytes) -> tuple[str, str] | None:
    """(code, message) when the event can't be stored or dispatched, else None."""
    event_type = event.get("type")
    if not isinstance(event_type, str) or not event_type:
        return "invalid_type", f"`type` must be a non-empty string, not {_json_kind(event_type)}."
    if "id" not in event:
        return "missing_id", "The event has no `id`."
    event_id = event["id"]
    if not isinstance(event_id, str) or not STRIPE_ID.fullmatch(event_id):
        return "invalid_id", "`id` must be a Stripe id (letters, digits, underscores; at most 255)."
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _nests_deeper_than(event, MAX_DEPTH):
        return "too_deeply_nested", f"The event nests objects or arrays deeper than {MAX_DEPTH} levels."
    if _SUSPECT_ESCAPE.search(raw):
        path = _unstorable_text_at(event)
        if path is not None:
            return "unsupported_text", f"`{path}` holds U+0000 or an unpaired surrogate, which can't be stored."
    return None


def field_problem(event: dict[str, Any], event_type: str) -> str | None:
    """Why the fields `event_type`'s handler reads can't be trusted (naming the field), else None."""
    livemode = event.get("livemode")
    if livemode is not None and not isinstance(livemode, bool):
        return f"`livemode` is {_json_kind(livemode)}, not a boolean"
    for prefix, fields in _FIELDS_BY_PREFIX:
        if event_type.startswith(prefix):
            return _first_mistyped(event, (*_OBJECT, *fields))
    return None


def _first_mistyped(event: dict[str, Any], fields) -> str | None:
    for path, kind, required in fields:
        parent_path, _, name = path.rpartition(".")
        parent = _at(event, parent_path) if parent_path else event
        if not isinstance(parent, dict):
            continue  # the parent was absent or allowed to be a string; nothing under it to read
        value = parent.get(name)
        if value is None:
            if required:
                return f"`{path}` is missing"
            continue
        wanted = _KINDS[kind]
        if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
            return f"`{path}` is {_json_kind(value)}, not {_NAMES.get(kind, 'a string')}"
        if kind == _ID and not STRIPE_ID.fullmatch(value):
            return f"`{path}` is not a Stripe id"
    return None


def _at(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for name in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    return "an array" if isinstance(value, list) else "an object"


def _nests_deeper_than(event: dict[str, Any], limit: int) -> bool:
    stack: list[tuple[int, Any]] = [(1, event)]
    while stack:
        depth, value = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((depth + 1, item) for item in value.values() if isinstance(item, (dict, list)))
        elif isinstance(value, list):
            stack.extend((depth + 1, item) for item in value if isinstance(item, (dict, list)))
    return False


def _unstorable_text_at(event: dict[str, Any]) -> str | None:
    """The path of the first key or string holding U+0000 or a lone surrogate, if any."""
    stack: list[tuple[str, Any]] = [("", event)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _UNSTORABLE_TEXT.search(value):
                return _printable(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else key
                if _UNSTORABLE_TEXT.search(key):
                    return _printable(child)
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return None


def _printable(path: str) -> str:
    return path.encode("ascii", "backslashreplace").decode("ascii")
