"""Outages: the database going away (and coming back) and Stripe failing mid-checkout."""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from tests.support.tcp_proxy import TcpProxy
from tests.support.webhooks import signed_headers
from webapp.extensions import db
from webapp.models import PaymentSession, StripeEvent
from webapp.services.courses import create_course


@pytest.fixture
def proxied_app(request, tmp_path):
    """An app whose PostgreSQL connections go through a proxy the test can cut."""
    from tests.support.harness import clean_database, make_app, migrate_once

    database = request.getfixturevalue("postgres_database")
    parts = urlsplit(database.url)
    proxy = TcpProxy(parts.hostname, parts.port or 5432)
    proxy.start()
    netloc = f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
    url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    migrate_once(make_app(database.url, tmp_path))
    app = make_app(
        url, tmp_path, SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "connect_args": {"connect_timeout": 2}}
    )
    clean_database(app)
    with app.app_context():
        create_course(slug="outage-course", title="Outage", price=5000, currency="usd")
    yield app, proxy
    proxy.stop()


def test_database_outage_gives_503_then_recovers_without_restart(proxied_app):
    from tests.support.auth import Auth

    app, proxy = proxied_app
    client = app.test_client()
    Auth(app, client).sign_in("outage_user")
    assert client.get("/").status_code == 200
    proxy.stop()
    page = client.get("/")
    assert page.status_code == 503 and "Temporarily unavailable" in page.get_data(as_text=True)
    api = client.get("/api/enrollments", headers=Auth(app, client).bearer("outage_user"))
    assert api.status_code == 503 and api.get_json()["code"] == "service_unavailable"
    assert client.get("/readyz").status_code == 503
    body = json.dumps(
        {
            "id": "evt_outage_1",
            "object": "event",
            "type": "customer.created",
            "livemode": False,
            "created": int(time.time()),
            "data": {"object": {"id": "cus_outage", "object": "customer"}},
        }
    )
    hook = client.post("/webhooks/stripe", data=body, headers=signed_headers(body))
    assert hook.status_code >= 500  # Stripe retries
    proxy.start()
    assert client.get("/").status_code == 200
    assert client.get("/readyz").status_code == 200
    again = client.post("/webhooks/stripe", data=body, headers=signed_headers(body))
    assert again.status_code == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StripeEvent)) == 1


@pytest.mark.parametrize("kind", ["500", "429", "network"])
def test_stripe_outage_at_checkout_leaves_no_rows(app, client, auth, kind):
    from webapp.sandbox import clear_faults, inject_faults

    app.config["STRIPE_NETWORK_RETRY_DELAY"] = 0
    from webapp.payments import gateway

    gateway.init_app(app)
    with app.app_context():
        create_course(slug="stripe-down", title="Stripe down", price=5000, currency="usd")
    auth.sign_in("unlucky")
    inject_faults(app, 20, kind)
    response = client.post("/checkout/stripe-down", data={"coupon_code": ""})
    assert response.status_code == 503
    assert "try again" in response.get_data(as_text=True).lower()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentSession)) == 0
    clear_faults(app)
    retry = client.post("/checkout/stripe-down", data={"coupon_code": ""})
    assert retry.status_code == 303
