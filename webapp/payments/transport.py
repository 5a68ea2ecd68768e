"""How the SDK's requests travel: Stripe's own requests client, or the in-process sandbox.

Both let configuration replace the SDK's back-off between retries. That override is a
private method of the SDK's HTTP client (`_sleep_time_seconds`); tests/integration/
test_gateway_transport.py pins it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import stripe
from requests.structures import CaseInsensitiveDict

if TYPE_CHECKING:
    from webapp.sandbox.core import Sandbox

RetryDelay = float | Callable[[], float | None] | None


class _RetryDelayMixin:
    """Lets configuration replace the SDK's exponential back-off (tests use 0).

    `retry_delay` is seconds, None for the SDK's own back-off, or a callable returning
    either — read at each retry, so a test may change the app config after start-up.
    """

    retry_delay: RetryDelay = None

    def _sleep_time_seconds(self, num_retries: int) -> float:
        delay = self.retry_delay() if callable(self.retry_delay) else self.retry_delay
        if delay is not None:
            return float(delay)
        return super()._sleep_time_seconds(num_retries)  # type: ignore[misc]


class RequestsHTTPClient(_RetryDelayMixin, stripe.RequestsClient):
    """The SDK's own requests-based client, with a configurable retry delay."""

    def __init__(self, retry_delay: RetryDelay = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_delay = retry_delay


class SandboxHTTPClient(_RetryDelayMixin, stripe.HTTPClient):
    """Hands the SDK's requests to the in-process sandbox: real encoding, no socket.

    A network fault injected into the sandbox surfaces here as the SDK's
    `APIConnectionError(should_retry=True)`, exactly what a dropped connection gives.
    """

    name = "stripe-sandbox-in-process"

    def __init__(self, resolve: Callable[[], Sandbox], retry_delay: RetryDelay = None) -> None:
        super().__init__()
        self._resolve = resolve
        self.retry_delay = retry_delay

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None
    ) -> tuple[bytes, int, CaseInsensitiveDict[str]]:
        parts = urlsplit(url)
        path = parts.path
        path = path[path.index("/v1/") :] if "/v1/" in path else path
        if isinstance(post_data, str):
            body = post_data.encode("utf-8")
        else:
            body = post_data or b""
        result = self._resolve().handle_api(method, path, parts.query, dict(headers or {}), body)
        if result.network_fault:
            raise stripe.APIConnectionError(
                "Unexpected error communicating with Stripe (sandbox network fault).", should_retry=True
            )
        return result.body, result.status, CaseInsensitiveDict(result.headers)

    def request_stream(
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None
    ) -> tuple[Any, int, CaseInsensitiveDict[str]]:
        body, status, headers_ = self.request(method, url, headers, post_data)
        return io.BytesIO(body), status, headers_

    def close(self) -> None:
        """Nothing to close: there is no connection."""
