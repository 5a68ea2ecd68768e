"""The sandbox's REST API: Stripe's routes, auth, idempotency and fault injection.

`handle_api` is plain Python — (method, path, query, headers, body) in, `ApiResponse` out —
so the same code answers the Flask view at `/_sandbox/stripe/v1/...` (SDK over HTTP) and
the gateway's in-process HTTP client (no port, no nested Flask request).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from webapp.sandbox.coerce import as_int, as_str
from webapp.sandbox.context import API_VERSION, Ctx, list_object, new_id, public
from webapp.sandbox.errors import StripeAPIError, invalid, missing
from webapp.sandbox.expand import expand
from webapp.sandbox.params import ParamError, parse_form
from webapp.sandbox.resources.checkout_sessions import (
    create_checkout_session,
    expire_session,
    list_sessions,
    load_session,
    session_line_items,
)
from webapp.sandbox.resources.customers import create_customer, update_customer
from webapp.sandbox.resources.payment_methods import (
    attach_payment_method,
    detach_payment_method,
    list_payment_methods,
)
from webapp.sandbox.resources.refunds import create_refund, list_refunds

if TYPE_CHECKING:
    from webapp.sandbox.core import Sandbox

Handler = Callable[[Ctx, dict[str, Any], dict[str, str], str], dict[str, Any]]


@dataclass(frozen=True)
class ApiResponse:
    """What the API answers. `network_fault` means: behave like a dropped connection."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    network_fault: bool = False


_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []
_ID = r"(?P<id>[A-Za-z0-9_]+)"


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _ROUTES.append((method, re.compile(f"^/v1{pattern.replace('{id}', _ID)}$"), handler))
        return handler

    return register


def _json(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> ApiResponse:
    return ApiResponse(
        status, json.dumps(payload, indent=2).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


def _expand_list(params: dict[str, Any]) -> list[str]:
    value = params.get("expand") or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid("Invalid array", param="expand")
    return value


def _render(ctx: Ctx, obj: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    paths = _expand_list(params)
    out = public(obj)
    if obj.get("object") == "checkout.session" and "line_items" in paths:
        out["line_items"] = session_line_items(obj, f"/v1/checkout/sessions/{obj['id']}/line_items")
        paths = [p for p in paths if p != "line_items"]
    return expand(ctx, out, paths)


def handle_api(
    sandbox: Sandbox, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
) -> ApiResponse:
    """Answers one API request as Stripe would (see module docstring).

    The whole request is one serialised sandbox transaction: the fault counter, the
    idempotency check and the handler's changes share one lock and one commit.
    """
    method = method.upper()
    request_id = new_id("req_", 14)
    idem_key = _header(headers, "Idempotency-Key") if method == "POST" else None
    base = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
    if idem_key:
        base["Idempotency-Key"] = idem_key
    try:
        with sandbox.operation(request_id=request_id, idempotency_key=idem_key) as ctx:
            return _answer(ctx, method, path, query, headers, body, base)
    except StripeAPIError as exc:
        body_ = exc.body()
        body_["error"]["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return _json(exc.status, body_, base)


def _answer(
    ctx: Ctx, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, base: dict[str, str]
) -> ApiResponse:
    """`handle_api` inside its transaction; a StripeAPIError raised here rolls it back."""
    fault = ctx.tx.take_fault()
    if fault == "network":
        return ApiResponse(0, b"", network_fault=True)
    if fault == "500":
        return _json(500, {"error": {"type": "api_error", "message": "An unknown error occurred (sandbox fault)."}})
    if fault == "429":
        return _json(
            429,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "rate_limit",
                    "message": "Too many requests hit the API too quickly (sandbox fault).",
                }
            },
        )

    api_key = _api_key(_header(headers, "Authorization") or "")
    if not api_key:
        return _json(
            401,
            {
                "error": {
                    "type": "invalid_request_error",
                    "message": "You did not provide an API key. Provide it in the Authorization header "
                    "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
                }
            },
        )
    if not api_key.startswith("sk_test_"):
        shown = api_key[:8] + "*" * 8 + api_key[-4:] if len(api_key) > 12 else "*" * len(api_key)
        return _json(
            401,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "api_key_invalid",
                    "message": f"Invalid API Key provided: {shown}. The Stripe sandbox "
                    "only accepts test-mode secret keys (sk_test_...).",
                }
            },
        )

    handler, match = _match(method, path)
    if handler is None:
        return _json(
            404,
            {
                "error": {
                    "type": "invalid_request_error",
                    "message": f"Unrecognized request URL ({method}: {path}). Please see "
                    "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                }
            },
        )
    try:
        text = body.decode("utf-8") if method == "POST" else query
        params = parse_form(text)
    except (UnicodeDecodeError, ParamError) as exc:
        return _json(
            400, {"error": {"type": "invalid_request_error", "message": str(exc), "param": getattr(exc, "param", None)}}
        )

    idem_key = ctx.idempotency_key
    # Stripe scopes keys per account; hashing the API key in keeps two test keys apart.
    scoped_key = hashlib.sha256(f"{api_key}\0{idem_key}".encode()).hexdigest() if idem_key else None
    fingerprint = hashlib.sha256(json.dumps([method, path, params], sort_keys=True).encode()).hexdigest()
    if scoped_key:
        stored = ctx.tx.get_idempotent(scoped_key)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise StripeAPIError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they "
                    f"were first used with. Try using a key other than '{idem_key}' if you meant to "
                    "execute a different request.",
                    type_="idempotency_error",
                )
            return ApiResponse(
                stored.status,
                stored.body.encode(),
                {"Content-Type": "application/json", "Idempotent-Replayed": "true", **base},
            )
    result = handler(ctx, params, match, path)
    response = _json(200, result, base)
    if scoped_key:
        ctx.tx.save_idempotent(scoped_key, fingerprint, 200, response.body.decode())
    return response


