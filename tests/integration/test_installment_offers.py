"""Offering a course in installments: the CLI, the admin course pages, the checkout page, the API.

Everything runs on SQLite and PostgreSQL through the real stripe SDK against the in-process
sandbox. What happens after the first installment is paid is fulfillment's, tested elsewhere.
"""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.support.checkout import FAST_STRIPE, cs_id_of, start_checkout, stripe_session
from tests.support.factories import make_coupon, make_course
from tests.support.rows import payment_sessions, rows

SLUG = "python-payments"
ADMIN = "admin_1"
HX = {"HX-Request": "true"}


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


@pytest.fixture
def shop(app) -> dict[str, str]:
    return {
        "plan": make_course(app, SLUG, price=4999, currency="usd", title="Python for Payments", installments=3),
        "even": make_course(app, "even-split", price=6000, currency="usd", title="Even Split", installments=3),
        "full_only": make_course(app, "full-only", price=2999, currency="usd", title="Full Only"),
        "free": make_course(app, "free-course", price=0, currency="usd", title="Free Course"),
    }


def text(response) -> str:
    return unescape(response.get_data(as_text=True))


def installments_of(app, course_id: str) -> int | None:
    return rows(app, "Course", id=course_id)[0].installments


def line_item_amounts(app, cs_id: str) -> list[int]:
    """The Checkout Session's line items, as Stripe lists them, read through the SDK."""
    from webapp.payments.gateway import get_gateway

    with app.app_context():
        items = get_gateway().stripe_client.v1.checkout.sessions.line_items.list(cs_id)
        return [item.amount_total for item in items.data]


def _last_line(result) -> str:
    return [line for line in result.output.splitlines() if line.strip()][-1]


# -- CLI -------------------------------------------------------------------------------------


class TestCli:
    CREATE = ["courses", "create", "--slug", "c1", "--title", "Course One", "--price", "4999", "--currency", "usd"]

    @pytest.mark.parametrize("count", ["2", "12"])
    def test_create_with_installments_stores_the_offer_and_prints_the_id_last(self, app, runner, count):
        result = runner.invoke(args=[*self.CREATE, "--installments", count])
        assert result.exit_code == 0, result.output
        assert installments_of(app, _last_line(result)) == int(count)

    def test_create_without_the_option_offers_none(self, app, runner):
        result = runner.invoke(args=self.CREATE)
        assert result.exit_code == 0, result.output
        assert installments_of(app, _last_line(result)) is None

    @pytest.mark.parametrize("count", ["1", "13", "0", "-2", "three"])
    def test_out_of_range_is_a_clear_error_without_a_course(self, app, runner, count):
        result = runner.invoke(args=[*self.CREATE, "--installments", count])
        assert result.exit_code == 2, result.output
        assert "--installments" in result.output and "Traceback" not in result.output
        assert rows(app, "Course") == []

    def test_installments_too_small_for_the_price_are_refused(self, app, runner):
        result = runner.invoke(
            args=["courses", "create", "--slug", "cheap", "--title", "Cheap", "--price", "100", "--currency", "usd"]
            + ["--installments", "3"]
        )
        assert result.exit_code == 1 and "below the smallest card payment" in result.output
        assert "Traceback" not in result.output and rows(app, "Course") == []

    def test_free_course_cannot_offer_installments(self, app, runner):
        result = runner.invoke(
            args=["courses", "create", "--slug", "free", "--title", "Free", "--price", "0", "--currency", "usd"]
            + ["--installments", "2"]
        )
        assert result.exit_code == 1 and "free course" in result.output

    def test_installments_command_changes_and_removes_the_offer_by_slug_or_id(self, app, runner, shop):
        changed = runner.invoke(args=["courses", "installments", "full-only", "4"])
        assert changed.exit_code == 0, changed.output
        assert _last_line(changed) == shop["full_only"] and installments_of(app, shop["full_only"]) == 4
        removed = runner.invoke(args=["courses", "installments", shop["full_only"], "off"])
        assert removed.exit_code == 0, removed.output
        assert installments_of(app, shop["full_only"]) is None
        actions = [a.action for a in rows(app, "AuditLog", entity_id=shop["full_only"])]
        assert actions == ["course.installments_changed", "course.installments_changed"]

    @pytest.mark.parametrize(
        ("course", "count", "message"), [("nope", "3", "No course"), ("full-only", "20", "2 to 12")]
    )
    def test_installments_command_refuses_bad_input(self, app, runner, shop, course, count, message):
        result = runner.invoke(args=["courses", "installments", course, count])
        assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
        assert installments_of(app, shop["full_only"]) is None


