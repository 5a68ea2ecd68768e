"""Fixtures for the gateway + sandbox tests: the real app and the real SDK, no mocks.

`sbx_app` is the app from `create_app`, its sandbox storage on SQLite and (when a server is
available) on PostgreSQL. `receiver` is a tiny threaded HTTP server on 127.0.0.1 that
records webhook deliveries; `serve` runs any WSGI app on a free local port.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from tests.support.sandbox import Receiver, build_app

from .refusals import expect_refusals, no_unexpected_refusals  # noqa: F401 (fixtures)


@pytest.fixture(scope="session")
def sandbox_pg_url(postgres_database) -> str:
    """One sandbox database on the test PostgreSQL server, shared by the session."""
    return postgres_database.new_database("stripe_sandbox")


@pytest.fixture(params=["sqlite", "postgres"])
def sandbox_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stripe-sandbox.db'}"
    return request.getfixturevalue("sandbox_pg_url")


@pytest.fixture
def sbx_config() -> dict[str, Any]:
    """Override in a module to change the app's configuration."""
    return {}


@pytest.fixture
def sbx_app(sandbox_url, tmp_path, sbx_config):
    from webapp.sandbox import clear_faults, get_sandbox

    app = build_app(sandbox_url, tmp_path, **sbx_config)
    clear_faults(app)
    yield app
    get_sandbox(app).wait_for_deliveries(timeout=10)
    clear_faults(app)  # the PostgreSQL sandbox database is shared by the session


@pytest.fixture
def gateway(sbx_app):
    with sbx_app.app_context():
        from webapp.payments.gateway import get_gateway

        yield get_gateway()


@pytest.fixture
def client(sbx_app):
    return sbx_app.test_client()


@dataclass
class Served:
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def serve() -> Iterator[Callable[[Any], Served]]:
    """Runs a WSGI app on a free port of 127.0.0.1 in a thread, for the test's duration."""
    running: list[Served] = []

    def start(wsgi_app: Any) -> Served:
        server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        served = Served(server, thread)
        running.append(served)
        return served

    yield start
    for served in running:
        served.server.shutdown()
        served.server.server_close()


@pytest.fixture
def receiver(serve) -> Receiver:
    recv = Receiver()
    recv.url = serve(recv).url + "/hook"
    return recv
