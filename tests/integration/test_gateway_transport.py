"""What the gateway's transports rely on in the `stripe` SDK, pinned so an upgrade that changes it fails here.

The retry delay override replaces a private method of the SDK's HTTP client; if the SDK
renames it or stops calling it between retries, configuration would silently stop working.
"""

from __future__ import annotations

import inspect

from stripe._http_client import HTTPClient

from webapp.payments.transport import RequestsHTTPClient, SandboxHTTPClient


def test_the_sdk_still_asks_its_client_how_long_to_sleep_between_retries():
    assert list(inspect.signature(HTTPClient._sleep_time_seconds).parameters) == ["self", "num_retries"]
    assert "self._sleep_time_seconds(" in inspect.getsource(HTTPClient._request_with_retries_internal)


def test_a_configured_delay_replaces_the_sdks_backoff_and_none_keeps_it():
    assert RequestsHTTPClient(retry_delay=0)._sleep_time_seconds(3) == 0.0
    assert RequestsHTTPClient(retry_delay=lambda: 0.25)._sleep_time_seconds(1) == 0.25
    assert RequestsHTTPClient(retry_delay=None)._sleep_time_seconds(1) > 0  # the SDK's own back-off


def test_the_in_process_transport_takes_the_same_override():
    client = SandboxHTTPClient(lambda: None, retry_delay=0)
    assert client._sleep_time_seconds(2) == 0.0
