"""Around the checkout: CORS for the SPA, confirmation emails exactly once, Sentry when configured."""

from __future__ import annotations

import gzip
import json
import time
import uuid

import pytest
import sqlalchemy as sa

from tests.support.auth import Auth
from tests.support.harness import make_app
from tests.support.local_servers import HttpSink, SmtpSink
from tests.support.webhooks import signed_headers
from webapp.extensions import db
from webapp.models import OutboxEmail
from webapp.services.courses import create_course

FRONTEND = "http://localhost:3000"


class TestCors:
    @pytest.fixture
    def cors_app(self, tmp_path):
        return make_app(f"sqlite:///{tmp_path / 'cors.db'}", tmp_path, FRONTEND_URLS=[FRONTEND])

    def _preflight(self, app, path, origin):
        return app.test_client().options(
            path,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type",
            },
        )

    def test_preflight_from_the_front_end_is_allowed(self, cors_app):
        response = self._preflight(cors_app, "/api/payments/sessions", FRONTEND)
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == FRONTEND
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert "Access-Control-Allow-Credentials" not in response.headers

    def test_foreign_origin_gets_nothing(self, cors_app):
        response = self._preflight(cors_app, "/api/payments/sessions", "https://evil.example")
        assert "Access-Control-Allow-Origin" not in response.headers

    @pytest.mark.parametrize("path", ["/", "/checkout/x", "/webhooks/stripe", "/api/payments/webhooks/stripe"])
    def test_pages_and_webhook_get_no_cors(self, cors_app, path):
        response = self._preflight(cors_app, path, FRONTEND)
        assert "Access-Control-Allow-Origin" not in response.headers

    def test_simple_request_carries_the_header(self, cors_app):
        response = cors_app.test_client().get("/api/enrollments", headers={"Origin": FRONTEND})
        assert response.status_code == 401
        assert response.headers["Access-Control-Allow-Origin"] == FRONTEND

    def test_no_cors_at_all_without_front_end_url(self, sqlite_app):
        response = self._preflight(sqlite_app, "/api/payments/sessions", FRONTEND)
        assert "Access-Control-Allow-Origin" not in response.headers


class TestConfirmationEmail:
    def _buy(self, app, client, user="mail_learner"):
        Auth(app, client).sign_in(user, email=f"{user}@example.test")
        with app.app_context():
            create_course(slug="mail-course", title="Writing Emails", price=2500, currency="eur")
        cs_id = client.post("/checkout/mail-course", data={"coupon_code": ""}).headers["Location"].rsplit("/", 1)[-1]
        client.post(
            f"/_sandbox/stripe/pay/{cs_id}", data={"action": "pay", "method": "card", "card_number": "4242424242424242"}
        )
        return cs_id

    def test_one_email_whatever_the_interleaving(self, app, client, runner):
        cs_id = self._buy(app, client)
        obj = client.get(
            f"/_sandbox/stripe/v1/checkout/sessions/{cs_id}", headers={"Authorization": "Bearer sk_test_x"}
        ).get_json()
        body = json.dumps(
            {
                "id": "evt_mail_1",
                "object": "event",
                "type": "checkout.session.completed",
                "livemode": False,
                "created": int(time.time()),
                "data": {"object": obj},
            }
        )
        body2 = body.replace("evt_mail_1", "evt_mail_2")
        assert client.post("/webhooks/stripe", data=body, headers=signed_headers(body)).status_code == 200
        assert client.get(f"/payment/success?session_id={cs_id}").status_code == 200
        assert client.post("/webhooks/stripe", data=body2, headers=signed_headers(body2)).status_code == 200
        runner.invoke(args=["payments", "reconcile"])
        with app.app_context():
            emails = db.session.scalars(sa.select(OutboxEmail)).all()
            assert len(emails) == 1
            email = emails[0]
            assert email.to_address == "mail_learner@example.test" and email.kind == "enrollment_confirmation"
            for text in ("Writing Emails", "€25.00", "/courses/mail-course"):
                assert text in email.body_text and text in email.body_html
            assert "Receipt reference" in email.body_text

    def test_free_enrollment_gets_one_email_and_dev_outbox_shows_it(self, app, client):
        Auth(app, client).sign_in("free_mail", email="free@example.test")
        with app.app_context():
            create_course(slug="free-mail", title="Free Stuff", price=0, currency="usd")
        assert client.post("/checkout/free-mail", data={"coupon_code": ""}).status_code == 303
        outbox = client.get("/dev/mail").get_data(as_text=True)
        assert "You&#39;re enrolled in Free Stuff" in outbox or "You're enrolled in Free Stuff" in outbox
        app.config["PRODUCTION"] = True
        assert client.get("/dev/mail").status_code == 404

    def test_smtp_delivery_retries_a_failed_send_and_never_duplicates(self, app, client):
        from webapp.services.mail import deliver_pending

        cs_id = self._buy(app, client)
        assert client.get(f"/payment/success?session_id={cs_id}").status_code == 200
        with app.app_context():
            row = db.session.scalar(sa.select(OutboxEmail))
            row.status = "PENDING"
            db.session.commit()
        sink = SmtpSink()
        try:
            app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=1, MAIL_USE_TLS=False)  # nothing listens on 1
            with app.app_context():
                assert deliver_pending() == 0
                row = db.session.scalar(sa.select(OutboxEmail))
                assert row.status == "PENDING" and row.attempts == 1 and row.last_error
            app.config["MAIL_PORT"] = sink.port
            with app.app_context():
                assert deliver_pending() == 1
                assert deliver_pending() == 0
                assert db.session.scalar(sa.select(OutboxEmail.status)) == "SENT"
            assert len(sink.messages) == 1 and "Writing Emails" in sink.messages[0]
        finally:
            sink.close()


