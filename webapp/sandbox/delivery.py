"""Webhook delivery: signed POSTs of stored events, from a background thread, with retries.

Why a background thread: the event is created inside a request (the app calling the
sandbox, or a learner paying on the hosted page). Posting to the app's own URL from inside
that request would deadlock a single sync gunicorn worker, and would let the webhook run
before the triggering transaction commits. So `Sandbox.operation` enqueues event ids only
after COMMIT and this worker posts them, in order.

Why in-process dispatch: when the webhook URL's origin is the app's own origin, the worker
calls the app's WSGI callable directly (werkzeug's test `Client`, a real WSGI request with
its own contexts) instead of opening a socket, so delivery works with one worker, under
`flask run`, in the CLI and in tests, with no port at all.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from urllib.parse import urlsplit

import requests
from werkzeug.test import Client

from webapp.sandbox.core import SIGNATURE_USER_AGENT, Sandbox, sign_payload, url_origin
from webapp.sandbox.store import Delivery


class Deliverer:
    """Delivers events for one Sandbox; the worker thread exists only while there is work."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._queue: deque[str] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._worker: threading.Thread | None = None

    def enqueue(self, event_ids: list[str]) -> None:
        with self._cond:
            self._queue.extend(event_ids)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="stripe-sandbox-webhooks", daemon=True)
                self._worker.start()
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._worker = None
                    self._cond.notify_all()
                    return
                event_id = self._queue.popleft()
                self._busy = True
            try:
                self._deliver_with_retries(event_id)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _deliver_with_retries(self, event_id: str) -> None:
        delays = self.sandbox.settings.retry_delays
        for attempt in range(len(delays) + 1):
            result = self.deliver_once(event_id, attempt=attempt + 1)
            if result.status_code is not None and 200 <= result.status_code < 300:
                return
            if attempt < len(delays):
                time.sleep(delays[attempt])

    def deliver_once(self, event_id: str, *, attempt: int) -> Delivery:
        """One signed POST of the event; the attempt is recorded whatever its outcome."""
        settings = self.sandbox.settings
        payload = self.sandbox.event_payload(event_id)
        url = settings.webhook_url
        started = time.time()
        status: int | None = None
        error: str | None = None
        if payload is None:
            error = f"no such event {event_id}"
        else:
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": SIGNATURE_USER_AGENT,
                "Stripe-Signature": sign_payload(payload, settings.webhook_secret),
            }
            try:
                status = self._post(url, payload.encode(), headers)
                if status >= 300:
                    error = f"HTTP {status}"
            except Exception as exc:  # noqa: BLE001 - any failure is a failed delivery, recorded
                error = f"{type(exc).__name__}: {exc}"
        delivery = Delivery(
            event_id=event_id,
            url=url,
            attempt=attempt,
            status_code=status,
            error=error,
            attempted_at=started,
            duration_ms=int((time.time() - started) * 1000),
        )
        with self.sandbox.store.transaction() as tx:
            tx.record_delivery(delivery)
        return delivery

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        app = self.sandbox.dispatch_app
        parts = urlsplit(url)
        origin = url_origin(url)
        if app is not None and origin == self.sandbox.settings.app_origin:
            client = Client(app)
            path = parts.path or "/"
            response = client.post(
                path,
                data=body,
                headers=headers,
                query_string=parts.query,
                base_url=origin,
            )
            try:
                return response.status_code
            finally:
                response.close()
        response = requests.post(url, data=body, headers=headers, timeout=self.sandbox.settings.timeout)
        return response.status_code
