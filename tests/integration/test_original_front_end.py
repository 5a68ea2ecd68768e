"""The original design's front end works unchanged against our API (issue 18).

Its checkout's return URLs, its session reads (`{success, session}`), its Clerk tokens
(`azp` = the front end's origin), its entity field names and types, NestJS's error bodies,
201 for every session it gets back, `couponCode: ""`, the CORS headers it reads, and the
design's own two tests ported. SQLite and PostgreSQL, the real SDK against the sandbox.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.auth import bearer, front_end_token
from tests.support.checkout import FAST_STRIPE, cs_id_of, pay, start_checkout
from tests.support.factories import make_coupon, make_course
from tests.support.rows import enrollments, payment_sessions

FRONT = "http://localhost:3000"
SUCCESS = f"{FRONT}/payment/success?session_id={{CHECKOUT_SESSION_ID}}"
CANCEL = f"{FRONT}/payment/cancel"

# The design's tables ("Database Schema" of the guide), column -> JSON type, under TypeORM's
# camelCase names. `?` marks a column that may be NULL there (no NOT NULL, no DEFAULT).
TIME = "time"
PAYMENT_SESSION = {
    "id": "str",
    "courseId": "str",
    "userId": "str",
    "status": "str",
    "amount": "int",
    "currency": "str",
    "paymentIntentId": "str?",
    "enrollmentId": "str?",
    "metadata": "obj",
    "stripeSessionId": "str?",
    "stripeCustomerId": "str?",
    "couponCode": "str?",
    "discountAmount": "int",
    "finalAmount": "int",
    "createdAt": TIME,
    "updatedAt": TIME,
    "expiresAt": "time?",
}
COUPON = {
    "id": "str",
    "code": "str",
    "name": "str",
    "description": "str?",
    "discountType": "str",
    "discountValue": "num",
    "currency": "str?",  # ours: null for a percentage coupon, which applies in every currency
    "maxUses": "int?",
    "currentUses": "int",
    "isActive": "bool",
    "validFrom": "time?",
    "validUntil": "time?",
    "minimumAmount": "int?",
    "maximumDiscount": "int?",
    "applicableCourses": "list?",
    "metadata": "obj",
    "createdAt": TIME,
    "updatedAt": TIME,
}
ENROLLMENT = {
    "id": "str",
    "userId": "str",
    "courseId": "str",
    "enrolledAt": TIME,
    "completedAt": "time?",
    "status": "str",
    "progress": "num",
    "currentLectureId": "str?",
    "enrollmentSource": "str",
    "completedLectures": "int",
    "totalLectures": "int",
    "paymentStatus": "str",
    "paymentId": "str?",
    "amountPaid": "int?",
    "discountApplied": "int",
    "totalTimeSpent": "int",
    "streakDays": "int",
    "lastAccessedAt": "time?",
    "certificateEarned": "bool",
    "certificateEarnedAt": "time?",
    "type": "str",
    "source": "str",
    "amount": "int",
    "currency": "str",
    "paidAt": "time?",
    "expiresAt": "time?",
    "notes": "str?",
    "completionPercentage": "num",
}
PAYMENT_METHOD = {
    "id": "str",
    "userId": "str",
    "stripePaymentMethodId": "str",
    "type": "str",
    "cardBrand": "str?",
    "cardLast4": "str?",
    "cardExpMonth": "int?",
    "cardExpYear": "int?",
    "billingDetails": "obj",
    "isDefault": "bool",
    "metadata": "obj",
    "createdAt": TIME,
    "updatedAt": TIME,
}
REFUND = {
    "id": "str",
    "paymentSessionId": "str",
    "amount": "int",
    "currency": "str",
    "reason": "str",
    "status": "str",
    "stripeRefundId": "str?",
    "metadata": "obj",
    "createdAt": TIME,
    "updatedAt": TIME,
}

_KINDS = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "num": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "obj": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
    "time": lambda v: isinstance(v, str) and v[:4].isdigit() and "T" in v,
}


def assert_design_entity(body: dict[str, Any], columns: dict[str, str]) -> None:
    """Every column of the design's table is in `body` under its camelCase name, of its type."""
    missing = set(columns) - set(body)
    assert not missing, f"missing the design's fields {sorted(missing)}"
    for name, kind in columns.items():
        value = body[name]
        if value is None:
            assert kind.endswith("?"), f"{name} is null, the design's column is NOT NULL/defaulted"
            continue
        assert _KINDS[kind.rstrip("?")](value), f"{name}={value!r} is not a {kind.rstrip('?')}"


