"""The sandbox's REST API: Stripe's routes, auth, idempotency and fault injection.

`handle_api` is plain Python — (method, path, query, headers, body) in, `ApiResponse` out —
so the same code answers the Flask view at `/_sandbox/stripe/v1/...` (SDK over HTTP) and
the gateway's in-process HTTP client (no port, no nested Flask request).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from webapp.sandbox import routes
from webapp.sandbox.context import API_VERSION, Ctx, new_id
from webapp.sandbox.errors import KeptError, StripeAPIError
from webapp.sandbox.params import ParamError, parse_form
from webapp.sandbox.validation import ParameterError, validate_request

if TYPE_CHECKING:
    from webapp.sandbox.core import Sandbox


@dataclass(frozen=True)
class ApiResponse:
    """What the API answers. `network_fault` means: behave like a dropped connection."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    network_fault: bool = False


def _json(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> ApiResponse:
    return ApiResponse(
        status, json.dumps(payload, indent=2).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


def handle_api(
    sandbox: Sandbox, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
) -> ApiResponse:
    """Answers one API request as Stripe would (see module docstring).

    The whole request is one serialised sandbox transaction: the fault counter, the
    idempotency check and the handler's changes share one lock and one commit. Every
    answer, errors included, carries a `Request-Id`.
    """
    method = method.upper()
    request_id = new_id("req_", 14)
    idem_key = _header(headers, "Idempotency-Key") if method == "POST" else None
    base = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
    if idem_key:
        base["Idempotency-Key"] = idem_key
    try:
        with sandbox.operation(request_id=request_id, idempotency_key=idem_key) as ctx:
            return _answer(ctx, Request(method, path, query, headers, body), base)
    except StripeAPIError as exc:
        if isinstance(exc, ParameterError):
            sandbox.record_refusal(method, path, exc)
        return error_response(exc, base)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


def error_response(exc: StripeAPIError, base: dict[str, str]) -> ApiResponse:
    body = exc.body()
    body["error"]["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{base['Request-Id']}"
    return _json(exc.status, body, base)


def _answer(ctx: Ctx, request: Request, base: dict[str, str]) -> ApiResponse:
    """`handle_api` inside its transaction; a StripeAPIError raised here rolls it back."""
    fault = ctx.tx.take_fault()
    if fault is not None:
        return _fault_response(fault, base)
    api_key = _authenticate(request.headers)
    endpoint, match = routes.match(request.method, request.path)
    if endpoint is None:
        raise StripeAPIError(
            404,
            f"Unrecognized request URL ({request.method}: {request.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )
    params = _parse(request)
    validate_request(params, endpoint.params, endpoint.resource, listing=endpoint.listing)
    return _execute(ctx, request, api_key, params, lambda: endpoint.handler(ctx, params, match, request.path), base)


def _fault_response(fault: str, base: dict[str, str]) -> ApiResponse:
    if fault == "network":
        return ApiResponse(0, b"", network_fault=True)
    if fault == "429":
        error = {
            "type": "invalid_request_error",
            "code": "rate_limit",
            "message": "Too many requests hit the API too quickly (sandbox fault).",
        }
        return _json(429, {"error": error}, base)
    return _json(500, {"error": {"type": "api_error", "message": "An unknown error occurred (sandbox fault)."}}, base)


def _authenticate(headers: Mapping[str, str]) -> str:
    """The request's test-mode secret key, or Stripe's 401."""
    api_key = _api_key(_header(headers, "Authorization") or "")
    if not api_key:
        raise StripeAPIError(
            401,
            "You did not provide an API key. Provide it in the Authorization header "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    if not api_key.startswith("sk_test_"):
        shown = api_key[:8] + "*" * 8 + api_key[-4:] if len(api_key) > 12 else "*" * len(api_key)
        raise StripeAPIError(
            401,
            f"Invalid API Key provided: {shown}. The Stripe sandbox only accepts test-mode secret keys (sk_test_...).",
            code="api_key_invalid",
        )
    return api_key


def _parse(request: Request) -> dict[str, Any]:
    try:
        # The SDK sends a DELETE's parameters in the query, as a GET's.
        text = request.body.decode("utf-8") if request.method == "POST" else request.query
        return parse_form(text)
    except UnicodeDecodeError:
        raise ParameterError("Request bodies must be UTF-8 encoded.", param="") from None
    except ParamError as exc:
        raise ParameterError(str(exc), param=exc.param) from None


def _execute(
    ctx: Ctx,
    request: Request,
    api_key: str,
    params: dict[str, Any],
    run: Callable[[], dict[str, Any]],
    base: dict[str, str],
) -> ApiResponse:
    """Runs the handler under Stripe's idempotency rules.

    With an `Idempotency-Key`, the first answer is stored whatever its status (its
    changes rolled back when it is an error) and replayed for the same request; the key
    on another endpoint, or with other parameters, is refused.
    """
    idem_key = ctx.idempotency_key
    if not idem_key:
        return _kept(run, base)
    # Stripe scopes keys per account; hashing the API key in keeps two test keys apart.
    scoped_key = hashlib.sha256(f"{api_key}\0{idem_key}".encode()).hexdigest()
    endpoint = f"{request.method} {request.path}"
    fingerprint = hashlib.sha256(
        json.dumps([request.method, request.path, params], sort_keys=True).encode()
    ).hexdigest()
    stored = ctx.tx.get_idempotent(scoped_key)
    if stored is not None:
        return _replay(stored, idem_key, endpoint, fingerprint, base)
    emitted = len(ctx.emitted)
    try:
        with ctx.tx.savepoint():
            response = _kept(run, base)
    except StripeAPIError as exc:
        del ctx.emitted[emitted:]  # rolled back with the savepoint
        response = error_response(exc, base)
    ctx.tx.save_idempotent(scoped_key, fingerprint, response.status, f"{endpoint}\n{response.body.decode()}")
    return response


def _kept(run: Callable[[], dict[str, Any]], base: dict[str, str]) -> ApiResponse:
    """The handler's answer; a `KeptError` is answered without rolling its changes back."""
    try:
        return _json(200, run(), base)
    except KeptError as exc:
        return error_response(exc, base)


def _replay(stored: Any, idem_key: str, endpoint: str, fingerprint: str, base: dict[str, str]) -> ApiResponse:
    first_endpoint, _, body = stored.body.partition("\n") if not stored.body.startswith("{") else ("", "", stored.body)
    if first_endpoint and first_endpoint != endpoint:
        raise StripeAPIError(
            400,
            "Keys for idempotent requests can only be used for the same endpoint they were first used for "
            f"('{endpoint.partition(' ')[2]}' vs '{first_endpoint.partition(' ')[2]}'). Try using a key other "
            f"than '{idem_key}' if you meant to execute a different request.",
            type_="idempotency_error",
        )
    if stored.fingerprint != fingerprint:
        raise StripeAPIError(
            400,
            "Keys for idempotent requests can only be used with the same parameters they "
            f"were first used with. Try using a key other than '{idem_key}' if you meant to "
            "execute a different request.",
            type_="idempotency_error",
        )
    return ApiResponse(
        stored.status, body.encode(), {"Content-Type": "application/json", "Idempotent-Replayed": "true", **base}
    )


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