def _api_key(authorization: str) -> str:
    """The secret key from `Bearer KEY` (the SDK) or Basic auth `KEY:` (curl -u KEY:)."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode("utf-8").partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return ""
    return ""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _match(method: str, path: str) -> tuple[Handler | None, dict[str, str]]:
    for route_method, pattern, handler in _ROUTES:
        if route_method == method:
            m = pattern.match(path)
            if m:
                return handler, m.groupdict()
    return None, {}


# -- routes --------------------------------------------------------------------------------


@route("POST", "/customers")
def _create_customer(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, create_customer(ctx, params), params)


@route("GET", "/customers/{id}")
def _get_customer(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, ctx.load(m["id"], "customer", "customer"), params)


@route("POST", "/customers/{id}")
def _update_customer(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, update_customer(ctx, m["id"], params), params)


@route("GET", "/customers/{id}/payment_methods")
def _customer_pms(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return list_payment_methods(ctx, {**params, "customer": m["id"]}, path)


@route("POST", "/checkout/sessions")
def _create_session(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, create_checkout_session(ctx, params), params)


@route("GET", "/checkout/sessions")
def _list_sessions(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    result = list_sessions(ctx, params, path)
    result["data"] = [
        _render(ctx, s, {"expand": [p[5:] for p in _expand_list(params) if p.startswith("data.")]})
        for s in result["data"]
    ]
    return result


@route("GET", "/checkout/sessions/{id}")
def _get_session(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, load_session(ctx, m["id"]), params)


@route("GET", "/checkout/sessions/{id}/line_items")
def _session_items(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return session_line_items(load_session(ctx, m["id"]), path)


@route("POST", "/checkout/sessions/{id}/expire")
def _expire_session(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, expire_session(ctx, m["id"]), params)


@route("GET", "/payment_intents/{id}")
def _get_pi(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, ctx.load(m["id"], "payment_intent", "payment_intent", param="intent"), params)


@route("GET", "/charges/{id}")
def _get_charge(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, ctx.load(m["id"], "charge", "charge"), params)


@route("GET", "/payment_methods")
def _list_pms(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return list_payment_methods(ctx, params, path)


@route("GET", "/payment_methods/{id}")
def _get_pm(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, ctx.load(m["id"], "payment_method", "PaymentMethod", param="payment_method"), params)


@route("POST", "/payment_methods/{id}/attach")
def _attach_pm(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, attach_payment_method(ctx, m["id"], params), params)


@route("POST", "/payment_methods/{id}/detach")
def _detach_pm(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, detach_payment_method(ctx, m["id"]), params)


@route("GET", "/setup_intents/{id}")
def _get_seti(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, ctx.load(m["id"], "setup_intent", "setup_intent", param="intent"), params)


@route("POST", "/refunds")
def _create_refund(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, create_refund(ctx, params), params)


@route("GET", "/refunds")
def _list_refunds(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return list_refunds(ctx, params, path)


@route("GET", "/refunds/{id}")
def _get_refund(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    return _render(ctx, ctx.load(m["id"], "refund", "refund"), params)


@route("GET", "/events/{id}")
def _get_event(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    evt = ctx.tx.get_event(m["id"])
    if evt is None:
        raise missing("event", m["id"])
    return evt


@route("GET", "/events")
def _list_events(ctx: Ctx, params: dict[str, Any], m: dict[str, str], path: str) -> dict[str, Any]:
    limit = min(as_int(params.get("limit", 10), "limit", minimum=1), 100)
    rows = ctx.tx.list_events(limit=limit + 1, type_=as_str(params.get("type"), "type"))
    return list_object(path, rows[:limit], len(rows) > limit)