# -- admin course pages ------------------------------------------------------------------------


class TestAdminCourses:
    def test_list_shows_price_and_offer_and_links_each_edit_form(self, client, auth, shop):
        auth.sign_in(ADMIN, admin=True)
        page = text(client.get("/admin/courses"))
        assert re.search(r'data-col="price">\s*\$49\.99', page)
        row = page.split(f'data-course="{SLUG}"')[1].split("</tr>")[0]
        assert 'data-installments="3"' in row and "$16.67 today, then 2 × $16.66 monthly" in row
        even = page.split('data-course="even-split"')[1].split("</tr>")[0]
        assert "3 × $20.00 a month, first today" in even
        assert "Not offered" in page.split('data-course="full-only"')[1].split("</tr>")[0]
        assert f'href="/admin/courses/{shop["full_only"]}"' in page
        assert 'href="/admin/courses"' in page  # the nav link

    def test_edit_form_saves_the_offer_and_audits_it(self, app, client, auth, shop):
        auth.sign_in(ADMIN, admin=True)
        form = text(client.get(f"/admin/courses/{shop['full_only']}"))
        assert 'name="csrf_token"' in form and "Offer in installments" in form
        saved = client.post(f"/admin/courses/{shop['full_only']}", data={"installments": "6"})
        assert saved.status_code == 303 and saved.headers["Location"].endswith("/admin/courses")
        assert installments_of(app, shop["full_only"]) == 6
        assert "offered in 6 monthly installments" in text(client.get("/admin/courses"))
        (entry,) = rows(app, "AuditLog", entity_id=shop["full_only"])
        assert (entry.action, entry.actor) == ("course.installments_changed", ADMIN)
        assert entry.data["changes"] == {"installments": {"from": None, "to": 6}}

        assert client.post(f"/admin/courses/{shop['full_only']}", data={"installments": ""}).status_code == 303
        assert installments_of(app, shop["full_only"]) is None

    @pytest.mark.parametrize(
        ("value", "message"),
        [("1", "from 2 to 12"), ("13", "from 2 to 12"), ("abc", "from 2 to 12"), ("7", "below the smallest")],
    )
    def test_bad_input_gets_the_form_back_with_a_message(self, app, client, auth, value, message):
        cheap = make_course(app, "cheap", price=300, currency="usd")  # 7 × $0.42 < $0.50
        auth.sign_in(ADMIN, admin=True)
        response = client.post(f"/admin/courses/{cheap}", data={"installments": value})
        assert response.status_code == 400
        page = text(response)
        assert message in page and 'aria-invalid="true"' in page and 'id="installments-error"' in page
        assert installments_of(app, cheap) is None

    def test_free_course_is_refused_and_unknown_course_is_404(self, app, client, auth, shop):
        auth.sign_in(ADMIN, admin=True)
        refused = client.post(f"/admin/courses/{shop['free']}", data={"installments": "2"})
        assert refused.status_code == 400 and "free course" in text(refused)
        assert client.get("/admin/courses/unknown").status_code == 404
        assert client.post("/admin/courses/unknown", data={"installments": "2"}).status_code == 404

    def test_learners_are_refused(self, app, client, auth, shop):
        auth.sign_in("learner_1")
        assert client.get("/admin/courses").status_code == 403
        assert client.get(f"/admin/courses/{shop['full_only']}").status_code == 403
        assert client.post(f"/admin/courses/{shop['full_only']}", data={"installments": "3"}).status_code == 403
        assert installments_of(app, shop["full_only"]) is None


