"""The purchase loop as a learner drives it: checkout page, coupons, Stripe redirect, return pages.

Everything runs on SQLite and PostgreSQL, through the real stripe SDK against the in-process
sandbox (no mocks of our code). Webhooks are off here, so every enrollment below comes from
the success page's own call to fulfillment.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from tests.support.auth import sign_in
from tests.support.checkout import (
    CARD_DECLINED,
    FAST_STRIPE,
    buy,
    cs_id_of,
    main_attrs,
    pay,
    start_checkout,
    stripe_session,
    stripe_sessions,
)
from tests.support.factories import make_coupon, make_course, make_user
from tests.support.rows import audit_actions, coupon_uses, enrollments, payment_sessions, rows, update_row
from webapp.sandbox import clear_faults, inject_faults, settle_session

SLUG = "python-payments"
HX = {"HX-Request": "true"}


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


@pytest.fixture
def shop(app) -> dict[str, str]:
    return {
        "usd": make_course(app, SLUG, price=4999, currency="usd", title="Python for Payments"),
        "other": make_course(app, "other-course", price=2999, currency="usd", title="Other Course"),
        "free": make_course(app, "free-course", price=0, currency="usd", title="Free Course"),
    }


@pytest.fixture
def learner(app, auth) -> str:
    auth.sign_in("learner_1")
    return "learner_1"


def html(response) -> str:
    """The page text as a reader sees it (entities such as &#39; decoded)."""
    return unescape(response.get_data(as_text=True))


def apply_coupon(client, code: str, slug: str = SLUG, **headers):
    return client.post(f"/checkout/{slug}/coupon", data={"code": code}, headers=headers or HX)


class TestCheckoutPage:
    def test_anonymous_visitor_is_sent_to_sign_in_and_comes_back(self, app, client, shop):
        response = client.get(f"/checkout/{SLUG}")
        assert response.status_code in (302, 303)
        location = response.headers["Location"]
        assert "sign-in?next=" in location and f"checkout%2F{SLUG}" in location

        signed_in = client.post(
            "/dev/sign-in",
            data={"user_id": "returning_learner", "email": "r@example.test", "next": f"/checkout/{SLUG}"},
        )
        assert signed_in.status_code in (302, 303)
        assert signed_in.headers["Location"].endswith(f"/checkout/{SLUG}")
        page = client.get(signed_in.headers["Location"])
        assert page.status_code == 200
        assert "Pay $49.99" in html(page)

    def test_shows_course_price_coupon_form_and_pay_button(self, client, shop, learner):
        page = html(client.get(f"/checkout/{SLUG}"))
        assert "Python for Payments" in page
        assert 'data-testid="total">$49.99' in page
        assert 'id="coupon-form"' in page
        assert "Pay $49.99" in page

    def test_enrolled_learner_sees_enrolled_and_no_pay_button(self, app, client, shop, learner):
        buy(client, SLUG)
        page = html(client.get(f"/checkout/{SLUG}"))
        assert "You're enrolled" in page
        assert "Pay $" not in page
        assert 'id="coupon-form"' not in page

    def test_free_course_offers_enroll_for_free(self, client, shop, learner):
        page = html(client.get("/checkout/free-course"))
        assert "Enroll for free" in page
        assert "Pay $" not in page

    def test_unknown_course_is_404(self, client, shop, learner):
        assert client.get("/checkout/no-such-course").status_code == 404


class TestCouponPartial:
    def test_valid_coupon_returns_the_breakdown_partial(self, app, client, shop, learner):
        make_coupon(app, "WELCOME10", value="10")
        response = apply_coupon(client, "WELCOME10")
        body = html(response)
        assert response.status_code == 200
        assert "<html" not in body and 'id="checkout-summary"' in body
        assert 'data-testid="original">$49.99' in body
        assert 'data-testid="discount">−$5.00' in body
        assert 'data-testid="total">$44.99' in body
        assert 'name="coupon_code" value="WELCOME10"' in body
        assert "Pay $44.99" in body

    @pytest.mark.parametrize(
        ("reason", "code", "coupon", "message"),
        [
            ("unknown", "NOSUCHCODE", None, "recognise"),
            ("inactive", "OLDPROMO", {"is_active": False}, "no longer active"),
            ("not_yet_valid", "SOON", {"valid_from": datetime.now(UTC) + timedelta(days=3)}, "valid from"),
            (
                "expired",
                "GONE",
                {
                    "valid_from": datetime.now(UTC) - timedelta(days=9),
                    "valid_until": datetime.now(UTC) - timedelta(days=1),
                },
                "expired",
            ),
            ("used_up", "SOLDOUT", {"max_uses": 2, "_uses": 2}, "fully redeemed"),
            ("not_for_course", "OTHERONLY", {"_other_course": True}, "doesn't apply"),
            ("below_minimum_amount", "BIGSPEND", {"minimum_amount": 10000}, "$100.00"),
            ("other_currency", "EUROFF", {"discount_type": "fixed", "value": 500, "currency": "eur"}, "EUR"),
            ("below_minimum_charge", "ALMOST", {"discount_type": "fixed", "value": 4970, "currency": "usd"}, "$0.50"),
        ],
    )
    def test_refused_coupon_names_the_reason_and_keeps_the_price(
        self, app, client, shop, learner, reason, code, coupon, message
    ):
        if coupon is not None:
            options = dict(coupon)
            uses = options.pop("_uses", 0)
            if options.pop("_other_course", False):
                options["course_ids"] = [shop["other"]]
            coupon_id = make_coupon(app, code, **{"value": "10", **options})
            if uses:
                update_row(app, "Coupon", coupon_id, current_uses=uses)
        body = html(apply_coupon(client, code))
        assert f'data-reason="{reason}"' in body
        assert message in body
        assert 'data-testid="total">$49.99' in body
        assert 'data-testid="discount"' not in body

    def test_per_user_limit_counts_the_learners_open_hold(self, app, client, shop, learner):
        make_coupon(app, "ONCEEACH", value="10", max_uses_per_user=1)
        assert start_checkout(client, "other-course", "ONCEEACH").status_code == 303
        body = html(apply_coupon(client, "ONCEEACH"))
        assert 'data-reason="per_user_limit"' in body
        assert "maximum number of times" in body
        # Another learner is not affected by this learner's hold.

        sign_in(app, client, "learner_2")
        assert 'data-testid="total">$44.99' in html(apply_coupon(client, "ONCEEACH"))

    @pytest.mark.parametrize("typed", ["  welcome10  ", "Welcome10", "\twElCoMe10\n"])
    def test_code_is_trimmed_and_case_insensitive(self, app, client, shop, learner, typed):
        make_coupon(app, "WELCOME10", value="10")
        body = html(apply_coupon(client, typed))
        assert 'data-testid="total">$44.99' in body
        assert "data-reason" not in body

    @pytest.mark.parametrize(
        ("stored", "typed"),
        [
            ("WELCOME10", "WELCОME10"),  # Cyrillic О
            ("WELCOME10", "ＷＥＬＣＯＭＥ１０"),  # fullwidth
            ("LIMIT", "lımıt"),  # Turkish dotless ı upper-cases to I
            ("STRASSE", "straße"),  # ß upper-cases to SS
            ("KELVIN", "\u212aELVIN"),  # Kelvin sign lower-cases to k
        ],
    )
    def test_look_alike_characters_do_not_match(self, app, client, shop, learner, stored, typed):
        make_coupon(app, stored, value="10")
        body = html(apply_coupon(client, typed))
        assert 'data-reason="unknown"' in body
        assert 'data-testid="total">$49.99' in body

    def test_delete_removes_the_coupon_and_restores_the_price(self, app, client, shop, learner):
        make_coupon(app, "WELCOME10", value="10")
        assert 'data-testid="total">$44.99' in html(apply_coupon(client, "WELCOME10"))
        response = client.delete(f"/checkout/{SLUG}/coupon", headers=HX)
        body = html(response)
        assert response.status_code == 200 and "<html" not in body
        assert 'data-testid="total">$49.99' in body
        assert 'data-testid="discount"' not in body
        assert 'name="coupon_code" value=""' in body

    def test_without_javascript_the_form_post_re_renders_the_whole_page(self, app, client, shop, learner):
        make_coupon(app, "WELCOME10", value="10")
        response = client.post(f"/checkout/{SLUG}/coupon", data={"code": "WELCOME10"})
        body = html(response)
        assert response.status_code == 200
        assert "<html" in body and 'id="coupon-form"' in body
        assert 'data-testid="total">$44.99' in body
        refused = html(client.post(f"/checkout/{SLUG}/coupon", data={"code": "NOPE"}))
        assert "<html" in refused and 'data-reason="unknown"' in refused

    def test_breakdown_says_until_when_an_open_checkout_holds_the_coupon(self, app, client, shop, learner):
        make_coupon(app, "WELCOME10", value="10", max_uses=1)
        assert start_checkout(client, SLUG, "WELCOME10").status_code == 303
        body = html(apply_coupon(client, "WELCOME10"))
        assert "Coupon held for you until" in body
        # The learner's own hold doesn't count against them.
        assert 'data-testid="total">$44.99' in body

    def test_coupon_form_refuses_an_over_long_or_empty_code_without_error(self, app, client, shop, learner):
        assert 'data-reason="unknown"' in html(apply_coupon(client, "X" * 500))
        empty = html(apply_coupon(client, "   "))
        assert 'data-testid="total">$49.99' in empty and "data-reason" not in empty


class TestRounding:
    @pytest.mark.parametrize(
        ("price", "currency", "coupon", "discount", "total", "minor_total"),
        [
            (4999, "usd", {"value": "12.5"}, "−$6.25", "$43.74", 4374),  # 624.875 → 625 (half-up)
            (1999, "usd", {"value": "50"}, "−$10.00", "$9.99", 999),  # 999.5 → 1000
            (1001, "usd", {"value": "0.05"}, "−$0.01", "$10.00", 1000),  # 0.5005 → 1
            (4999, "usd", {"value": "50", "maximum_discount": 1000}, "−$10.00", "$39.99", 3999),
            (5000, "jpy", {"value": "33"}, "−¥1,650", "¥3,350", 3350),
            (999, "jpy", {"value": "12.5"}, "−¥125", "¥874", 874),  # 124.875 → 125 yen, no decimals
            (5000, "jpy", {"discount_type": "fixed", "value": 1500, "currency": "jpy"}, "−¥1,500", "¥3,500", 3500),
        ],
    )
    def test_breakdown_and_stripe_amount_use_half_up_minor_units(
        self, app, client, learner, price, currency, coupon, discount, total, minor_total
    ):
        make_course(app, "rounding", price=price, currency=currency)
        make_coupon(app, "ROUND", **coupon)
        body = html(apply_coupon(client, "ROUND", slug="rounding"))
        assert f'data-testid="discount">{discount}' in body
        assert f'data-testid="total">{total}' in body

        started = start_checkout(client, "rounding", "ROUND")
        remote = stripe_session(app, cs_id_of(started.headers["Location"]))
        assert (remote.amount_total, remote.currency) == (minor_total, currency)


class TestStartCheckout:
    def test_redirects_to_stripe_with_the_server_price_and_our_ids(self, app, client, shop, learner):
        make_coupon(app, "WELCOME10", value="10")
        before = time.time()
        response = start_checkout(
            client, SLUG, " welcome10 ", amount="1", price="1", final_amount="1", unit_amount="1", currency="jpy"
        )
        assert response.status_code == 303
        location = response.headers["Location"]
        assert location.startswith("http://localhost/_sandbox/stripe/pay/cs_test_")

        (row,) = payment_sessions(app)
        user = rows(app, "User", id=learner)[0]
        remote = stripe_session(app, cs_id_of(location))
        assert row.stripe_session_id == remote.id and row.status == "PENDING"
        assert (remote.amount_total, remote.currency) == (4499, "usd")
        assert (row.amount, row.discount_amount, row.final_amount, row.coupon_code) == (4999, 500, 4499, "WELCOME10")
        assert remote.client_reference_id == row.id
        assert remote.metadata == {
            "payment_session_id": row.id,
            "user_id": learner,
            "course_id": shop["usd"],
            "coupon_code": "WELCOME10",
        }
        assert user.stripe_customer_id and remote.customer_id == user.stripe_customer_id
        ttl = remote.expires_at - before
        assert 30 * 60 <= ttl <= 33 * 60, ttl
        assert remote.expires_at == int(row.expires_at.timestamp())

    def test_payment_intent_carries_our_metadata_and_urls_lead_back_to_our_pages(self, app, client, shop, learner):
        from webapp.payments.gateway import get_gateway

        started = start_checkout(client, SLUG)
        paid = pay(client, started.headers["Location"])
        cs_id = cs_id_of(started.headers["Location"])
        assert paid.headers["Location"] == f"http://localhost/payment/success?session_id={cs_id}"
        (row,) = payment_sessions(app)
        with app.app_context():
            intent = get_gateway().retrieve_payment_intent(stripe_session(app, cs_id).payment_intent_id)
        assert intent.metadata["payment_session_id"] == row.id
        assert intent.metadata["course_id"] == shop["usd"]

    def test_double_submit_reuses_the_same_stripe_session(self, app, client, shop, learner):
        make_coupon(app, "WELCOME10", value="10", max_uses=5)
        first = start_checkout(client, SLUG, "WELCOME10")
        second = start_checkout(client, SLUG, "welcome10")
        assert first.status_code == second.status_code == 303
        assert first.headers["Location"] == second.headers["Location"]
        assert len(stripe_sessions(app)) == 1
        assert [s.status for s in payment_sessions(app)] == ["PENDING"]

    def test_changing_the_coupon_replaces_the_open_checkout(self, app, client, shop, learner):
        make_coupon(app, "WELCOME10", value="10", max_uses=1)
        first = start_checkout(client, SLUG, "WELCOME10")
        second = start_checkout(client, SLUG, "")
        assert first.headers["Location"] != second.headers["Location"]
        assert stripe_session(app, cs_id_of(first.headers["Location"])).status == "expired"
        statuses = sorted(s.status for s in payment_sessions(app))
        assert statuses == ["CANCELED", "PENDING"]
        # The superseded checkout no longer holds the only use of the coupon.
        make_user(app, "learner_2")

        sign_in(app, client, "learner_2")
        assert 'data-testid="total">$44.99' in html(apply_coupon(client, "WELCOME10"))

    def test_already_enrolled_is_refused_without_calling_stripe(self, app, client, shop, learner):
        buy(client, SLUG)
        count = len(stripe_sessions(app))
        response = start_checkout(client, SLUG)
        assert response.status_code == 303
        assert response.headers["Location"].endswith(f"/checkout/{SLUG}")
        assert "already enrolled" in html(client.get(response.headers["Location"]))
        assert len(stripe_sessions(app)) == count
        assert len(payment_sessions(app)) == 1

    def test_full_discount_enrolls_at_once_without_stripe(self, app, client, shop, learner):
        make_coupon(app, "FREEBIE", value="100", max_uses=10)
        assert "Enroll for free" in html(apply_coupon(client, "FREEBIE"))
        response = start_checkout(client, SLUG, "FREEBIE")
        assert response.status_code == 303
        assert "/payment/success?session_id=" in response.headers["Location"]
        page = client.get(response.headers["Location"])
        attrs = main_attrs(html(page))
        assert attrs["data-session-status"] == "COMPLETED"
        assert "You're enrolled" in html(page)

        (row,) = payment_sessions(app)
        (enrollment,) = enrollments(app)
        assert (row.status, row.final_amount, row.discount_amount, row.stripe_session_id) == (
            "COMPLETED",
            0,
            4999,
            None,
        )
        assert attrs["data-enrollment-id"] == enrollment.id == row.enrollment_id
        assert (enrollment.source, enrollment.payment_status, enrollment.amount_paid) == ("COUPON", "FREE", 0)
        assert coupon_uses(app, "FREEBIE") == 1
        assert stripe_sessions(app) == []
        # Reloading the page changes nothing.
        client.get(response.headers["Location"])
        assert coupon_uses(app, "FREEBIE") == 1 and len(enrollments(app)) == 1

    def test_free_course_enrolls_without_stripe(self, app, client, shop, learner):
        response = start_checkout(client, "free-course")
        assert response.status_code == 303
        page = client.get(response.headers["Location"])
        assert "You're enrolled" in html(page)
        (enrollment,) = enrollments(app)
        assert (enrollment.course_id, enrollment.source, enrollment.payment_status) == (shop["free"], "FREE", "FREE")
        assert stripe_sessions(app) == []

    @pytest.mark.parametrize("kind", ["500", "network"])
    def test_stripe_outage_shows_try_again_and_leaves_nothing_behind(self, app, client, shop, learner, kind):
        make_coupon(app, "ONLYONE", value="10", max_uses=1)
        inject_faults(app, 50, kind)
        try:
            response = start_checkout(client, SLUG, "ONLYONE")
        finally:
            clear_faults(app)
        body = html(response)
        assert response.status_code == 503
        assert "couldn't reach our payment provider" in body and "Try again" in body
        assert payment_sessions(app) == []
        assert coupon_uses(app, "ONLYONE") == 0
        # Nothing is held: the coupon still applies, and the retry works.
        assert 'data-testid="total">$44.99' in html(apply_coupon(client, "ONLYONE"))
        retry = start_checkout(client, SLUG, "ONLYONE")
        assert retry.status_code == 303 and "/_sandbox/stripe/pay/" in retry.headers["Location"]

    def test_refused_coupon_on_submit_re_renders_checkout_with_the_reason(self, app, client, shop, learner):
        response = start_checkout(client, SLUG, "NOSUCHCODE")
        assert response.status_code == 400
        assert 'data-reason="unknown"' in html(response)
        assert payment_sessions(app) == [] and stripe_sessions(app) == []


class TestSuccessPage:
    def test_paid_checkout_enrolls_and_shows_the_receipt(self, app, client, shop, learner):
        make_coupon(app, "WELCOME10", value="10")
        page, cs_id = buy(client, SLUG, "WELCOME10")
        body = html(page)
        assert page.status_code == 200
        assert "You're enrolled" in body
        assert "$49.99" in body and "−$5.00" in body and "$44.99" in body
        assert "Visa ending in 4242" in body
        assert f'href="/courses/{SLUG}"' in body

        (row,) = payment_sessions(app)
        (enrollment,) = enrollments(app)
        attrs = main_attrs(body)
        assert attrs == {"data-session-status": "COMPLETED", "data-enrollment-id": enrollment.id}
        assert row.status == "COMPLETED" and row.enrollment_id == enrollment.id
        assert (enrollment.status, enrollment.source, enrollment.payment_status) == ("ACTIVE", "PURCHASE", "PAID")
        assert (enrollment.amount_paid, enrollment.discount_applied) == (4499, 500)
        assert enrollment.payment_session_id == row.id
        assert coupon_uses(app, "WELCOME10") == 1
        assert "payment_session.completed" in audit_actions(app, row.id)

    def test_reloading_the_success_page_changes_nothing(self, app, client, shop, learner):
        make_coupon(app, "WELCOME10", value="10")
        page, cs_id = buy(client, SLUG, "WELCOME10")
        first_id = main_attrs(html(page))["data-enrollment-id"]
        for _ in range(3):
            again = client.get(f"/payment/success?session_id={cs_id}")
            assert main_attrs(html(again))["data-enrollment-id"] == first_id
        assert len(enrollments(app)) == 1
        assert coupon_uses(app, "WELCOME10") == 1
        (row,) = payment_sessions(app)
        assert audit_actions(app, row.id).count("payment_session.completed") == 1

    def test_someone_elses_session_is_a_404_page(self, app, client, auth, shop, learner):
        started = start_checkout(client, SLUG)
        cs_id = cs_id_of(started.headers["Location"])
        pay(client, started.headers["Location"])
        auth.sign_in("intruder")
        for path in ("success", "cancel"):
            response = client.get(f"/payment/{path}?session_id={cs_id}")
            assert response.status_code == 404
            assert "couldn't find that checkout" in html(response)
        assert enrollments(app) == []
        assert payment_sessions(app)[0].status == "PENDING"

    @pytest.mark.parametrize(
        "query", ["?session_id=cs_test_doesnotexist", "?session_id=", "", "?session_id=" + "x" * 300]
    )
    def test_unknown_session_is_a_404_page_not_a_redirect(self, client, shop, learner, query):
        response = client.get(f"/payment/success{query}")
        assert response.status_code == 404
        assert "<html" in html(response)

    def test_bank_transfer_shows_processing_then_enrolls_once_settled(self, app, client, runner, shop, learner):
        started = start_checkout(client, SLUG)
        cs_id = cs_id_of(started.headers["Location"])
        paid = pay(client, started.headers["Location"], method="bank_transfer")
        page = client.get(paid.headers["Location"])
        body = html(page)
        assert main_attrs(body) == {"data-session-status": "PROCESSING"}
        assert "Your payment is processing" in body
        assert f"/payment/success/status?session_id={cs_id}" in body and 'hx-trigger="load delay:' in body
        assert payment_sessions(app)[0].status == "PROCESSING" and enrollments(app) == []

        poll = client.get(f"/payment/success/status?session_id={cs_id}&attempt=1", headers=HX)
        assert "attempt=2" in html(poll) and "HX-Refresh" not in poll.headers

        result = runner.invoke(args=["stripe-sandbox", "settle", cs_id])
        assert result.exit_code == 0, result.output
        poll = client.get(f"/payment/success/status?session_id={cs_id}&attempt=2", headers=HX)
        assert poll.headers.get("HX-Refresh") == "true"
        body = html(client.get(f"/payment/success?session_id={cs_id}"))
        (enrollment,) = enrollments(app)
        assert main_attrs(body) == {"data-session-status": "COMPLETED", "data-enrollment-id": enrollment.id}

    def test_polling_stops_after_about_two_minutes_with_an_explanation(self, app, client, shop, learner):
        from webapp.web.payment import MAX_POLLS, POLL_SECONDS

        assert 90 <= MAX_POLLS * POLL_SECONDS <= 180
        started = start_checkout(client, SLUG)
        cs_id = cs_id_of(started.headers["Location"])
        pay(client, started.headers["Location"], method="bank_transfer")
        last = html(client.get(f"/payment/success/status?session_id={cs_id}&attempt={MAX_POLLS}", headers=HX))
        assert "still being confirmed" in last and "hx-get" not in last
        assert "enroll you automatically" in last

    def test_failed_bank_transfer_shows_failure_and_a_way_back(self, app, client, runner, shop, learner):
        make_coupon(app, "ONLYONE", value="10", max_uses=1)
        started = start_checkout(client, SLUG, "ONLYONE")
        cs_id = cs_id_of(started.headers["Location"])
        pay(client, started.headers["Location"], method="bank_transfer")
        client.get(f"/payment/success?session_id={cs_id}")
        result = runner.invoke(args=["stripe-sandbox", "settle", cs_id, "--fail"])
        assert result.exit_code == 0, result.output
        body = html(client.get(f"/payment/success?session_id={cs_id}"))
        assert main_attrs(body) == {"data-session-status": "FAILED"}
        assert "didn't go through" in body and f'href="/checkout/{SLUG}"' in body
        assert payment_sessions(app)[0].status == "FAILED"
        assert enrollments(app) == []
        assert coupon_uses(app, "ONLYONE") == 0
        # The failed checkout's hold is released.
        assert 'data-testid="total">$44.99' in html(apply_coupon(client, "ONLYONE"))

    def test_declined_card_stays_on_the_sandbox_page_and_enrolls_nobody(self, app, client, shop, learner):
        started = start_checkout(client, SLUG)
        declined = pay(client, started.headers["Location"], CARD_DECLINED)
        assert declined.status_code == 200
        assert "Your card was declined." in html(declined)
        body = html(client.get(f"/payment/success?session_id={cs_id_of(started.headers['Location'])}"))
        assert main_attrs(body) == {"data-session-status": "PENDING"}
        assert enrollments(app) == [] and payment_sessions(app)[0].status == "PENDING"

    def test_amount_mismatch_is_flagged_and_not_enrolled(self, app, client, shop, learner):
        started = start_checkout(client, SLUG)
        (row,) = payment_sessions(app)
        update_row(app, "PaymentSession", row.id, final_amount=100)  # Stripe charged 4999
        paid = pay(client, started.headers["Location"])
        page = client.get(paid.headers["Location"])
        body = html(page)
        assert page.status_code == 200
        assert "data-enrollment-id" not in body
        assert "You're enrolled" not in body
        assert "didn't match" in body
        assert enrollments(app) == []
        (row,) = payment_sessions(app)
        assert row.status != "COMPLETED" and row.failure_reason == "amount_mismatch"
        assert "payment_session.amount_mismatch" in audit_actions(app, row.id)
        client.get(paid.headers["Location"])
        assert audit_actions(app, row.id).count("payment_session.amount_mismatch") == 1


class TestCancelAndExpiry:
    def test_cancel_releases_the_coupon_and_expires_the_stripe_session(self, app, client, shop, learner):
        make_coupon(app, "ONLYONE", value="10", max_uses=1)
        started = start_checkout(client, SLUG, "ONLYONE")
        cs_id = cs_id_of(started.headers["Location"])
        back = client.post(started.headers["Location"], data={"action": "cancel"})
        assert back.headers["Location"] == f"http://localhost/payment/cancel?session_id={cs_id}"
        page = client.get(back.headers["Location"])
        body = html(page)
        assert page.status_code == 200
        assert "No charge was made" in body and "ONLYONE has been released" in body
        assert f'href="/courses/{SLUG}"' in body
        assert payment_sessions(app)[0].status == "CANCELED"
        assert stripe_session(app, cs_id).status == "expired"
        assert "payment_session.canceled" in audit_actions(app, payment_sessions(app)[0].id)
        # Reloading is harmless, and the released coupon is available to another learner.
        assert client.get(back.headers["Location"]).status_code == 200

        make_user(app, "learner_2")
        sign_in(app, client, "learner_2")
        assert 'data-testid="total">$44.99' in html(apply_coupon(client, "ONLYONE"))

    def test_cancel_page_after_paying_in_another_tab_keeps_the_enrollment(self, app, client, shop, learner):
        started = start_checkout(client, SLUG)
        cs_id = cs_id_of(started.headers["Location"])
        paid = pay(client, started.headers["Location"])
        body = html(client.get(f"/payment/cancel?session_id={cs_id}"))
        assert "No charge was made" not in body
        client.get(paid.headers["Location"])
        assert payment_sessions(app)[0].status == "COMPLETED"
        assert len(enrollments(app)) == 1

    def test_cancel_rereads_the_session_under_its_lock(self, app, client, shop, learner):
        """A copy loaded before the lock (the view's) must not decide: if another transaction
        completed the session meanwhile, cancelling leaves it COMPLETED and Stripe untouched."""
        import sqlalchemy as sa

        from webapp.extensions import db
        from webapp.models import PaymentSession
        from webapp.services.checkout import cancel_checkout

        started = start_checkout(client, SLUG)
        cs_id = cs_id_of(started.headers["Location"])
        (row,) = payment_sessions(app)
        with app.app_context():
            loaded = db.session.get(PaymentSession, row.id)
            assert loaded.status == "PENDING"
            # The view's read transaction ends with the copy kept as it was read (on SQLite an
            # open transaction holds the write lock, so the other one could not commit meanwhile).
            db.session().expire_on_commit = False
            db.session.commit()
            with db.engine.begin() as other:  # another process completes it
                other.execute(sa.update(PaymentSession).where(PaymentSession.id == row.id).values(status="COMPLETED"))
            result = cancel_checkout(loaded, actor="learner")
            assert result.status == "COMPLETED"
        assert payment_sessions(app)[0].status == "COMPLETED"
        assert stripe_session(app, cs_id).status == "open"
        assert "payment_session.canceled" not in audit_actions(app, row.id)

    def test_payments_expire_command_expires_overdue_checkouts_and_releases_holds(
        self, app, client, runner, shop, learner
    ):
        make_coupon(app, "ONLYONE", value="10", max_uses=1)
        overdue = start_checkout(client, SLUG, "ONLYONE")
        current = start_checkout(client, "other-course")
        overdue_row = payment_sessions(app, course_id=shop["usd"])[0]
        update_row(app, "PaymentSession", overdue_row.id, expires_at=datetime.now(UTC) - timedelta(minutes=1))

        result = runner.invoke(args=["payments", "expire"])
        assert result.exit_code == 0, result.output
        assert overdue_row.id in result.output
        assert "1" in result.output

        assert payment_sessions(app, id=overdue_row.id)[0].status == "EXPIRED"
        assert payment_sessions(app, course_id=shop["other"])[0].status == "PENDING"
        assert stripe_session(app, cs_id_of(overdue.headers["Location"])).status == "expired"
        assert stripe_session(app, cs_id_of(current.headers["Location"])).status == "open"
        assert "payment_session.expired" in audit_actions(app, overdue_row.id)
        # An expired checkout can't be paid any more, and its coupon is free again.
        assert pay(client, overdue.headers["Location"]).status_code != 303
        assert 'data-testid="total">$44.99' in html(apply_coupon(client, "ONLYONE"))
        # Running it again finds nothing.
        again = runner.invoke(args=["payments", "expire"])
        assert again.exit_code == 0 and overdue_row.id not in again.output

    def test_expired_checkout_is_not_reused_by_a_new_submit(self, app, client, shop, learner):
        first = start_checkout(client, SLUG)
        (row,) = payment_sessions(app)
        update_row(app, "PaymentSession", row.id, expires_at=datetime.now(UTC) - timedelta(minutes=1))
        second = start_checkout(client, SLUG)
        assert second.status_code == 303
        assert second.headers["Location"] != first.headers["Location"]

    def test_settled_bank_transfer_survives_the_expiry_sweep(self, app, client, runner, shop, learner):
        started = start_checkout(client, SLUG)
        cs_id = cs_id_of(started.headers["Location"])
        pay(client, started.headers["Location"], method="bank_transfer")
        (row,) = payment_sessions(app)
        update_row(app, "PaymentSession", row.id, expires_at=datetime.now(UTC) - timedelta(minutes=1))
        assert runner.invoke(args=["payments", "expire"]).exit_code == 0
        settle_session(app, cs_id)
        body = html(client.get(f"/payment/success?session_id={cs_id}"))
        assert main_attrs(body)["data-session-status"] == "COMPLETED"
        assert len(enrollments(app)) == 1

    def test_cancel_during_a_stripe_outage_keeps_the_checkout_and_says_so(self, app, client, shop, learner):
        make_coupon(app, "ONLYONE", value="10", max_uses=1)
        started = start_checkout(client, SLUG, "ONLYONE")
        cs_id = cs_id_of(started.headers["Location"])
        inject_faults(app, 50, "500")
        try:
            page = client.get(f"/payment/cancel?session_id={cs_id}")
        finally:
            clear_faults(app)
        body = html(page)
        assert page.status_code == 200
        assert "couldn't reach our payment provider" in body
        assert "has been released" not in body
        assert payment_sessions(app)[0].status == "PENDING"
        # Once Stripe is back, the same link finishes the job.
        body = html(client.get(f"/payment/cancel?session_id={cs_id}"))
        assert "ONLYONE has been released" in body
        assert payment_sessions(app)[0].status == "CANCELED"

    def test_cancel_link_after_a_bank_transfer_says_it_is_processing(self, app, client, shop, learner):
        started = start_checkout(client, SLUG)
        cs_id = cs_id_of(started.headers["Location"])
        pay(client, started.headers["Location"], method="bank_transfer")
        body = html(client.get(f"/payment/cancel?session_id={cs_id}"))
        assert "No charge was made" not in body
        assert "Your payment is processing" in body
        assert payment_sessions(app)[0].status == "PROCESSING"


class TestSuccessPageDuringOutage:
    def test_success_page_during_a_stripe_outage_is_not_an_error_and_recovers(self, app, client, shop, learner):
        started = start_checkout(client, SLUG)
        paid = pay(client, started.headers["Location"])
        inject_faults(app, 50, "network")
        try:
            page = client.get(paid.headers["Location"])
        finally:
            clear_faults(app)
        body = html(page)
        assert page.status_code == 200
        assert "couldn't reach our payment provider" in body
        assert main_attrs(body) == {"data-session-status": "PENDING"}
        assert enrollments(app) == []
        body = html(client.get(paid.headers["Location"]))
        assert main_attrs(body)["data-session-status"] == "COMPLETED"
        assert len(enrollments(app)) == 1
