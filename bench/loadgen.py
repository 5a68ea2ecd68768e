"""Load generators: `wrk` for pages, and a Python generator for pre-signed webhooks (and for
pages when wrk is missing)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import socket
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from environment import WEBHOOK_SECRET

# -- load: wrk -----------------------------------------------------------------------------


@dataclass
class Load:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(
    url: str, *, seconds: int, connections: int, headers: dict[str, str] | None = None, script: Path | None = None
) -> Load:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout  # noqa: S603
    total = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))
    elapsed = _ms(re.search(r"requests in ([\d.]+\w+),", out).group(1)) / 1000
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    return Load(total - errors, elapsed, errors, p50, p99)


def has_wrk() -> bool:
    return shutil.which("wrk") is not None


# -- load: a Python generator (webhooks; and pages when wrk is missing) ----------------------


def signed_event(n: int, tag: str, now: int | None = None) -> tuple[bytes, str]:
    """A unique `payment_intent.succeeded` event whose metadata names no session of ours,
    and its `Stripe-Signature` header, signed at `now` (default: now)."""
    now = int(time.time()) if now is None else now
    body = json.dumps(
        {
            "id": f"evt_bench_{tag}_{n}",
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": now,
            "livemode": False,
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": f"pi_bench_{tag}_{n}",
                    "object": "payment_intent",
                    "amount": 4999,
                    "currency": "usd",
                    "status": "succeeded",
                    "metadata": {},
                }
            },
        },
        separators=(",", ":"),
    ).encode()
    signature = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={now},v1={signature}"


def signed_event_requests(host: str, path: str, count: int, tag: str) -> list[bytes]:
    """`count` complete HTTP requests, each a `signed_event` signed now (well within the
    300 s tolerance)."""
    now = int(time.time())
    requests = []
    for n in range(count):
        body, signature = signed_event(n, tag, now)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Stripe-Signature: {signature}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


def get_requests(host: str, paths: list[str], cookie: str, count: int) -> list[bytes]:
    """GET requests; with `cookie`, as the learner signed in with that session token, else anonymous."""
    cookie_line = f"Cookie: __session={cookie}\r\n" if cookie else ""
    return [
        f"GET {paths[n % len(paths)]} HTTP/1.1\r\nHost: {host}\r\n{cookie_line}Connection: close\r\n\r\n".encode()
        for n in range(count)
    ]


def blast(port: int, requests: list[bytes], *, seconds: float, connections: int) -> Load:
    """Sends the prepared requests over `connections` sockets (one request per connection:
    gunicorn's sync workers close each one) until they run out or `seconds` pass."""
    lock = threading.Lock()
    position = iter(requests)
    latencies: list[float] = []
    errors = [0]
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < deadline:
            with lock:
                raw = next(position, None)
            if raw is None:
                return
            started = time.perf_counter()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    sock.sendall(raw)
                    chunks = []
                    while chunk := sock.recv(65536):
                        chunks.append(chunk)
                ok = b"".join(chunks[:1])[9:12] == b"200"
            except OSError:
                ok = False
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    errors[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Load(len(latencies), elapsed, errors[0], quantiles[49], quantiles[98], latencies)