class TestAdminCsrf:
    @pytest.fixture
    def app_config(self) -> dict:
        return {**FAST_STRIPE, "WTF_CSRF_ENABLED": True}

    def test_the_form_posts_with_its_token_and_not_without(self, app, client, auth, shop):
        auth.sign_in(ADMIN, admin=True)
        form = client.get(f"/admin/courses/{shop['full_only']}").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        path = f"/admin/courses/{shop['full_only']}"
        assert client.post(path, data={"installments": "2"}).status_code == 400
        assert installments_of(app, shop["full_only"]) is None
        assert client.post(path, data={"installments": "2", "csrf_token": token}).status_code == 303
        assert installments_of(app, shop["full_only"]) == 2


# -- checkout page -----------------------------------------------------------------------------


@pytest.fixture
def learner(auth) -> str:
    auth.sign_in("learner_1")
    return "learner_1"


class TestCheckoutPage:
    def test_offers_both_ways_to_pay(self, client, shop, learner):
        page = text(client.get(f"/checkout/{SLUG}"))
        assert 'Pay in full:</strong> <span data-testid="full-today">$49.99</span> today' in page
        assert "Pay in 3 installments:" in page
        assert 'data-testid="installment-terms">$16.67 today, then 2 × $16.66 monthly' in page
        assert 'data-testid="installments-total">($49.99 in total)' in page
        assert 'name="plan" value="full"' in page and 'name="plan" value="installments"' in page

    def test_equal_installments_read_as_n_times_the_amount(self, client, shop, learner):
        page = text(client.get("/checkout/even-split"))
        assert 'data-testid="installment-terms">3 × $20.00 a month, first today' in page

    def test_a_course_without_the_offer_has_one_pay_button(self, client, shop, learner):
        page = text(client.get("/checkout/full-only"))
        assert "Pay $29.99" in page and "installments" not in page.lower()

    def test_coupon_partial_updates_both_offers(self, app, client, shop, learner):
        make_coupon(app, "WELCOME10", value="10")
        response = client.post(f"/checkout/{SLUG}/coupon", data={"code": "WELCOME10"}, headers=HX)
        body = text(response)
        assert response.status_code == 200 and "<html" not in body
        assert 'data-testid="full-today">$44.99' in body and "Pay $44.99" in body
        # 4499 in 3: 1501 today, then 2 × 1499
        assert 'data-testid="installment-terms">$15.01 today, then 2 × $14.99 monthly' in body
        assert 'data-testid="installments-total">($44.99 in total)' in body
        assert 'name="coupon_code" value="WELCOME10"' in body

    def test_a_coupon_that_makes_installments_too_small_says_why_instead(self, app, client, shop, learner):
        make_coupon(app, "BIGCUT", discount_type="fixed", value=4900, currency="usd")
        body = text(client.post(f"/checkout/{SLUG}/coupon", data={"code": "BIGCUT"}, headers=HX))
        assert 'data-testid="total">$0.99' in body
        assert 'data-testid="installments-refused"' in body and "Pay in full instead" in body
        assert 'value="installments"' not in body and "Pay $0.99" in body

    def test_posting_plan_installments_opens_a_subscription_checkout_for_the_first_installment(
        self, app, client, shop, learner
    ):
        response = start_checkout(client, SLUG, plan="installments")
        assert response.status_code == 303
        location = response.headers["Location"]
        assert location.startswith("http://localhost/_sandbox/stripe/pay/cs_test_")
        remote = stripe_session(app, cs_id_of(location))
        assert remote.mode == "subscription"
        assert sum(line_item_amounts(app, remote.id)) == 1667 == remote.amount_total
        (row,) = payment_sessions(app)
        assert (row.plan, row.installment_count, row.final_amount) == ("installments", 3, 4999)

    def test_with_a_coupon_the_first_installment_is_of_the_discounted_total(self, app, client, shop, learner):
        make_coupon(app, "WELCOME10", value="10")
        response = start_checkout(client, SLUG, "WELCOME10", plan="installments")
        assert response.status_code == 303
        assert sum(line_item_amounts(app, cs_id_of(response.headers["Location"]))) == 1501

    def test_posting_installments_when_a_coupon_makes_them_too_small_says_why(self, app, client, shop, learner):
        make_coupon(app, "BIGCUT", discount_type="fixed", value=4900, currency="usd")
        response = start_checkout(client, SLUG, "BIGCUT", plan="installments")
        assert response.status_code == 400 and "Pay in full instead" in text(response)
        assert payment_sessions(app) == []

    @pytest.mark.parametrize("plan", ["full", ""])
    def test_plan_full_or_absent_pays_in_full(self, app, client, shop, learner, plan):
        response = start_checkout(client, SLUG, plan=plan)
        remote = stripe_session(app, cs_id_of(response.headers["Location"]))
        assert (remote.mode, remote.amount_total) == ("payment", 4999)

    @pytest.mark.parametrize(
        ("slug", "plan", "message"),
        [
            ("full-only", "installments", "can't be paid in installments"),
            (SLUG, "monthly", "Choose to pay in full or in installments"),
        ],
    )
    def test_refused_plans_show_the_page_with_a_message(self, app, client, shop, learner, slug, plan, message):
        response = start_checkout(client, slug, plan=plan)
        assert response.status_code == 400 and message in text(response)
        assert payment_sessions(app) == []


