"""Billing as time passes: webhooks delivered in order, `flask stripe-sandbox advance`, the
hosted page in subscription mode, the Billing lists paged to their end."""

from __future__ import annotations

import time

import pytest
import stripe

from tests.support.sandbox import pay
from webapp.sandbox import get_sandbox, wait_for_deliveries
from webapp.sandbox.cards import TEST_CARD_HELP, TEST_CARDS, normalise_card_number

from .test_installments import DAY, START, _month, _schedule_three, _subscribe


@pytest.fixture
def sandbox_url(tmp_path) -> str:
    # Advancing the sandbox's own "now" would move it for every test sharing a database.
    return f"sqlite:///{tmp_path / 'stripe-sandbox.db'}"


@pytest.fixture
def sc(gateway) -> stripe.StripeClient:
    return gateway.stripe_client


class TestDelivery:
    @pytest.fixture
    def sbx_config(self, receiver):
        return {"STRIPE_SANDBOX_WEBHOOKS": True, "STRIPE_SANDBOX_WEBHOOK_URL": receiver.url}

    def test_installment_events_are_delivered_in_order(self, sbx_app, sc, client, receiver):
        clock, _, price, session, _ = _subscribe(sc, client, setup_fee=False)
        sub_id = sc.v1.checkout.sessions.retrieve(session.id).subscription
        _schedule_three(sc, sub_id, price.id)
        for month in (1, 2, 3, 4):
            sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": _month(month)})
        assert wait_for_deliveries(sbx_app, timeout=20)
        delivered = [e["id"] for e in receiver.events()]
        stored = [evt["id"] for evt, _ in reversed(get_sandbox(sbx_app).recent_events(limit=1000))]
        assert delivered == stored  # each once, in the order they happened
        types = [e["type"] for e in receiver.events()]
        assert types.count("invoice.paid") == 3 and types.count("invoice.payment_succeeded") == 3
        assert types.index("checkout.session.completed") < types.index("subscription_schedule.created")
        assert types[-5:] == [
            "customer.subscription.deleted",
            "subscription_schedule.completed",
            "test_helpers.test_clock.ready",
            "test_helpers.test_clock.advancing",
            "test_helpers.test_clock.ready",
        ]


def test_the_cli_advances_clocks_and_the_sandboxs_own_time(sbx_app, sc, client):
    on_clock, _, price, session, _ = _subscribe(sc, client, setup_fee=False)
    clocked_sub = sc.v1.checkout.sessions.retrieve(session.id).subscription
    # A subscription without a clock lives on the sandbox's own "now".
    plain = sc.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer_email": "plain@example.test",
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "http://localhost/ok",
        }
    )
    assert pay(client, plain).status_code == 303
    plain_sub = sc.v1.checkout.sessions.retrieve(plain.id).subscription
    result = sbx_app.test_cli_runner().invoke(args=["stripe-sandbox", "advance", "--days", "32"])
    assert result.exit_code == 0, result.output
    assert "1 test clock(s)" in result.output
    assert sc.v1.test_helpers.test_clocks.retrieve(on_clock.id).frozen_time == START + 32 * DAY
    for sub_id in (clocked_sub, plain_sub):
        invoices = sc.v1.invoices.list({"subscription": sub_id}).data
        assert [(i.status, i.billing_reason) for i in invoices] == [
            ("paid", "subscription_cycle"),
            ("paid", "subscription_create"),
        ]
    refused = sbx_app.test_cli_runner().invoke(args=["stripe-sandbox", "advance", "--days", "0"])
    assert refused.exit_code != 0
    # Checkout still runs on real time: the app's own expires_at is accepted after an advance.
    later = sc.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer_email": "later@example.test",
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "http://localhost/ok",
            "expires_at": int(time.time()) + 31 * 60,
        }
    )
    assert pay(client, later).status_code == 303
    later_sub = sc.v1.subscriptions.retrieve(sc.v1.checkout.sessions.retrieve(later.id).subscription)
    assert later_sub.start_date >= int(time.time()) + 32 * DAY - 60  # billing lives on the sandbox's now


def test_the_hosted_page_shows_the_subscription_and_every_test_card(sc, client):
    _, _, _, session, _ = _subscribe(sc, client, card="4000 0000 0000 0002")
    page = client.get(session.url).get_data(as_text=True)
    assert "Subscribe" in page and "/ month" in page and "$59.00" in page
    for number, _ in TEST_CARD_HELP:
        assert normalise_card_number(number) in TEST_CARDS
        assert number in page
    for ending in ("0341", "0069", "0127", "0119", "9979", "3155"):
        assert any(normalise_card_number(n).endswith(ending) for n, _ in TEST_CARD_HELP)


def test_the_3155_card_pays_a_subscription_and_its_renewals(sc, client):
    clock, _, _, session, response = _subscribe(sc, client, card="4000 0025 0000 3155", setup_fee=False)
    assert response.status_code == 303
    sub_id = sc.v1.checkout.sessions.retrieve(session.id).subscription
    sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": _month(1) + DAY})
    assert [i.status for i in sc.v1.invoices.list({"subscription": sub_id}).data] == ["paid", "paid"]


def _plain_subscription(sc, client, price_id: str) -> str:
    """A subscription without a test clock, paid through Checkout."""
    session = sc.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer_email": "plain@example.test",
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": "http://localhost/ok",
        }
    )
    assert pay(client, session).status_code == 303
    return sc.v1.checkout.sessions.retrieve(session.id).subscription


def test_every_billing_list_pages_to_its_end(sc, client):
    for _ in range(2):
        clock, _, price, _, _ = _subscribe(sc, client)
    plain = [_plain_subscription(sc, client, price.id) for _ in range(2)]
    # Subscriptions on test clocks are listed only by customer or clock, as at Stripe.
    assert [s.id for s in sc.v1.subscriptions.list().data] == list(reversed(plain))
    assert len(sc.v1.subscriptions.list({"test_clock": clock.id}).data) == 1
    lists = {
        "products": sc.v1.products.list,
        "prices": sc.v1.prices.list,
        "subscriptions": sc.v1.subscriptions.list,
        "invoices": sc.v1.invoices.list,
        "invoice_payments": sc.v1.invoice_payments.list,
        "test_clocks": sc.v1.test_helpers.test_clocks.list,
    }
    for name, lister in lists.items():
        everything = [o.id for o in lister({"limit": 100}).data]
        paged = [o.id for o in lister({"limit": 1}).auto_paging_iter()]
        assert paged == everything and everything, name
    schedules = [sc.v1.subscription_schedules.create({"from_subscription": s}).id for s in reversed(plain)]
    paged = [s.id for s in sc.v1.subscription_schedules.list({"limit": 1}).auto_paging_iter()]
    assert paged == list(reversed(schedules))