@pytest.fixture
def app_config() -> dict:
    # FRONTEND_URL as an operator sets it; CLERK_AUTHORIZED_PARTIES left unset (the default).
    return {**FAST_STRIPE, "FRONTEND_URLS": [FRONT], "FRONTEND_URL": FRONT, "CLERK_AUTHORIZED_PARTIES": []}


@pytest.fixture
def front_end(app) -> dict[str, str]:
    """The header the design's front end sends: a Clerk token whose `azp` is its own origin."""
    with app.app_context():
        return {"Authorization": f"Bearer {front_end_token(app, 'fe_learner', FRONT)}"}


def return_urls_at_stripe(app, cs_id: str) -> tuple[str, str]:
    """The success and cancel URLs Stripe (the sandbox) was given for a checkout session."""
    response = app.test_client().get(
        f"/_sandbox/stripe/v1/checkout/sessions/{cs_id}", headers={"Authorization": "Bearer sk_test_front_end"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["success_url"], response.get_json()["cancel_url"]


def _directive(policy: str, name: str) -> list[str]:
    for directive in policy.split(";"):
        parts = directive.split()
        if parts and parts[0] == name:
            return parts[1:]
    return []


def create(client, headers, **body):
    return client.post("/api/payments/sessions", json=body, headers=headers)


class TestReturnUrls:
    def test_the_designs_checkout_request_is_accepted_and_stripe_returns_to_the_front_end(
        self, app, client, shop, front_end
    ):
        response = create(
            client,
            front_end,
            courseId=shop["paid"],
            couponCode="",
            returnUrl=SUCCESS,
            cancelUrl=CANCEL,
            metadata={"totalAmount": 4999, "itemCount": 1},
        )
        assert response.status_code == 201, response.get_json()
        cs_id = response.get_json()["session"]["stripeSessionId"]
        assert return_urls_at_stripe(app, cs_id) == (SUCCESS, CANCEL)

        paid = pay(client, response.get_json()["redirectUrl"])
        assert paid.headers["Location"] == f"{FRONT}/payment/success?session_id={cs_id}"

    def test_without_urls_stripe_returns_to_the_front_ends_pages_as_the_design(self, app, client, shop, front_end):
        response = create(client, front_end, courseId=shop["paid"])
        assert response.status_code == 201
        assert return_urls_at_stripe(app, response.get_json()["session"]["stripeSessionId"]) == (SUCCESS, CANCEL)

    def test_the_sandbox_page_may_send_the_learner_back_to_the_front_end(self, client, shop, front_end):
        # Chrome applies form-action to the redirect after the Pay form: it must allow FRONTEND_URL.
        started = create(client, front_end, courseId=shop["paid"], returnUrl=SUCCESS).get_json()
        hosted = client.get(started["redirectUrl"])
        form_action = _directive(hosted.headers["Content-Security-Policy"], "form-action")
        assert FRONT in form_action
        assert FRONT not in _directive(client.get("/").headers["Content-Security-Policy"], "form-action")

    def test_a_free_checkout_redirects_to_the_front_ends_success_page(self, app, client, shop, front_end):
        response = create(client, front_end, courseId=shop["free"])
        assert response.status_code == 201
        session = response.get_json()["session"]
        assert response.get_json()["redirectUrl"] == f"{FRONT}/payment/success?session_id={session['id']}"

    def test_server_rendered_checkout_still_returns_to_our_pages(self, app, client, auth, shop):
        auth.sign_in("page_learner")
        started = start_checkout(client, "python-payments")
        success_url, cancel_url = return_urls_at_stripe(app, cs_id_of(started.headers["Location"]))
        assert success_url.startswith("http://localhost/payment/success?")
        assert cancel_url.startswith("http://localhost/payment/cancel")

    @pytest.mark.parametrize(
        "url",
        [
            "http://localhost:3001/payment/success",
            "https://localhost:3000/payment/success",
            "http://localhost:3000.evil.example/x",
            "http://localhost:3000@evil.example/x",
            "//localhost:3000/x",
            "https://evil.example/payment/success",
        ],
    )
    def test_other_origins_are_still_refused(self, app, client, shop, front_end, url):
        for field in ("returnUrl", "cancelUrl"):
            response = create(client, front_end, courseId=shop["paid"], **{field: url})
            assert response.status_code == 400 and response.get_json()["details"][0]["field"] == field
        assert payment_sessions(app) == []


class TestSessionReads:
    def test_both_gets_answer_success_and_the_session(self, client, shop, front_end):
        created = create(client, front_end, courseId=shop["paid"]).get_json()["session"]
        for path in (
            f"/api/payments/sessions/{created['id']}",
            f"/api/payments/sessions/stripe/{created['stripeSessionId']}",
        ):
            body = client.get(path, headers=front_end).get_json()
            assert set(body) == {"success", "session"} and body["success"] is True
            assert body["session"]["id"] == created["id"]
            assert_design_entity(body["session"], PAYMENT_SESSION)

    def test_a_zero_total_session_is_found_by_the_id_in_its_redirect_url(self, app, client, shop, front_end, auth):
        created = create(client, front_end, courseId=shop["free"]).get_json()
        session_id = created["redirectUrl"].rsplit("session_id=", 1)[1]
        found = client.get(f"/api/payments/sessions/stripe/{session_id}", headers=front_end)
        assert found.status_code == 200, found.get_json()
        assert found.get_json()["session"]["status"] == "COMPLETED"
        assert found.get_json()["session"]["enrollmentId"] == enrollments(app, user_id="fe_learner")[0].id
        # Only the owner's, and a paid session is found by its Stripe id only.
        assert client.get(f"/api/payments/sessions/stripe/{session_id}", headers=auth.bearer("x")).status_code == 404
        paid = create(client, front_end, courseId=shop["paid"]).get_json()["session"]
        assert client.get(f"/api/payments/sessions/stripe/{paid['id']}", headers=front_end).status_code == 404


class TestAuthorizedParties:
    def test_a_front_end_token_is_accepted_by_default(self, client, front_end):
        assert client.get("/api/enrollments", headers=front_end).status_code == 200

    def test_app_tokens_still_work_and_foreign_parties_are_refused(self, app, client):
        assert client.get("/api/enrollments", headers=bearer(app, "learner_1")).status_code == 200
        with app.app_context():
            foreign = front_end_token(app, "learner_1", "http://localhost:4000")
        response = client.get("/api/enrollments", headers={"Authorization": f"Bearer {foreign}"})
        assert response.status_code == 401

    def test_the_environment_default_is_app_url_and_every_front_end(self, monkeypatch, tmp_path):
        from webapp.config import authorized_parties, load_config

        monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
        monkeypatch.setenv("APP_URL", "https://learn.example/")
        monkeypatch.setenv("FRONTEND_URL", "https://app.example/shop, https://www.example")
        monkeypatch.delenv("CLERK_AUTHORIZED_PARTIES", raising=False)
        config = load_config()
        assert authorized_parties(config) == ["https://learn.example", "https://app.example", "https://www.example"]
        assert config["FRONTEND_URL"] == "https://app.example/shop"
        monkeypatch.setenv("CLERK_AUTHORIZED_PARTIES", "https://only.example")
        assert authorized_parties(load_config()) == ["https://only.example"]

    def test_clerk_authorized_parties_overrides_the_default(self, app, client, front_end):
        app.config["CLERK_AUTHORIZED_PARTIES"] = ["http://localhost"]
        assert client.get("/api/enrollments", headers=front_end).status_code == 401


class TestDesignFields:
    def test_every_design_column_is_in_each_entity(self, app, client, shop, front_end):
        make_coupon(app, "WELCOME10", value="12.5", is_public=True, max_uses=10)
        coupon = client.get("/api/payments/coupons/WELCOME10", headers=front_end).get_json()
        assert_design_entity(coupon, COUPON)
        assert coupon["discountValue"] == 12.5 and coupon["name"] == "WELCOME10"
        assert coupon["applicableCourses"] == coupon["applicableCourseIds"] == []
        validated = client.post(
            "/api/payments/coupons/validate",
            json={"code": "WELCOME10", "courseId": shop["paid"], "amount": 4999},
            headers=front_end,
        ).get_json()
        assert validated["isValid"] is True
        assert_design_entity(validated["coupon"], COUPON)

        started = create(client, front_end, courseId=shop["paid"], couponCode="WELCOME10")
        assert_design_entity(started.get_json()["session"], PAYMENT_SESSION)
        pay(client, started.get_json()["redirectUrl"])
        session = client.get(
            f"/api/payments/sessions/{started.get_json()['session']['id']}", headers=front_end
        ).get_json()["session"]
        assert session["status"] == "COMPLETED"

        enrollment = client.get(f"/api/enrollments/course/{shop['paid']}", headers=front_end).get_json()
        assert_design_entity(enrollment, ENROLLMENT)
        assert enrollment["paymentId"] == enrollment["paymentSessionId"] == session["id"]
        assert (enrollment["enrollmentSource"], enrollment["type"]) == ("PAID", "PAID")
        assert enrollment["amount"] == enrollment["amountPaid"] == session["finalAmount"] == 4374
        assert enrollment["totalLectures"] == 12 and enrollment["paidAt"]

        card = client.post("/api/payments/methods", json={"paymentMethodId": "pm_card_visa"}, headers=front_end)
        assert card.status_code == 201
        assert_design_entity(card.get_json(), PAYMENT_METHOD)
        assert (card.get_json()["cardBrand"], card.get_json()["cardLast4"]) == ("visa", "4242")
        for listed in client.get("/api/payments/methods", headers=front_end).get_json():
            assert_design_entity(listed, PAYMENT_METHOD)

    def test_refunds_are_listed_with_the_design_columns(self, app, client, shop, front_end):
        from webapp.services.refunds import issue_refund

        started = create(client, front_end, courseId=shop["paid"]).get_json()
        pay(client, started["redirectUrl"])
        session_id = started["session"]["id"]
        client.get(f"/api/payments/sessions/{session_id}", headers=front_end)  # fulfilled
        enrollment_id = enrollments(app, user_id="fe_learner")[0].id
        with app.app_context():
            issue_refund(
                enrollment_id, amount_text="10.00", reason="Asked nicely", admin_id="admin", request_token="t1"
            )

        refunds = client.get(f"/api/payments/sessions/{session_id}/refunds", headers=front_end)
        assert refunds.status_code == 200
        (refund,) = refunds.get_json()
        assert_design_entity(refund, REFUND)
        assert (refund["amount"], refund["reason"], refund["paymentSessionId"]) == (1000, "Asked nicely", session_id)
        other = bearer(app, "someone_else")
        assert client.get(f"/api/payments/sessions/{session_id}/refunds", headers=other).status_code == 404

    def test_patch_takes_the_lecture_id_and_a_decimal_progress(self, app, client, shop, front_end):
        enrollment = client.post("/api/enrollments", json={"courseId": shop["free"]}, headers=front_end).get_json()
        path = f"/api/enrollments/{enrollment['id']}"

        patched = client.patch(path, json={"progress": 42.5, "currentLectureId": "lec_intro"}, headers=front_end)
        assert patched.status_code == 200, patched.get_json()
        body = client.get(path, headers=front_end).get_json()
        assert (body["progress"], body["completionPercentage"], body["currentLectureId"]) == (42.5, 42.5, "lec_intro")
        assert_design_entity(body, ENROLLMENT)

        numbered = client.patch(path, json={"currentLecture": 3, "progress": 33.33}, headers=front_end).get_json()
        assert (numbered["currentLectureId"], numbered["currentLecture"], numbered["progress"]) == ("3", 3, 33.33)

        for payload in ({"progress": 33.333}, {"progress": 100.01}, {"progress": -0.5}, {"currentLectureId": ""}):
            refused = client.patch(path, json=payload, headers=front_end)
            assert refused.status_code == 400, payload
        assert client.get(path, headers=front_end).get_json()["progress"] == 33.33


class TestNestErrors:
    def test_validation_errors_list_their_messages(self, client, shop, front_end):
        response = create(client, front_end, courseId=shop["paid"], successUrl="http://localhost:3000/x")
        body = response.get_json()
        assert response.status_code == 400
        assert body["statusCode"] == 400 and body["error"] == "Bad Request"
        assert body["message"] == ["property successUrl should not exist"]
        assert body["code"] == "validation_failed" and body["details"][0]["field"] == "successUrl"

    @pytest.mark.parametrize(
        ("method", "path", "status", "reason", "code"),
        [
            ("get", "/api/payments/sessions/nope", 404, "Not Found", "not_found"),
            ("get", "/api/nowhere", 404, "Not Found", "not_found"),
            ("put", "/api/enrollments", 405, "Method Not Allowed", "method_not_allowed"),
        ],
    )
    def test_other_errors_carry_one_message(self, client, front_end, method, path, status, reason, code):
        body = getattr(client, method)(path, headers=front_end).get_json()
        assert body["statusCode"] == status and body["error"] == reason and body["code"] == code
        assert isinstance(body["message"], str) and body["message"]

    def test_unauthenticated_and_conflict(self, client, shop, front_end):
        body = client.get("/api/enrollments").get_json()
        assert (body["statusCode"], body["error"], body["code"]) == (401, "Unauthorized", "unauthenticated")
        create(client, front_end, courseId=shop["free"])
        body = create(client, front_end, courseId=shop["free"]).get_json()
        assert (body["statusCode"], body["error"], body["code"]) == (409, "Conflict", "already_enrolled")

    def test_pages_keep_their_html_errors(self, client):
        response = client.get("/no-such-page")
        assert response.status_code == 404 and response.mimetype == "text/html"


class TestCreateAnswers:
    def test_the_same_checkout_twice_is_201_both_times_and_reused(self, client, shop, front_end):
        first = create(client, front_end, courseId=shop["paid"])
        second = create(client, front_end, courseId=shop["paid"])
        assert first.status_code == second.status_code == 201
        assert (first.get_json()["reused"], second.get_json()["reused"]) == (False, True)
        assert second.get_json()["session"]["id"] == first.get_json()["session"]["id"]

    def test_an_empty_coupon_code_means_no_coupon(self, client, shop, front_end):
        response = create(client, front_end, courseId=shop["paid"], couponCode="")
        assert response.status_code == 201
        session = response.get_json()["session"]
        assert (session["couponCode"], session["finalAmount"]) == (None, 4999)

    def test_cors_exposes_retry_after_and_the_request_id(self, client, front_end):
        response = client.get("/api/enrollments", headers={**front_end, "Origin": FRONT})
        assert response.headers["Access-Control-Allow-Origin"] == FRONT
        exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"retry-after", "x-request-id"} <= exposed
        assert response.headers["X-Request-ID"]


class TestDesignsOwnTests:
    """The guide's `payment.service.spec.ts` and `payment.e2e-spec.ts`, against our app."""

    @pytest.fixture
    def design_catalog(self, app) -> None:
        make_course(app, "design-course", price=4999, currency="usd", course_id="course_123")
        make_coupon(app, "WELCOME10", value="10", is_public=True)

    def test_should_create_payment_session(self, client, design_catalog, front_end):
        # it("should create payment session"): result.success true, result.session defined.
        result = create(client, front_end, courseId="course_123", couponCode="WELCOME10").get_json()
        assert result["success"] is True
        assert result["session"] is not None and result["session"]["courseId"] == "course_123"
        assert result["session"]["couponCode"] == "WELCOME10" and result["redirectUrl"]

    def test_post_api_payments_sessions_expects_201(self, client, design_catalog, front_end):
        # it("/api/payments/sessions (POST)"): .send({courseId, couponCode}).expect(201) — the
        # design's beforeEach reuses one user, so the same request runs again: 201 again.
        for _ in range(2):
            response = create(client, front_end, courseId="course_123", couponCode="WELCOME10")
            assert response.status_code == 201, response.get_json()