# -- JSON API ----------------------------------------------------------------------------------


class TestApi:
    @pytest.fixture
    def headers(self, auth) -> dict[str, str]:
        return auth.bearer("learner_1")

    def start(self, client, headers, **body):
        return client.post("/api/payments/sessions", json=body, headers=headers)

    def test_plan_installments_opens_the_first_installment(self, app, client, shop, headers):
        response = self.start(client, headers, courseId=shop["plan"], plan="installments")
        assert response.status_code == 201, response.get_json()
        session = response.get_json()["session"]
        assert (session["plan"], session["installmentCount"], session["finalAmount"]) == ("installments", 3, 4999)
        remote = stripe_session(app, session["stripeSessionId"])
        assert remote.mode == "subscription" and sum(line_item_amounts(app, remote.id)) == 1667

    @pytest.mark.parametrize("body", [{}, {"plan": "full"}])
    def test_absent_or_full_pays_in_full(self, app, client, shop, headers, body):
        response = self.start(client, headers, courseId=shop["plan"], **body)
        assert response.status_code == 201
        session = response.get_json()["session"]
        assert (session["plan"], session["installmentCount"]) == ("full", None)
        assert stripe_session(app, session["stripeSessionId"]).mode == "payment"

    @pytest.mark.parametrize("plan", ["monthly", "", 3, None, ["installments"]])
    def test_bad_plan_is_400_naming_the_field(self, app, client, shop, headers, plan):
        response = self.start(client, headers, courseId=shop["plan"], plan=plan)
        if plan is None:  # JSON null is "not given", as for the other optional fields
            assert response.status_code == 201
            return
        assert response.status_code == 400
        error = response.get_json()
        assert set(error) == {"statusCode", "message", "error", "code", "details"}
        assert error["code"] == "validation_failed" and "plan" in [d["field"] for d in error["details"]]

    def test_installments_on_a_course_without_the_offer_is_400(self, app, client, shop, headers):
        response = self.start(client, headers, courseId=shop["full_only"], plan="installments")
        assert response.status_code == 400
        assert response.get_json()["code"] == "installments_not_offered"
        assert payment_sessions(app) == []

    def test_the_document_names_the_plan(self, client):
        schema = client.get("/api/openapi.json").get_json()["components"]["schemas"]["CreatePaymentSession"]
        assert schema["properties"]["plan"]["anyOf"][0]["enum"] == ["full", "installments"]