class TestSentry:
    def test_unhandled_errors_reach_sentry_without_secrets(self, tmp_path):
        import sentry_sdk

        sink = HttpSink()
        try:
            app = make_app(
                f"sqlite:///{tmp_path / 's.db'}",
                tmp_path,
                SENTRY_DSN=f"http://publickey@127.0.0.1:{sink.port}/1",
                TESTING=False,
            )

            @app.get("/boom")
            def boom():
                raise RuntimeError("kaboom")

            # made up here so the literal never appears in the source lines Sentry captures
            cookie_secret, bearer_secret = (f"secret-{uuid.uuid4().hex}".encode() for _ in range(2))
            client = app.test_client()
            client.set_cookie("__session", cookie_secret.decode(), domain="localhost")
            response = client.get("/boom", headers={"Authorization": f"Bearer {bearer_secret.decode()}"})
            assert response.status_code == 500 and "kaboom" not in response.get_data(as_text=True)
            sentry_sdk.flush(5)
            payload = b"".join(gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b for b in sink.bodies)
            assert b"kaboom" in payload
            assert cookie_secret not in payload and bearer_secret not in payload
        finally:
            sentry_sdk.init()  # no DSN: later tests send nothing
            sink.close()

    def test_without_dsn_nothing_is_sent(self, sqlite_app):
        import sentry_sdk

        assert sentry_sdk.get_client().dsn is None
        assert sqlite_app.test_client().get("/healthz").status_code == 200


class TestRefundNotice:
    def test_one_notice_per_refund_even_when_stripe_echoes_it(self, app, client):
        from webapp.models import Enrollment
        from webapp.services.refunds import issue_refund, sync_refunds_for_payment_intent

        Auth(app, client).sign_in("refund_mail", email="refund@example.test")
        with app.app_context():
            create_course(slug="refund-mail", title="Refundable", price=5000, currency="usd")
        cs_id = client.post("/checkout/refund-mail", data={"coupon_code": ""}).headers["Location"].rsplit("/", 1)[-1]
        client.post(
            f"/_sandbox/stripe/pay/{cs_id}", data={"action": "pay", "method": "card", "card_number": "4242424242424242"}
        )
        client.get(f"/payment/success?session_id={cs_id}")
        with app.app_context():
            enrollment = db.session.scalar(sa.select(Enrollment))
            refund = issue_refund(
                enrollment.id, amount_text="10.00", reason="requested", admin_id="admin_1", request_token="tok-1"
            )
            pi = db.session.scalar(sa.select(Enrollment)).payment_session_id
            from webapp.models import PaymentSession

            sync_refunds_for_payment_intent(db.session.get(PaymentSession, pi).payment_intent_id, event_id="evt_x")
            sync_refunds_for_payment_intent(db.session.get(PaymentSession, pi).payment_intent_id, event_id="evt_y")
            notices = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "refund_notice")).all()
            assert len(notices) == 1
            assert "$10.00" in notices[0].body_text and refund.id in notices[0].body_text
            assert "you keep access" in notices[0].body_text
