"""Saved cards: add through Checkout in setup mode, make default, remove, ownership, outages,
the webhook mirror, and one Stripe customer per learner under concurrent first checkouts.

SQLite and PostgreSQL (concurrency: PostgreSQL only), the real stripe SDK against the
in-process sandbox, real dev tokens; Stripe's side is read back through the gateway.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from tests.support.checkout import CARD_OK, FAST_STRIPE, cs_id_of
from tests.support.factories import make_course, make_user
from tests.support.rows import payment_sessions, rows
from webapp.sandbox import clear_faults, inject_faults

MASTERCARD = "5555 5555 5555 4444"
DECLINED = "4000 0000 0000 0002"


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


def html(response) -> str:
    return response.get_data(as_text=True)


def gateway(app):
    from webapp.payments.gateway import get_gateway

    return get_gateway()


def customer_of(app, user_id: str) -> str | None:
    return rows(app, "User", id=user_id)[0].stripe_customer_id


def stripe_cards(app, user_id: str) -> list:
    with app.app_context():
        return gateway(app).list_card_payment_methods(customer_of(app, user_id))


def stripe_default(app, user_id: str) -> str | None:
    with app.app_context():
        return gateway(app).get_default_payment_method(customer_of(app, user_id))


def cards(app, user_id: str) -> list:
    return sorted(rows(app, "PaymentMethod", user_id=user_id), key=lambda c: c.created_at)


def add_card(client, card: str = CARD_OK):
    """POST → 303 to the sandbox setup page → pay → back to our page → 303 → the page."""
    started = client.post("/account/payment-methods")
    assert started.status_code == 303, html(started)[:500]
    location = started.headers["Location"]
    assert "/_sandbox/stripe/pay/cs_test_" in location
    paid = client.post(location, data={"action": "pay", "method": "card", "card_number": card})
    assert paid.status_code == 303, html(paid)[:500]
    back = paid.headers["Location"]
    assert "/account/payment-methods?setup_session_id=cs_test_" in back
    returned = client.get(back)
    assert returned.status_code == 303
    return client.get(returned.headers["Location"]), cs_id_of(location)


def card_ids_on_page(body: str) -> list[str]:
    return re.findall(r'data-card-id="([0-9a-f]+)"', body)


class TestAddCard:
    def test_setup_mode_round_trip_shows_the_card_as_default(self, app, client, auth):
        auth.sign_in("learner_1")
        page, cs_id = add_card(client)
        body = html(page)
        assert page.status_code == 200
        assert "Visa" in body and "4242" in body and "Card saved" in body
        assert "Default</span>" in body
        (row,) = cards(app, "learner_1")
        assert (row.brand, row.last4, row.is_default) == ("visa", "4242", True)
        assert row.exp_month and row.exp_year
        (at_stripe,) = stripe_cards(app, "learner_1")
        assert at_stripe.id == row.stripe_payment_method_id
        assert stripe_default(app, "learner_1") == row.stripe_payment_method_id
        with app.app_context():
            remote = gateway(app).retrieve_checkout_session(cs_id)
        assert remote.mode == "setup" and remote.customer_id == customer_of(app, "learner_1")

    def test_returning_twice_with_the_same_session_saves_one_row(self, app, client, auth):
        auth.sign_in("learner_1")
        _, cs_id = add_card(client)
        again = client.get(f"/account/payment-methods?setup_session_id={cs_id}")
        assert again.status_code == 303
        assert len(cards(app, "learner_1")) == 1

    def test_declined_card_stays_on_stripes_page_and_saves_nothing(self, app, client, auth):
        auth.sign_in("learner_1")
        started = client.post("/account/payment-methods")
        declined = client.post(
            started.headers["Location"], data={"action": "pay", "method": "card", "card_number": DECLINED}
        )
        assert declined.status_code == 200 and "declined" in html(declined).lower()
        unfinished = client.get(f"/account/payment-methods?setup_session_id={cs_id_of(started.headers['Location'])}")
        assert unfinished.status_code == 303
        assert "no card was added" in html(client.get(unfinished.headers["Location"]))
        assert cards(app, "learner_1") == [] and stripe_cards(app, "learner_1") == []

    def test_cancelled_setup_says_no_card_was_added(self, app, client, auth):
        auth.sign_in("learner_1")
        started = client.post("/account/payment-methods")
        cancelled = client.post(started.headers["Location"], data={"action": "cancel"})
        assert cancelled.status_code == 303
        back = client.get(cancelled.headers["Location"])
        assert "No card was added" in html(client.get(back.headers["Location"]))

    def test_one_customer_across_setups(self, app, client, auth):
        auth.sign_in("learner_1")
        add_card(client)
        first_customer = customer_of(app, "learner_1")
        add_card(client, MASTERCARD)
        assert customer_of(app, "learner_1") == first_customer
        assert {c.last4 for c in stripe_cards(app, "learner_1")} == {"4242", "4444"}

    def test_attach_card_created_client_side(self, app, client, auth):
        from webapp.services import saved_cards
        from webapp.services.errors import ValidationFailed

        make_user(app, "learner_1")
        with app.app_context():
            from webapp.extensions import db
            from webapp.models import User

            user = db.session.get(User, "learner_1")
            row = saved_cards.attach_card(user, "pm_card_mastercard")
            assert (row.brand, row.last4, row.is_default) == ("mastercard", "4444", True)
            assert saved_cards.attach_card(user, row.stripe_payment_method_id).id == row.id
            pm_id = row.stripe_payment_method_id
            for bad in ("card_123", "pm_\x00", "pm_does_not_exist", 42):
                with pytest.raises(ValidationFailed) as refused:
                    saved_cards.attach_card(user, bad)
                assert refused.value.field == "payment_method_id"
        assert [c.id for c in stripe_cards(app, "learner_1")] == [pm_id]


class TestDefaultAndRemove:
    def test_make_default_moves_stripes_default_and_the_one_flag(self, app, client, auth):
        auth.sign_in("learner_1")
        add_card(client)
        add_card(client, MASTERCARD)
        visa, master = cards(app, "learner_1")
        assert (visa.is_default, master.is_default) == (True, False)
        response = client.post(f"/account/payment-methods/{master.id}/default")
        assert response.status_code == 303
        assert stripe_default(app, "learner_1") == master.stripe_payment_method_id
        visa, master = cards(app, "learner_1")
        assert (visa.is_default, master.is_default) == (False, True)
        body = html(client.get("/account/payment-methods"))
        assert f'data-card-id="{master.id}" data-last4="4444" data-default="true"' in body
        assert f'data-card-id="{visa.id}" data-last4="4242" data-default="false"' in body

    def test_remove_detaches_at_stripe_and_deletes_the_row(self, app, client, auth):
        auth.sign_in("learner_1")
        add_card(client)
        add_card(client, MASTERCARD)
        visa, master = cards(app, "learner_1")
        confirm = client.get(f"/account/payment-methods/{master.id}/remove")
        assert confirm.status_code == 200 and "Remove this card?" in html(confirm)
        assert 'name="csrf_token"' in html(confirm)
        assert len(cards(app, "learner_1")) == 2  # the confirmation page changes nothing
        removed = client.post(f"/account/payment-methods/{master.id}/remove")
        assert removed.status_code == 303
        assert [c.id for c in cards(app, "learner_1")] == [visa.id]
        assert [c.id for c in stripe_cards(app, "learner_1")] == [visa.stripe_payment_method_id]
        with app.app_context():
            assert gateway(app).retrieve_payment_method(master.stripe_payment_method_id).customer_id is None
        assert "was removed" in html(client.get("/account/payment-methods"))

    def test_removing_the_default_clears_it_at_stripe(self, app, client, auth):
        auth.sign_in("learner_1")
        add_card(client)
        (visa,) = cards(app, "learner_1")
        assert client.post(f"/account/payment-methods/{visa.id}/remove").status_code == 303
        assert stripe_default(app, "learner_1") is None
        assert cards(app, "learner_1") == [] and stripe_cards(app, "learner_1") == []

    def test_listing_refreshes_the_mirror_from_stripe(self, app, client, auth):
        auth.sign_in("learner_1")
        add_card(client)
        (visa,) = cards(app, "learner_1")
        customer = customer_of(app, "learner_1")
        with app.app_context():
            gw = gateway(app)
            gw.detach_payment_method(visa.stripe_payment_method_id)  # removed in Stripe's dashboard
            master = gw.attach_payment_method("pm_card_mastercard", customer)
            gw.set_default_payment_method(customer, master.id)
        body = html(client.get("/account/payment-methods"))
        assert "4242" not in body and "4444" in body
        (row,) = cards(app, "learner_1")
        assert row.stripe_payment_method_id == master.id and row.is_default


class TestOwnership:
    @pytest.fixture
    def victim(self, app, client, auth) -> dict:
        auth.sign_in("learner_1")
        _, cs_id = add_card(client)
        add_card(client, MASTERCARD)
        visa, master = cards(app, "learner_1")
        auth.sign_in("learner_2")
        client.get("/account/payment-methods")
        return {"visa": visa, "master": master, "cs_id": cs_id, "default": stripe_default(app, "learner_1")}

    def _unchanged(self, app, victim):
        assert [c.id for c in cards(app, "learner_1")] == [victim["visa"].id, victim["master"].id]
        assert stripe_default(app, "learner_1") == victim["default"] == victim["visa"].stripe_payment_method_id
        assert {c.id for c in stripe_cards(app, "learner_1")} == {
            victim["visa"].stripe_payment_method_id,
            victim["master"].stripe_payment_method_id,
        }

    def test_other_learners_cards_are_not_listed(self, app, client, victim):
        body = html(client.get("/account/payment-methods"))
        assert card_ids_on_page(body) == [] and "4242" not in body

    def test_make_default_on_another_learners_card_is_404(self, app, client, victim):
        response = client.post(f"/account/payment-methods/{victim['master'].id}/default")
        assert response.status_code == 404
        self._unchanged(app, victim)

    def test_remove_another_learners_card_is_404(self, app, client, victim):
        assert client.get(f"/account/payment-methods/{victim['visa'].id}/remove").status_code == 404
        assert client.post(f"/account/payment-methods/{victim['visa'].id}/remove").status_code == 404
        self._unchanged(app, victim)

    def test_another_learners_setup_session_is_404(self, app, client, victim):
        response = client.get(f"/account/payment-methods?setup_session_id={victim['cs_id']}")
        assert response.status_code == 404
        assert cards(app, "learner_2") == []
        self._unchanged(app, victim)

    def test_attaching_another_learners_card_is_not_found_without_stripe_call(self, app, client, victim):
        from webapp.extensions import db
        from webapp.models import User
        from webapp.services import saved_cards
        from webapp.services.errors import NotFound

        with app.app_context():
            user = db.session.get(User, "learner_2")
            with pytest.raises(NotFound):
                saved_cards.attach_card(user, victim["visa"].stripe_payment_method_id)
        assert customer_of(app, "learner_2") is None  # not even a customer was created
        self._unchanged(app, victim)

    @pytest.mark.parametrize("bad_id, status", [("nope", 404), ("x" * 40, 404), ("%00", 400)])
    def test_unknown_ids_are_404(self, app, client, victim, bad_id, status):
        assert client.post(f"/account/payment-methods/{bad_id}/default").status_code == status
        assert client.post(f"/account/payment-methods/{bad_id}/remove").status_code == status
        assert client.get(f"/account/payment-methods?setup_session_id={bad_id}").status_code == status
        self._unchanged(app, victim)


class TestStripeOutage:
    def test_listing_shows_last_known_cards_and_a_retryable_message(self, app, client, auth):
        auth.sign_in("learner_1")
        add_card(client)
        inject_faults(app, 20, "500")
        try:
            page = client.get("/account/payment-methods")
            body = html(page)
            assert page.status_code == 503
            assert "try again" in body and "4242" in body
            adding = client.post("/account/payment-methods")
            assert adding.status_code == 503 and "try again" in html(adding)
            (visa,) = cards(app, "learner_1")
            removing = client.post(f"/account/payment-methods/{visa.id}/remove")
            assert removing.status_code == 503 and "try again" in html(removing)
            defaulting = client.post(f"/account/payment-methods/{visa.id}/default")
            assert defaulting.status_code == 503
        finally:
            clear_faults(app)
        assert len(cards(app, "learner_1")) == 1 and len(stripe_cards(app, "learner_1")) == 1

    def test_network_failure_on_first_setup_keeps_no_half_state(self, app, client, auth):
        auth.sign_in("learner_1")
        client.get("/account/payment-methods")
        inject_faults(app, 20, "network")
        try:
            response = client.post("/account/payment-methods")
        finally:
            clear_faults(app)
        assert response.status_code == 503 and "try again" in html(response)
        assert customer_of(app, "learner_1") is None
        add_card(client)  # and the retry works
        assert len(cards(app, "learner_1")) == 1


class TestWebhookMirror:
    def test_attached_and_detached_events_follow_stripe_in_any_order(self, app, client, auth):
        from webapp.extensions import db
        from webapp.services import saved_cards

        auth.sign_in("learner_1")
        add_card(client)
        customer = customer_of(app, "learner_1")
        with app.app_context():
            gw = gateway(app)
            master = gw.attach_payment_method("pm_card_mastercard", customer)
            # `detached` delivered before `attached`: both re-read Stripe, which says attached.
            saved_cards.mirror_payment_method_event(
                "payment_method.detached", {"id": master.id, "type": "card"}, event_id="evt_1"
            )
            saved_cards.mirror_payment_method_event(
                "payment_method.attached", {"id": master.id, "type": "card"}, event_id="evt_2"
            )
            db.session.commit()
        assert {c.last4 for c in cards(app, "learner_1")} == {"4242", "4444"}
        with app.app_context():
            gateway(app).detach_payment_method(master.id)
            saved_cards.mirror_payment_method_event(
                "payment_method.detached", {"id": master.id, "type": "card"}, event_id="evt_3"
            )
            db.session.commit()
        assert {c.last4 for c in cards(app, "learner_1")} == {"4242"}

    def test_cards_of_unknown_customers_are_ignored(self, app, client, auth):
        from webapp.extensions import db
        from webapp.services import saved_cards

        with app.app_context():
            gw = gateway(app)
            stranger = gw.create_customer(email=None, name=None, user_id="someone_else", idempotency_key="stranger")
            pm = gw.attach_payment_method("pm_card_visa", stranger)
            saved_cards.mirror_payment_method_event(
                "payment_method.attached", {"id": pm.id, "type": "card"}, event_id="evt_x"
            )
            db.session.commit()
        assert rows(app, "PaymentMethod") == []

    def test_setup_session_event_mirrors_the_card(self, app, client, auth):
        from webapp.extensions import db
        from webapp.payments.gateway import CheckoutSession
        from webapp.services import saved_cards

        auth.sign_in("learner_1")
        started = client.post("/account/payment-methods")
        client.post(started.headers["Location"], data={"action": "pay", "method": "card", "card_number": CARD_OK})
        cs_id = cs_id_of(started.headers["Location"])  # the learner never came back to our page
        with app.app_context():
            raw = gateway(app).stripe_client.v1.checkout.sessions.retrieve(cs_id).to_dict()
            saved_cards.mirror_setup_session(CheckoutSession.from_stripe(raw), event_id="evt_setup")
            db.session.commit()
        (row,) = cards(app, "learner_1")
        assert row.last4 == "4242" and row.is_default
        assert stripe_default(app, "learner_1") == row.stripe_payment_method_id


class TestCheckoutOffersSavedCards:
    def test_checkout_session_carries_the_customer_and_saved_card_options(self, app, client, auth):
        make_course(app, "python-payments", price=4999, currency="usd")
        auth.sign_in("learner_1")
        add_card(client)
        started = client.post("/checkout/python-payments", data={"coupon_code": ""})
        assert started.status_code == 303
        cs_id = cs_id_of(started.headers["Location"])
        with app.app_context():
            raw = gateway(app).stripe_client.v1.checkout.sessions.retrieve(cs_id).to_dict()
        assert raw["customer"] == customer_of(app, "learner_1")
        assert (raw.get("saved_payment_method_options") or {}).get("payment_method_save") == "enabled"


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
class TestOneStripeCustomer:
    def test_concurrent_first_checkouts_share_one_customer(self, app):
        from webapp.extensions import db
        from webapp.models import Course
        from webapp.services.checkout import create_checkout

        courses = [make_course(app, f"course-{i}", price=1500 + i, currency="usd") for i in range(2)]
        make_user(app, "new_learner")
        barrier = threading.Barrier(len(courses))
        windows: dict[int, tuple[float, float]] = {}
        results: dict[int, object] = {}

        def first_checkout(index: int) -> None:
            with app.app_context():
                try:
                    course = db.session.get(Course, courses[index])
                    barrier.wait(5)
                    started = time.monotonic()
                    results[index] = create_checkout(user_id="new_learner", course=course, raw_code=None)
                    windows[index] = (started, time.monotonic())
                except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                    results[index] = exc
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=first_checkout, args=(i,)) for i in range(len(courses))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert all(not isinstance(r, Exception) for r in results.values()), results
        # Control: the two calls really overlapped in time (neither finished before the other began).
        assert max(w[0] for w in windows.values()) < min(w[1] for w in windows.values())

        customer = customer_of(app, "new_learner")
        assert customer and customer.startswith("cus_")
        sessions = payment_sessions(app, user_id="new_learner")
        assert len(sessions) == 2 and {s.stripe_customer_id for s in sessions} == {customer}
        with app.app_context():
            remote = [gateway(app).retrieve_checkout_session(s.stripe_session_id) for s in sessions]
        assert {r.customer_id for r in remote} == {customer}
