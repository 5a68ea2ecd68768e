"""A learner adds two cards through Stripe's (sandbox) setup page, makes the second the
default and removes the first, in a real chromium; Stripe's side is checked after each step."""

from __future__ import annotations

import pytest

from tests.support.browser import shot, sign_in_with_form

pytestmark = pytest.mark.browser


def _stripe_state(app, user_id: str) -> tuple[set[str], str | None]:
    from webapp.extensions import db
    from webapp.models import User
    from webapp.payments.gateway import get_gateway

    with app.app_context():
        customer = db.session.get(User, user_id).stripe_customer_id
        gateway = get_gateway()
        last4 = {c.last4 for c in gateway.list_card_payment_methods(customer)}
        default = gateway.get_default_payment_method(customer)
        default_last4 = gateway.retrieve_payment_method(default).last4 if default else None
        db.session.remove()
    return last4, default_last4


def _add_card(page, number: str, expiry: str) -> None:
    page.get_by_role("button", name="Add a card").click()
    page.wait_for_url("**/_sandbox/stripe/pay/cs_test_*")
    page.fill("#card_number", number)
    page.fill("#card_expiry", expiry)
    page.locator("button[name=action][value=pay]").click()
    page.wait_for_url("**/account/payment-methods")


def test_add_two_cards_make_one_default_remove_the_other(live_app, live_server, page, output_dir):
    sign_in_with_form(
        page,
        live_server.url,
        "card_learner",
        email="grace@example.test",
        name="Grace Hopper",
        next_path="/account/payment-methods",
    )
    page.get_by_role("link", name="Payment methods").click()
    assert "no saved cards" in page.locator("main").inner_text()
    shot(page, output_dir, "cards-1-empty")

    _add_card(page, "4242 4242 4242 4242", "12 / 34")
    main = page.locator("main")
    assert "Card saved: Visa ending in 4242" in page.inner_text("body")
    assert main.locator("tr[data-last4='4242'][data-default='true']").count() == 1
    shot(page, output_dir, "cards-2-first-card")

    _add_card(page, "5555 5555 5555 4444", "08 / 31")
    assert main.locator("tr[data-card-id]").count() == 2
    assert "08/2031" in main.inner_text()
    assert _stripe_state(live_app, "card_learner") == ({"4242", "4444"}, "4242")
    shot(page, output_dir, "cards-3-two-cards")

    page.locator("tr[data-last4='4444']").get_by_role("button", name="Make default").click()
    page.wait_for_load_state("networkidle")
    assert "Mastercard ending in 4444 is now your default card" in page.inner_text("body")
    assert main.locator("tr[data-last4='4444'][data-default='true']").count() == 1
    assert main.locator("tr[data-last4='4242'][data-default='false']").count() == 1
    assert _stripe_state(live_app, "card_learner") == ({"4242", "4444"}, "4444")
    shot(page, output_dir, "cards-4-mastercard-default")

    page.locator("tr[data-last4='4242']").get_by_role("link", name="Remove").click()
    assert page.locator("h1").inner_text() == "Remove this card?"
    shot(page, output_dir, "cards-5-confirm-remove")
    page.get_by_role("button", name="Yes, remove it").click()
    page.wait_for_url("**/account/payment-methods")
    assert "Visa ending in 4242 was removed" in page.inner_text("body")
    assert main.locator("tr[data-card-id]").count() == 1
    assert main.locator("tr[data-last4='4444'][data-default='true']").count() == 1
    assert _stripe_state(live_app, "card_learner") == ({"4444"}, "4444")
    shot(page, output_dir, "cards-6-after-remove")
