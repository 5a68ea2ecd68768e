"""Browser tests: a live server in a thread and Debian's chromium driven by Playwright.

They skip when chromium is missing, and fail instead when REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.support.harness import free_port

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail(f"REQUIRE_BROWSER=1 but chromium is not installed at {CHROMIUM}")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class LiveServer:
    def __init__(self, app, port: int):
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_port() -> int:
    return free_port()


@pytest.fixture
def live_config(live_port) -> dict:
    """Configuration for the served app; extend per module with `app_config`."""
    url = f"http://127.0.0.1:{live_port}"
    return {
        "APP_URL": url,
        "APP_ORIGIN": url,
        "CLERK_AUTHORIZED_PARTIES": [url],
        "SERVER_NAME": None,
        "WTF_CSRF_ENABLED": True,
        "STRIPE_SANDBOX_WEBHOOK_URL": f"{url}/webhooks/stripe",
    }


@pytest.fixture
def live_app(request, tmp_path, live_config, app_config):
    from tests.support.harness import backend_database_url, clean_database, make_app, migrate_once

    backend = getattr(request, "param", "sqlite")
    app = make_app(backend_database_url(request, backend), tmp_path, **{**live_config, **app_config})
    migrate_once(app)
    clean_database(app)
    return app


@pytest.fixture
def live_server(live_app, live_port):
    server = LiveServer(live_app, live_port)
    yield server
    server.stop()


@pytest.fixture
def page(browser, output_dir, request):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()
