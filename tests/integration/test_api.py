"""The JSON API of the original design: shapes, validation, Bearer auth and ownership.

SQLite and PostgreSQL, the real stripe SDK against the in-process sandbox, real dev tokens.
"""

from __future__ import annotations

import json

import pytest

from tests.support.checkout import FAST_STRIPE, cs_id_of, pay
from tests.support.factories import make_coupon
from tests.support.rows import enrollments, payment_sessions
from webapp.web.api import ROUTES

SLUG = "python-payments"
SESSION_FIELDS = {
    "id",
    "courseId",
    "userId",
    "status",
    "amount",
    "currency",
    "paymentIntentId",
    "enrollmentId",
    "metadata",
    "stripeSessionId",
    "stripeCustomerId",
    "couponCode",
    "discountAmount",
    "finalAmount",
    "createdAt",
    "updatedAt",
    "expiresAt",
    "plan",
    "installmentCount",
}


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


@pytest.fixture
def learner(auth) -> dict[str, str]:
    return auth.bearer("learner_1")


@pytest.fixture
def other(auth) -> dict[str, str]:
    return auth.bearer("learner_2")


def start(client, headers, **body):
    return client.post("/api/payments/sessions", json=body, headers=headers)


def assert_error(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    error = response.get_json()
    # NestJS's shape (the design's front end reads it) plus our code and details.
    assert set(error) == {"statusCode", "message", "error", "code", "details"}
    assert error["statusCode"] == status and isinstance(error["error"], str)
    if code:
        assert error["code"] == code
    if field:
        assert field in [d["field"] for d in error["details"]], error
    return error


def paid_session(client, headers, course_id: str, **body) -> tuple[dict, str]:
    """Starts a checkout through the API and pays it on the sandbox's hosted page."""
    started = start(client, headers, courseId=course_id, **body)
    assert started.status_code == 201, started.get_json()
    paid = pay(client, started.get_json()["redirectUrl"])
    assert paid.status_code == 303
    return started.get_json()["session"], paid.headers["Location"]


class TestCreatePaymentSession:
    def test_answers_the_original_shape_at_the_servers_price(self, client, shop, learner):
        response = start(client, learner, courseId=shop["paid"], metadata={"source": "spa", "n": 1})

        assert response.status_code == 201
        payload = response.get_json()
        assert set(payload) == {"success", "session", "redirectUrl", "reused"}
        assert payload["success"] is True
        session = payload["session"]
        assert set(session) == SESSION_FIELDS
        assert session["userId"] == "learner_1" and session["courseId"] == shop["paid"]
        assert (session["amount"], session["finalAmount"], session["currency"]) == (4999, 4999, "usd")
        assert session["status"] == "PENDING" and session["metadata"] == {"source": "spa", "n": 1}
        assert session["stripeSessionId"].startswith("cs_test_")
        assert session["stripeSessionId"] in payload["redirectUrl"]

    def test_return_url_gets_the_session_id_and_the_paid_session_is_found_by_stripe_id(
        self, app, client, shop, learner
    ):
        session, location = paid_session(
            client, learner, shop["paid"], returnUrl="/learn/done?tab=1", cancelUrl="http://localhost/back"
        )
        cs_id = cs_id_of(location)
        assert location == f"http://localhost/learn/done?tab=1&session_id={cs_id}"

        fetched = client.get(f"/api/payments/sessions/stripe/{cs_id}", headers=learner)
        assert fetched.status_code == 200
        body = fetched.get_json()
        assert body["success"] is True
        body = body["session"]
        assert body["id"] == session["id"] and body["status"] == "COMPLETED" and body["enrollmentId"]
        assert len(enrollments(app, user_id="learner_1")) == 1

    def test_a_coupon_discounts_from_the_server_price(self, app, client, shop, learner):
        make_coupon(app, "SAVE10", value="10")
        response = start(client, learner, courseId=shop["paid"], couponCode=" save10 ")
        assert response.status_code == 201
        session = response.get_json()["session"]
        assert (session["couponCode"], session["discountAmount"], session["finalAmount"]) == ("SAVE10", 500, 4499)

    def test_a_refused_coupon_names_coupon_code(self, client, shop, learner):
        assert_error(start(client, learner, courseId=shop["paid"], couponCode="NOPE"), 400, "unknown", "couponCode")

    def test_same_request_again_reuses_the_open_session(self, client, shop, learner):
        first = start(client, learner, courseId=shop["paid"]).get_json()
        again = start(client, learner, courseId=shop["paid"])
        assert again.status_code == 201 and again.get_json()["reused"] is True and first["reused"] is False
        assert again.get_json()["session"]["id"] == first["session"]["id"]
        assert again.get_json()["redirectUrl"] == first["redirectUrl"]

    def test_free_course_enrolls_without_stripe(self, app, client, shop, learner):
        response = start(client, learner, courseId=shop["free"])
        assert response.status_code == 201
        payload = response.get_json()
        assert payload["session"]["status"] == "COMPLETED" and payload["session"]["stripeSessionId"] is None
        assert payload["redirectUrl"] == f"http://localhost/payment/success?session_id={payload['session']['id']}"
        assert len(enrollments(app, user_id="learner_1")) == 1

    def test_already_enrolled_is_409(self, client, shop, learner):
        start(client, learner, courseId=shop["free"])
        assert_error(start(client, learner, courseId=shop["free"]), 409, "already_enrolled")

    def test_stripe_down_is_a_retryable_503_and_leaves_no_pending_row(self, app, client, shop, learner):
        from webapp.sandbox import clear_faults, inject_faults

        inject_faults(app, 50, "500")
        try:
            error = assert_error(start(client, learner, courseId=shop["paid"]), 503, "payment_provider_unavailable")
        finally:
            clear_faults(app)
        assert "try again" in error["message"]
        assert payment_sessions(app) == []
        assert start(client, learner, courseId=shop["paid"]).status_code == 201

    def test_unknown_course_is_404(self, client, shop, learner):
        assert_error(start(client, learner, courseId="no-such-course"), 404, "not_found")
        assert_error(start(client, learner, courseId="x\u0000y"), 400, "validation_failed", "courseId")


OFF_ORIGIN = [
    "https://evil.example",
    "https://evil.example/payment/success",
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "JavaScript://localhost/%0aalert(1)",
    "data:text/html,hi",
    "http://localhost.evil.example/x",
    "http://localhost@evil.example/x",
    "http://localhost:80@evil.example/",
    "http://evil.example#http://localhost",
    "https://localhost/x",  # another scheme is another origin
    "http://localhost:8080/x",
    "http:/\\evil.example",
    "http://localhost /x",
    " /x",
    "/x\n",
    "localhost/x",
    "ftp://localhost/x",
]


class TestReturnUrls:
    @pytest.mark.parametrize("url", OFF_ORIGIN)
    @pytest.mark.parametrize("field", ["returnUrl", "cancelUrl"])
    def test_off_origin_urls_are_refused_before_stripe(self, app, client, shop, learner, url, field):
        assert_error(start(client, learner, courseId=shop["paid"], **{field: url}), 400, field=field)
        assert payment_sessions(app) == []

    @pytest.mark.parametrize(
        ("url", "sent"),
        [
            ("/learn", "http://localhost/learn?session_id={CHECKOUT_SESSION_ID}"),
            ("http://localhost/a?b=c#top", "http://localhost/a?b=c&session_id={CHECKOUT_SESSION_ID}#top"),
            ("HTTP://LOCALHOST/a", "http://LOCALHOST/a?session_id={CHECKOUT_SESSION_ID}"),
            ("/done?id={CHECKOUT_SESSION_ID}", "http://localhost/done?id={CHECKOUT_SESSION_ID}"),
        ],
    )
    def test_same_origin_urls_are_accepted(self, app, client, shop, learner, url, sent):
        from webapp.web.api import same_origin_url, with_session_placeholder

        with app.test_request_context():
            assert with_session_placeholder(same_origin_url(url, "returnUrl")) == sent
        assert start(client, learner, courseId=shop["paid"], returnUrl=url).status_code == 201


class TestBodies:
    def test_unknown_property_is_named_like_the_original(self, client, shop, learner):
        error = assert_error(
            start(client, learner, courseId=shop["paid"], successUrl="http://localhost/x"),
            400,
            "validation_failed",
            "successUrl",
        )
        assert {"field": "successUrl", "message": "property successUrl should not exist"} in error["details"]

    def test_each_bad_field_is_named(self, client, shop, learner):
        response = client.post(
            "/api/payments/sessions",
            json={"couponCode": 5, "metadata": [], "course_id": shop["paid"], "returnUrl": None},
            headers=learner,
        )
        error = assert_error(response, 400, "validation_failed")
        fields = {d["field"] for d in error["details"]}
        assert {"courseId", "couponCode", "metadata", "course_id"} <= fields
        assert {"field": "courseId", "message": "courseId should not be empty"} in error["details"]

    @pytest.mark.parametrize(
        "body",
        [
            {"courseId": 12345678901234567890123456789012345678901234567890},
            {"courseId": None},
            {"courseId": ["a"]},
            {"courseId": {"a": 1}},
            {"courseId": True},
            {"courseId": "ok", "metadata": {"k": "\ud800"}},
            {"courseId": "ok", "metadata": {"k": 1e400}},
            {"courseId": "ok", "metadata": {"x" * 41: 1}},
            {"courseId": "ok", "metadata": {"a": {"b": {"c": {"d": {}}}}}},
            {"courseId": "ok", "metadata": {str(i): i for i in range(51)}},
            {"courseId": "ok", "couponCode": "x" * 65},
            {"courseId": "ok", "returnUrl": "/" + "a" * 3000},
        ],
    )
    def test_bad_values_are_400_never_500(self, client, shop, learner, body):
        raw = json.dumps(body, ensure_ascii=True).replace("Infinity", "1e400")
        response = client.post("/api/payments/sessions", data=raw, content_type="application/json", headers=learner)
        assert_error(response, 400, "validation_failed")

    @pytest.mark.parametrize("raw", ["[]", "null", "1", '"x"', "[{}]"])
    def test_a_body_that_is_not_an_object_is_400(self, client, shop, learner, raw):
        response = client.post("/api/payments/sessions", data=raw, content_type="application/json", headers=learner)
        assert_error(response, 400, "validation_failed", "body")

    @pytest.mark.parametrize("raw", ["{", '{"courseId": NaN}', '{"courseId": "a",}', "", "\xff\xfe", "[" * 5000])
    def test_malformed_json_is_400(self, client, shop, learner, raw):
        response = client.post(
            "/api/payments/sessions", data=raw.encode("latin-1"), content_type="application/json", headers=learner
        )
        assert_error(response, 400, "malformed_json")

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
    def test_non_json_content_type_is_415(self, client, shop, learner, content_type):
        response = client.post(
            "/api/payments/sessions",
            data=json.dumps({"courseId": shop["paid"]}),
            content_type=content_type,
            headers=learner,
        )
        assert_error(response, 415, "unsupported_media_type")

    def test_body_over_one_megabyte_is_413_json(self, app, client, shop, learner):
        raw = json.dumps({"courseId": shop["paid"], "metadata": {"pad": "x" * (1024 * 1024)}})
        response = client.post("/api/payments/sessions", data=raw, content_type="application/json", headers=learner)
        assert_error(response, 413, "payload_too_large")
        assert payment_sessions(app) == []

    def test_unicode_is_fine_where_text_is_free(self, client, shop, learner):
        response = start(client, learner, courseId=shop["paid"], metadata={"note": "café ✓ 日本 \U0001f600"})
        assert response.status_code == 201
        assert response.get_json()["session"]["metadata"]["note"] == "café ✓ 日本 \U0001f600"


class TestPaymentSessionById:
    def test_owner_reads_it_others_and_unknown_ids_get_404(self, client, shop, learner, other):
        session = start(client, learner, courseId=shop["paid"]).get_json()["session"]

        mine = client.get(f"/api/payments/sessions/{session['id']}", headers=learner)
        assert mine.status_code == 200 and mine.get_json()["session"]["id"] == session["id"]
        by_stripe = client.get(f"/api/payments/sessions/stripe/{session['stripeSessionId']}", headers=learner)
        assert by_stripe.get_json()["session"]["id"] == session["id"]

        for path in (
            f"/api/payments/sessions/{session['id']}",
            f"/api/payments/sessions/stripe/{session['stripeSessionId']}",
        ):
            assert_error(client.get(path, headers=other), 404, "not_found")
        for path in (
            "/api/payments/sessions/nope",
            "/api/payments/sessions/stripe/cs_test_nope",
            f"/api/payments/sessions/stripe/{session['id']}",  # our id is not a Stripe id
        ):
            assert_error(client.get(path, headers=learner), 404, "not_found")
        assert client.get("/api/payments/sessions/%00", headers=learner).status_code == 400

    def test_patch_replaces_metadata_only(self, client, shop, learner, other):
        session = start(client, learner, courseId=shop["paid"], metadata={"a": "1"}).get_json()["session"]
        path = f"/api/payments/sessions/{session['id']}"

        patched = client.patch(path, json={"metadata": {"b": 2}}, headers=learner)
        assert patched.status_code == 200
        assert patched.get_json()["metadata"] == {"b": 2}
        assert patched.get_json()["finalAmount"] == session["finalAmount"]

        assert_error(client.patch(path, json={"status": "COMPLETED"}, headers=learner), 400, field="status")
        assert_error(client.patch(path, json={"metadata": "x"}, headers=learner), 400, field="metadata")
        assert_error(client.patch(path, json={}, headers=learner), 400, field="metadata")
        assert_error(client.patch(path, json={"metadata": {"c": 3}}, headers=other), 404)
        assert client.get(path, headers=learner).get_json()["session"]["metadata"] == {"b": 2}

    def test_cancel_releases_the_checkout(self, app, client, shop, learner, other):
        session = start(client, learner, courseId=shop["paid"]).get_json()["session"]
        path = f"/api/payments/sessions/{session['id']}/cancel"

        assert_error(client.post(path, headers=other), 404)
        cancelled = client.post(path, headers=learner)
        assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "CANCELED"
        assert client.post(path, headers=learner).get_json()["status"] == "CANCELED"
        assert payment_sessions(app, id=session["id"])[0].status == "CANCELED"


class TestCoupons:
    def test_validate_prices_from_the_server_and_ignores_the_client_amount(self, app, client, shop, learner):
        make_coupon(app, "SAVE10", value="10")
        plain = client.post(
            "/api/payments/coupons/validate", json={"code": "save10", "courseId": shop["paid"]}, headers=learner
        )
        lying = client.post(
            "/api/payments/coupons/validate",
            json={"code": "save10", "courseId": shop["paid"], "amount": 1},
            headers=learner,
        )
        assert plain.status_code == lying.status_code == 200
        assert plain.get_json() == lying.get_json()
        body = plain.get_json()
        assert (body["isValid"], body["discountAmount"], body["finalAmount"]) == (True, 500, 4499)
        assert body["coupon"]["code"] == "SAVE10"

    def test_validate_refusal_is_200_with_a_message(self, app, client, shop, learner):
        make_coupon(app, "OLD", value="10", is_active=False)
        for code in ("OLD", "UNKNOWN", "日本"):
            response = client.post(
                "/api/payments/coupons/validate", json={"code": code, "courseId": shop["paid"]}, headers=learner
            )
            assert response.status_code == 200
            assert response.get_json()["isValid"] is False and response.get_json()["message"]

    def test_validate_validation_and_unknown_course(self, client, shop, learner):
        url = "/api/payments/coupons/validate"
        assert_error(client.post(url, json={"courseId": shop["paid"]}, headers=learner), 400, field="code")
        assert_error(
            client.post(url, json={"code": "A", "courseId": shop["paid"], "amount": "9"}, headers=learner),
            400,
            field="amount",
        )
        assert_error(client.post(url, json={"code": "SAVE10", "courseId": "missing"}, headers=learner), 404)

    def test_active_lists_public_ones_to_learners_and_all_to_admins(self, app, client, auth, shop, learner):
        make_coupon(app, "WELCOME", value="10", is_public=True)
        make_coupon(app, "ACTIVE", value="20")  # private, and spelled like the route
        make_coupon(app, "RETIRED", value="5", is_public=True, is_active=False)

        learners = client.get("/api/payments/coupons/active", headers=learner)
        assert learners.status_code == 200
        assert [c["code"] for c in learners.get_json()] == ["WELCOME"]
        admins = client.get("/api/payments/coupons/active", headers=auth.bearer("admin_1", admin=True))
        assert [c["code"] for c in admins.get_json()] == ["ACTIVE", "RETIRED", "WELCOME"]

    def test_get_by_code(self, app, client, auth, shop, learner):
        make_coupon(app, "WELCOME", value="10", is_public=True)
        make_coupon(app, "RETIRED", value="5", is_active=False)
        found = client.get("/api/payments/coupons/welcome", headers=learner)
        assert found.status_code == 200 and found.get_json()["code"] == "WELCOME"
        assert found.get_json()["discountValue"] == 10
        assert_error(client.get("/api/payments/coupons/RETIRED", headers=learner), 404)
        assert_error(client.get("/api/payments/coupons/NOPE", headers=learner), 404)
        assert client.get("/api/payments/coupons/%00", headers=learner).status_code == 400
        admin = client.get("/api/payments/coupons/RETIRED", headers=auth.bearer("admin_1", admin=True))
        assert admin.status_code == 200

    def test_private_codes_cannot_be_enumerated(self, app, client, auth, shop, learner):
        make_coupon(app, "STAFF100", value="100")
        assert_error(client.get("/api/payments/coupons/STAFF100", headers=learner), 404)
        admin = client.get("/api/payments/coupons/STAFF100", headers=auth.bearer("admin_1", admin=True))
        assert admin.status_code == 200


class TestEnrollments:
    def test_direct_enrollment_only_free_or_paid_by_the_caller(self, app, client, shop, learner, other):
        free = client.post("/api/enrollments", json={"courseId": shop["free"]}, headers=learner)
        assert free.status_code == 201 and free.get_json()["courseId"] == shop["free"]
        again = client.post("/api/enrollments", json={"courseId": shop["free"]}, headers=learner)
        assert again.status_code == 200 and again.get_json()["id"] == free.get_json()["id"]

        assert_error(
            client.post("/api/enrollments", json={"courseId": shop["paid"]}, headers=learner), 403, "payment_required"
        )

        session, _ = paid_session(client, learner, shop["paid"])
        assert_error(
            client.post(
                "/api/enrollments", json={"courseId": shop["paid"], "paymentSessionId": session["id"]}, headers=other
            ),
            404,
        )
        paid = client.post(
            "/api/enrollments", json={"courseId": shop["paid"], "paymentSessionId": session["id"]}, headers=learner
        )
        assert paid.status_code in (200, 201) and paid.get_json()["paymentSessionId"] == session["id"]
        assert len(enrollments(app, user_id="learner_1")) == 2
        assert enrollments(app, user_id="learner_2") == []

    def test_direct_enrollment_validation(self, client, shop, learner):
        assert_error(client.post("/api/enrollments", json={}, headers=learner), 400, field="courseId")
        assert_error(
            client.post("/api/enrollments", json={"courseId": shop["free"], "userId": "learner_2"}, headers=learner),
            400,
            field="userId",
        )
        assert_error(client.post("/api/enrollments", json={"courseId": "missing"}, headers=learner), 404)
        response = client.post(
            "/api/enrollments", json={"courseId": shop["paid"], "paymentSessionId": "bad id!"}, headers=learner
        )
        assert_error(response, 400, field="paymentSessionId")

    def test_list_and_by_course_show_only_the_callers(self, client, shop, learner, other):
        mine = client.post("/api/enrollments", json={"courseId": shop["free"]}, headers=learner).get_json()

        listed = client.get("/api/enrollments", headers=learner)
        assert listed.status_code == 200 and [e["id"] for e in listed.get_json()] == [mine["id"]]
        assert listed.get_json()[0]["course"]["slug"] == "free-course"
        assert client.get("/api/enrollments", headers=other).get_json() == []

        by_course = client.get(f"/api/enrollments/course/{shop['free']}", headers=learner)
        assert by_course.status_code == 200 and by_course.get_json()["id"] == mine["id"]
        assert_error(client.get(f"/api/enrollments/course/{shop['free']}", headers=other), 404)
        assert_error(client.get(f"/api/enrollments/course/{shop['paid']}", headers=learner), 404)
        assert client.get(f"/api/enrollments/{mine['id']}", headers=learner).status_code == 200
        assert_error(client.get(f"/api/enrollments/{mine['id']}", headers=other), 404)

    def test_progress_updates_and_bounds(self, client, shop, learner, other):
        enrollment = client.post("/api/enrollments", json={"courseId": shop["free"]}, headers=learner).get_json()
        path = f"/api/enrollments/{enrollment['id']}"

        updated = client.patch(
            path, json={"progress": 50, "currentLecture": 2, "completedLectures": 1}, headers=learner
        )
        assert updated.status_code == 200
        body = updated.get_json()
        assert (body["progress"], body["currentLecture"], body["completedLectures"]) == (50, 2, 1)
        assert body["lastAccessedAt"]

        for payload, field in [
            ({"progress": 101}, "progress"),
            ({"progress": -1}, "progress"),
            ({"progress": 10**40}, "progress"),
            ({"currentLecture": 0}, "currentLecture"),
            ({"currentLecture": 5}, "currentLecture"),
            ({"completedLectures": 5}, "completedLectures"),
            ({"progress": "50"}, "progress"),
            ({"progress": 100.001}, "progress"),
            ({"progress": True}, "progress"),
            ({"status": "COMPLETED"}, "status"),
        ]:
            assert_error(client.patch(path, json=payload, headers=learner), 400, field=field)
        assert_error(client.patch(path, json={"progress": 60}, headers=other), 404)
        assert client.get(path, headers=learner).get_json()["progress"] == 50

        done = client.patch(path, json={"progress": 100}, headers=learner).get_json()
        assert done["status"] == "COMPLETED" and done["completedAt"]

    def test_cancel(self, client, shop, learner, other):
        enrollment = client.post("/api/enrollments", json={"courseId": shop["free"]}, headers=learner).get_json()
        path = f"/api/enrollments/{enrollment['id']}/cancel"

        assert_error(client.post(path, headers=other), 404)
        cancelled = client.post(path, headers=learner)
        assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "CANCELLED"
        assert cancelled.get_json()["cancelledAt"]
        assert_error(client.post("/api/enrollments/nope/cancel", headers=learner), 404)


class TestPaymentMethods:
    def test_attach_list_default_and_remove(self, client, shop, learner, other):
        visa = client.post("/api/payments/methods", json={"paymentMethodId": "pm_card_visa"}, headers=learner)
        assert visa.status_code == 201
        assert visa.get_json()["brand"] == "visa" and visa.get_json()["isDefault"] is True
        master = client.post("/api/payments/methods", json={"paymentMethodId": "pm_card_mastercard"}, headers=learner)
        assert master.status_code == 201 and master.get_json()["isDefault"] is False

        listed = client.get("/api/payments/methods", headers=learner).get_json()
        assert {c["id"] for c in listed} == {visa.get_json()["id"], master.get_json()["id"]}
        assert client.get("/api/payments/methods", headers=other).get_json() == []

        master_id = master.get_json()["id"]
        assert_error(client.post(f"/api/payments/methods/{master_id}/default", headers=other), 404)
        assert_error(client.delete(f"/api/payments/methods/{master_id}", headers=other), 404)

        made = client.post(f"/api/payments/methods/{master_id}/default", headers=learner)
        assert made.status_code == 200 and made.get_json()["isDefault"] is True

        removed = client.delete(f"/api/payments/methods/{master_id}", headers=learner)
        assert removed.status_code == 200 and removed.get_json() == {"success": True}
        assert [c["id"] for c in client.get("/api/payments/methods", headers=learner).get_json()] == [
            visa.get_json()["id"]
        ]
        assert_error(client.delete(f"/api/payments/methods/{master_id}", headers=learner), 404)

    def test_without_a_payment_method_answers_a_setup_checkout_url(self, client, shop, learner):
        for kwargs in ({}, {"json": {}}, {"json": {"returnUrl": "/account/cards"}}):
            response = client.post("/api/payments/methods", headers=learner, **kwargs)
            assert response.status_code == 200, response.get_json()
            assert set(response.get_json()) == {"redirectUrl"}
            assert "/_sandbox/stripe/pay/cs_test_" in response.get_json()["redirectUrl"]

    def test_validation(self, client, shop, learner):
        url = "/api/payments/methods"
        assert_error(client.post(url, json={"paymentMethodId": 5}, headers=learner), 400, field="paymentMethodId")
        assert_error(
            client.post(url, json={"paymentMethodId": "card_1"}, headers=learner), 400, field="paymentMethodId"
        )
        assert_error(
            client.post(url, json={"paymentMethodId": "pm_nope_unknown"}, headers=learner), 400, field="paymentMethodId"
        )
        assert_error(
            client.post(url, json={"returnUrl": "https://evil.example"}, headers=learner), 400, field="returnUrl"
        )
        assert_error(
            client.post(
                url,
                data="paymentMethodId=pm_card_visa",
                content_type="application/x-www-form-urlencoded",
                headers=learner,
            ),
            415,
        )


def _concrete(path: str) -> str:
    return "/api" + path.replace("{", "").replace("}", "")


class TestAuth:
    @pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
    def test_every_route_needs_a_bearer_token(self, client, auth, shop, route):
        url = _concrete(route.path)
        assert_error(client.open(url, method=route.method, json={}), 401, "unauthenticated")
        assert_error(client.open(url, method=route.method, json={}, headers={"Authorization": "Basic abc"}), 401)
        assert_error(client.open(url, method=route.method, json={}, headers={"Authorization": "Bearer nope"}), 401)
        auth.sign_in("learner_1")  # a page cookie alone never authenticates the API
        assert_error(client.open(url, method=route.method, json={}), 401, "unauthenticated")

    def test_unknown_api_paths_and_methods_answer_json(self, client, learner):
        assert_error(client.get("/api/nope", headers=learner), 404)
        assert_error(client.put("/api/enrollments", headers=learner), 405)
