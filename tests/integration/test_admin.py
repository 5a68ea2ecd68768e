"""Admin area: access control, dashboard figures, enrollment filters and CSV, coupons, grants, events."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

ADMIN = "admin_1"

GET_PAGES = [
    "/admin",
    "/admin/enrollments",
    "/admin/enrollments.csv",
    "/admin/enrollments/e_1",
    "/admin/coupons",
    "/admin/coupons/c_1",
    "/admin/payments",
    "/admin/events",
    "/admin/events/evt_1",
]
ACTIONS = [
    "/admin/enrollments/e_1/refund",
    "/admin/coupons",
    "/admin/coupons/c_1",
    "/admin/coupons/c_1/deactivate",
    "/admin/events/evt_1/replay",
    "/admin/grants",
]


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# -- a known data set, written straight to the tables ---------------------------------------


class Seed:
    def __init__(self, app):
        self.app = app
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __enter__(self):
        self.ctx = self.app.app_context()
        self.ctx.push()
        return self

    def __exit__(self, *exc):
        from webapp.extensions import db

        db.session.commit()
        db.session.remove()
        self.ctx.pop()

    def user(self, user_id: str, email: str | None = None):
        from webapp.extensions import db
        from webapp.models import User

        user = User(id=user_id, email=email or f"{user_id}@example.test")
        db.session.add(user)
        db.session.flush()
        return user

    def course(self, slug: str, *, price: int = 2000, currency: str = "usd", title: str | None = None):
        from webapp.extensions import db
        from webapp.models import Course

        course = Course(id=slug, slug=slug, title=title or slug.title(), price=price, currency=currency)
        db.session.add(course)
        db.session.flush()
        return course

    def coupon(self, code: str, **kw):
        from webapp.extensions import db
        from webapp.models import Coupon

        coupon = Coupon(id=code.lower(), code=code, discount_type="PERCENTAGE", discount_value=25, **kw)
        db.session.add(coupon)
        db.session.flush()
        return coupon

    def session(self, user, course, status: str, *, ago: timedelta = timedelta(0), discount: int = 0, coupon=None):
        from webapp.extensions import db
        from webapp.models import PaymentSession
        from webapp.models.base import new_id

        at = self.now - ago
        session = PaymentSession(
            id=new_id(),
            user_id=user.id,
            course_id=course.id,
            status=status,
            amount=course.price,
            currency=course.currency,
            discount_amount=discount,
            final_amount=course.price - discount,
            coupon_id=coupon.id if coupon else None,
            coupon_code=coupon.code if coupon else None,
            stripe_session_id=f"cs_test_{new_id()}",
            payment_intent_id=f"pi_{new_id()}",
            expires_at=at + timedelta(minutes=30),
            completed_at=at if status == "COMPLETED" else None,
            created_at=at,
        )
        db.session.add(session)
        db.session.flush()
        return session

    def enrollment(
        self,
        user,
        course,
        *,
        status="ACTIVE",
        payment_status="PAID",
        ago=timedelta(0),
        session=None,
        amount: int | None = None,
    ):
        from webapp.extensions import db
        from webapp.models import Enrollment
        from webapp.models.base import new_id

        enrollment = Enrollment(
            id=new_id(),
            user_id=user.id,
            course_id=course.id,
            status=status,
            payment_status=payment_status,
            source="PURCHASE",
            payment_session_id=session.id if session else None,
            amount_paid=course.price if amount is None else amount,
            currency=course.currency,
            enrolled_at=self.now - ago,
        )
        db.session.add(enrollment)
        db.session.flush()
        if session is not None:
            session.enrollment_id = enrollment.id
        return enrollment

    def refund(self, session, amount: int, status: str = "SUCCEEDED"):
        from webapp.extensions import db
        from webapp.models import Refund
        from webapp.models.base import new_id

        refund = Refund(
            id=new_id(),
            payment_session_id=session.id,
            enrollment_id=session.enrollment_id,
            amount=amount,
            currency=session.currency,
            status=status,
            reason="test",
            created_at=self.now,
        )
        db.session.add(refund)
        return refund


@pytest.fixture
def known(app):
    """Two courses in two currencies, sessions in every state, one refund, one coupon."""
    with Seed(app) as s:
        alice, bob, carol = (
            s.user("u_alice", "alice@example.test"),
            s.user("u_bob", "bob@example.test"),
            s.user("u_carol", "carol@example.test"),
        )
        py = s.course("python", price=2000, currency="usd", title="Python")
        go = s.course("golang", price=3000, currency="eur", title="Go")
        save = s.coupon("SAVE", current_uses=1, max_uses=10)
        paid_a = s.session(alice, py, "COMPLETED")
        paid_b = s.session(bob, py, "COMPLETED", discount=500, coupon=save)
        s.session(carol, py, "FAILED")
        s.session(carol, py, "EXPIRED", ago=timedelta(days=1))
        paid_c = s.session(alice, go, "COMPLETED", ago=timedelta(days=2))
        s.session(carol, go, "PENDING", coupon=save)
        old = s.session(bob, go, "COMPLETED", ago=timedelta(days=40))
        s.enrollment(alice, py, session=paid_a)
        s.enrollment(bob, py, session=paid_b, payment_status="PARTIALLY_REFUNDED", amount=1500)
        s.enrollment(alice, go, session=paid_c, ago=timedelta(days=2))
        s.enrollment(bob, go, session=old, status="REFUNDED", payment_status="REFUNDED", ago=timedelta(days=40))
        s.refund(paid_b, 500)
        s.refund(paid_a, 100, status="FAILED")
        return {"now": s.now}


# -- access control -------------------------------------------------------------------------


class TestAccess:
    @pytest.mark.parametrize("path", GET_PAGES)
    def test_anonymous_pages_redirect_to_sign_in(self, client, path):
        response = client.get(path)
        assert response.status_code == 302
        assert "/sign-in" in response.headers["Location"]

    @pytest.mark.parametrize("path", ACTIONS)
    def test_anonymous_actions_redirect_to_sign_in(self, client, path):
        response = client.post(path, data={})
        assert response.status_code == 303
        assert "/sign-in" in response.headers["Location"]

    @pytest.mark.parametrize("path", GET_PAGES)
    def test_learner_gets_403_on_pages(self, client, auth, path):
        auth.sign_in("learner_1")
        assert client.get(path).status_code == 403

    @pytest.mark.parametrize("path", ACTIONS)
    def test_learner_gets_403_on_actions(self, client, auth, path):
        auth.sign_in("learner_1")
        assert client.post(path, data={"reason": "x", "amount": "1", "request_token": "t"}).status_code == 403

    def test_admin_sees_every_page(self, app, client, auth, known):
        from webapp.extensions import db
        from webapp.models import Coupon, Enrollment, StripeEvent

        with app.app_context():
            eid = db.session.scalar(sa.select(Enrollment.id).limit(1))
            cid = db.session.scalar(sa.select(Coupon.id).limit(1))
            event = StripeEvent(id="evt_1", type="customer.created", status="PROCESSED", payload={"id": "evt_1"})
            db.session.add(event)
            db.session.commit()
        auth.sign_in(ADMIN, admin=True)
        for path in GET_PAGES:
            path = path.replace("e_1", eid).replace("c_1", cid)
            assert client.get(path).status_code == 200, path
        assert client.get("/admin/enrollments/unknown").status_code == 404
        assert client.get("/admin/coupons/unknown").status_code == 404
        assert 'href="/admin"' in client.get("/").get_data(as_text=True)

    def test_admin_nav_link_is_hidden_from_learners(self, client, auth):
        auth.sign_in("learner_1")
        assert 'href="/admin"' not in client.get("/").get_data(as_text=True)


class TestCsrf:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    @pytest.mark.parametrize("path", ACTIONS)
    def test_admin_actions_need_a_csrf_token(self, client, auth, path):
        auth.sign_in(ADMIN, admin=True)
        assert client.post(path, data={"reason": "x", "request_token": "t"}).status_code == 400

    def test_forms_carry_the_token(self, app, client, auth, known):
        auth.sign_in(ADMIN, admin=True)
        for path in ("/admin", "/admin/coupons"):
            assert 'name="csrf_token"' in client.get(path).get_data(as_text=True)


# -- dashboard -------------------------------------------------------------------------------


class TestDashboard:
    def test_figures_of_a_known_data_set(self, app, known):
        from webapp.services.reports.dashboard import dashboard

        with app.app_context():
            figures = dashboard(now=known["now"])
        today = known["now"].date().isoformat()
        two_days_ago = (known["now"] - timedelta(days=2)).date().isoformat()
        usd = {d.day: d for d in figures.revenue["usd"]}
        eur = {d.day: d for d in figures.revenue["eur"]}
        assert len(usd) == 30 and len(eur) == 30
        assert (usd[today].gross, usd[today].refunded, usd[today].net) == (3500, 500, 3000)
        assert eur[two_days_ago].net == 3000
        assert figures.revenue_totals == {"usd": (3500, 500, 3000), "eur": (3000, 0, 3000)}  # 40-day-old excluded
        assert (figures.sessions_created, figures.sessions_completed) == (6, 3)
        assert figures.conversion_rate == 0.5
        assert (figures.sessions_failed, figures.sessions_expired) == (1, 1)
        conv = {d.day: d for d in figures.conversion}
        assert (conv[today].created, conv[today].completed) == (4, 2)
        assert [(c.title, c.enrollments, c.revenue) for c in figures.top_courses] == [
            ("Python", 2, 3500),
            ("Go", 1, 3000),
        ]
        [save] = figures.coupons
        assert (save.code, save.used, save.held, save.max_uses) == ("SAVE", 1, 1, 10)
        assert save.discount_given == {"usd": 500}
        assert (save.conversions, save.attempts) == (1, 2)

    def test_page_shows_charts_and_numbers_without_scripts(self, app, client, auth, known):
        auth.sign_in(ADMIN, admin=True)
        page = text(client.get("/admin"))
        assert page.count("<svg") == 3  # usd, eur, conversion
        assert "$35.00" in page and "$5.00" in page and "$30.00" in page and "€30.00" in page
        assert 'data-kpi="conversion">50.0 %' in page
        assert 'data-kpi="failed">1<' in page and 'data-kpi="expired">1<' in page
        body = page.split("<body", 1)[1]
        assert "<script" not in body
        # Nothing loaded from elsewhere (no CDN). Checked on the attributes only: a CSRF token
        # is random base64 and once contained "cdn", which a search of the whole page matched.
        assert not re.search(r'(?:src|href)="(?:https?:)?//', page), "an off-site resource"

    def test_empty_dashboard(self, client, auth):
        auth.sign_in(ADMIN, admin=True)
        page = text(client.get("/admin"))
        assert "No revenue in the last 30 days." in page


# -- enrollments -----------------------------------------------------------------------------


def _ids(app, **args):
    from webapp.services.reports.enrollments import list_enrollments
    from webapp.web.admin.filters import parse_enrollment_filter

    with app.app_context():
        page = list_enrollments(parse_enrollment_filter(args))
        return [(e.user_id, e.course_id) for e in page.rows]


class TestEnrollmentList:
    def test_filters(self, app, known):
        assert _ids(app, q="alice@") == [("u_alice", "python"), ("u_alice", "golang")]
        assert _ids(app, q="U_BOB") == []  # user ids match exactly
        assert _ids(app, q="u_bob") == [("u_bob", "python"), ("u_bob", "golang")]
        assert _ids(app, q="BOB@EXAMPLE") == [("u_bob", "python"), ("u_bob", "golang")]
        assert _ids(app, course="golang") == [("u_alice", "golang"), ("u_bob", "golang")]
        assert _ids(app, status="refunded") == [("u_bob", "golang")]
        assert _ids(app, payment_status="PARTIALLY_REFUNDED") == [("u_bob", "python")]
        since = (known["now"] - timedelta(days=3)).date().isoformat()
        until = (known["now"] - timedelta(days=1)).date().isoformat()
        assert _ids(app, date_from=since, date_to=until) == [("u_alice", "golang")]
        assert _ids(app, sort="oldest")[0] == ("u_bob", "golang")
        assert _ids(app, q="100%_") == []

    def test_keyset_pages_cover_every_row_once(self, app, known):
        from webapp.services.reports.enrollments import EnrollmentFilter, list_enrollments

        with app.app_context():
            for sort in ("newest", "oldest"):
                seen, after = [], ""
                while True:
                    page = list_enrollments(EnrollmentFilter(sort=sort), after=after, limit=1)
                    seen += [e.id for e in page.rows]
                    if not page.next_cursor:
                        break
                    after = page.next_cursor
                assert len(seen) == len(set(seen)) == 4

    def test_page_lists_and_links_next(self, client, auth, known):
        auth.sign_in(ADMIN, admin=True)
        page = text(client.get("/admin/enrollments?q=alice"))
        assert page.count("data-enrollment-id=") == 2
        assert "alice@example.test" in page and "bob@example.test" not in page

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("status=NOPE", "Unknown status"),
            ("payment_status=x", "Unknown payment status"),
            ("date_from=2026-13-01", "From must be a date"),
            ("date_from=2026-02-01&date_to=2026-01-01", "before the 'from' date"),
            ("sort=price", "Unknown sort"),
            ("after=@@@", "page link is no longer valid"),
        ],
    )
    def test_bad_filters_get_a_message_not_a_500(self, client, auth, query, message):
        auth.sign_in(ADMIN, admin=True)
        response = client.get(f"/admin/enrollments?{query}")
        assert response.status_code == 400
        assert message in text(response)

    def test_csv_has_header_and_the_filtered_rows(self, client, auth, known):
        auth.sign_in(ADMIN, admin=True)
        response = client.get("/admin/enrollments.csv?course=python")
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
        got = sorted((r["email"], r["course_slug"], r["amount_paid"], r["currency"], r["payment_status"]) for r in rows)
        assert got == [
            ("alice@example.test", "python", "20.00", "USD", "PAID"),
            ("bob@example.test", "python", "15.00", "USD", "PARTIALLY_REFUNDED"),
        ]
        assert list(rows[0].keys())[:4] == ["enrollment_id", "enrolled_at", "user_id", "email"]

    def test_csv_streams_many_rows_in_batches(self, app, client, auth):
        from webapp.services.reports.enrollments import EnrollmentFilter
        from webapp.services.reports.enrollments_csv import export_enrollments_csv

        with Seed(app) as s:
            course = s.course("bulk")
            for i in range(25):
                s.enrollment(s.user(f"u_{i:02d}"), course, ago=timedelta(minutes=i))
        with app.app_context():
            chunks = list(export_enrollments_csv(EnrollmentFilter(), batch=10))
        lines = "".join(chunks).strip().splitlines()
        assert len(lines) == 26 and lines[0].startswith("enrollment_id,")
        assert len(chunks) == 4  # header, then three batches
        auth.sign_in(ADMIN, admin=True)
        empty = client.get("/admin/enrollments.csv?q=nobody").get_data(as_text=True).strip().splitlines()
        assert empty == [lines[0]]
        assert client.get("/admin/enrollments.csv?status=bad").status_code == 400

    def test_csv_neutralises_spreadsheet_formulas(self, app, client, auth):
        with Seed(app) as s:
            s.enrollment(s.user("u_evil", "=cmd@example.test"), s.course("evil", title="=HYPERLINK(1)"))
        auth.sign_in(ADMIN, admin=True)
        body = client.get("/admin/enrollments.csv").get_data(as_text=True)
        assert "'=cmd@example.test" in body and "'=HYPERLINK(1)" in body


class TestTimeline:
    def test_detail_merges_sessions_events_audit_and_refunds_in_time_order(self, app, client, auth, known):
        from webapp.extensions import db
        from webapp.models import Enrollment, StripeEvent
        from webapp.services import audit

        with app.app_context():
            e = db.session.scalar(
                sa.select(Enrollment).where(Enrollment.user_id == "u_bob", Enrollment.course_id == "python")
            )
            eid, psid = e.id, e.payment_session_id
            db.session.add(
                StripeEvent(
                    id="evt_1",
                    type="checkout.session.completed",
                    payload={},
                    status="PROCESSED",
                    payment_session_id=psid,
                )
            )
            audit.record(
                "enrollment.created", entity_type="enrollment", entity_id=eid, actor="stripe", enrollment_id=eid
            )
            db.session.commit()
        auth.sign_in(ADMIN, admin=True)
        page = text(client.get(f"/admin/enrollments/{eid}"))
        kinds = [chunk.split('"', 1)[0] for chunk in page.split('data-kind="')[1:]]
        assert set(kinds) == {"payment_session", "stripe_event", "audit", "refund"}
        times = [chunk.split('"', 1)[0] for chunk in page.split('<time datetime="')[1:]]
        assert times == sorted(times)
        assert "checkout.session.completed" in page and "bob@example.test" in page


# -- coupons ---------------------------------------------------------------------------------


def _audit(app, action: str):
    from webapp.extensions import db
    from webapp.models import AuditLog

    with app.app_context():
        return [
            (a.actor, a.entity_id, a.data)
            for a in db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action))
        ]


def _coupon(app, code: str):
    from webapp.extensions import db
    from webapp.models import Coupon

    with app.app_context():
        coupon = db.session.scalar(sa.select(Coupon).where(Coupon.code == code))
        if coupon is not None:
            db.session.expunge(coupon)
        return coupon


class TestCoupons:
    def test_list_shows_usage(self, client, auth, known):
        auth.sign_in(ADMIN, admin=True)
        page = text(client.get("/admin/coupons"))
        row = page.split('data-coupon="SAVE"', 1)[1].split("</tr>", 1)[0]
        assert 'data-col="held">1<' in row and 'data-col="used">1<' in row and 'data-col="max">10<' in row
        assert "$5.00" in row and 'data-col="conversions">1 / 2<' in row

    def test_create_percentage_and_fixed(self, app, client, auth):
        auth.sign_in(ADMIN, admin=True)
        r = client.post(
            "/admin/coupons",
            data={
                "code": " spring25 ",
                "discount_type": "percentage",
                "value": "25",
                "max_uses": "100",
                "is_active": "1",
            },
        )
        assert r.status_code == 303
        r = client.post(
            "/admin/coupons",
            data={
                "code": "FIVE",
                "discount_type": "fixed",
                "value": "5.00",
                "currency": "usd",
                "is_active": "1",
                "valid_until": "2030-01-01",
            },
        )
        assert r.status_code == 303
        spring, five = _coupon(app, "SPRING25"), _coupon(app, "FIVE")
        assert (spring.discount_type, int(spring.discount_value), spring.max_uses) == ("PERCENTAGE", 25, 100)
        assert (five.discount_type, int(five.discount_value), five.currency) == ("FIXED", 500, "usd")
        assert five.valid_until == datetime(2030, 1, 1, tzinfo=UTC)
        assert sorted(a[2]["code"] for a in _audit(app, "coupon.created")) == ["FIVE", "SPRING25"]
        assert {a[0] for a in _audit(app, "coupon.created")} == {ADMIN}

    def test_a_coupon_is_never_created_without_its_audit_entry(self, sqlite_app):
        """The coupon and its "coupon.created" entry commit together: if the entry cannot be
        written (a trigger refuses it here), no coupon exists either."""
        from tests.support.auth import Auth
        from webapp.extensions import db

        client = sqlite_app.test_client()
        Auth(sqlite_app, client).sign_in(ADMIN, admin=True)
        client.get("/admin/coupons")  # the admin's user row exists before the trigger
        with sqlite_app.app_context():
            db.session.execute(
                sa.text(
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                    "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
                )
            )
            db.session.commit()
        response = client.post(
            "/admin/coupons", data={"code": "NOAUDIT", "discount_type": "percentage", "value": "10", "is_active": "1"}
        )
        assert response.status_code != 303  # not created (SQLite reports the trigger as a constraint)
        with sqlite_app.app_context():
            db.session.execute(sa.text("DROP TRIGGER refuse_audit"))
            db.session.commit()
        assert _coupon(sqlite_app, "NOAUDIT") is None

    @pytest.mark.parametrize(
        ("form", "message"),
        [
            ({"code": "X", "discount_type": "percentage", "value": "10"}, "Code must be 2–64"),
            ({"code": "BIG", "discount_type": "percentage", "value": "150"}, "at most 100"),
            ({"code": "NOVAL", "discount_type": "percentage", "value": ""}, "Enter the discount value"),
            ({"code": "FIX", "discount_type": "fixed", "value": "5"}, "needs a currency"),
            ({"code": "FIX", "discount_type": "fixed", "value": "5.001", "currency": "usd"}, "at most 2 decimal"),
            ({"code": "KIND", "discount_type": "bogus", "value": "5"}, "Type must be"),
            ({"code": "MAX", "discount_type": "percentage", "value": "5", "max_uses": "abc"}, "whole number"),
            ({"code": "DATE", "discount_type": "percentage", "value": "5", "valid_until": "soon"}, "must be a date"),
            ({"code": "SAVE", "discount_type": "percentage", "value": "5"}, "already exists"),
        ],
    )
    def test_create_refuses_bad_input_with_a_message(self, app, client, auth, known, form, message):
        auth.sign_in(ADMIN, admin=True)
        response = client.post("/admin/coupons", data=form)
        assert response.status_code == 400
        assert message in text(response)

    def test_edit_and_deactivate(self, app, client, auth, known):
        auth.sign_in(ADMIN, admin=True)
        assert "Edit coupon SAVE" in text(client.get("/admin/coupons/save"))
        refused = client.post("/admin/coupons/save", data={"max_uses": "0", "is_active": "1"})
        assert refused.status_code == 400 and "at least 1" in text(refused)
        refused = client.post(
            "/admin/coupons/save",
            data={"max_uses": "5", "is_active": "1", "valid_from": "2030-01-02", "valid_until": "2030-01-01"},
        )
        assert refused.status_code == 400 and "after valid from" in text(refused)
        ok = client.post(
            "/admin/coupons/save",
            data={"max_uses": "50", "is_active": "1", "description": "Spring", "course_ids": ["python"]},
        )
        assert ok.status_code == 303
        coupon = _coupon(app, "SAVE")
        assert (coupon.max_uses, coupon.description, coupon.is_active) == (50, "Spring", True)
        [(actor, _, data)] = _audit(app, "coupon.updated")
        assert actor == ADMIN and data["changes"]["max_uses"] == 50 and data["changes"]["course_ids"] == ["python"]

        assert client.post("/admin/coupons/save/deactivate").status_code == 303
        assert _coupon(app, "SAVE").is_active is False
        assert client.post("/admin/coupons/save/deactivate").status_code == 303  # idempotent
        assert [a[0] for a in _audit(app, "coupon.deactivated")] == [ADMIN]
        assert client.post("/admin/coupons/nope/deactivate").status_code == 404

    def test_create_form_takes_money_as_money_and_marks_every_bad_field(self, app, client, auth):
        auth.sign_in(ADMIN, admin=True)
        page = client.get("/admin/coupons").get_data(as_text=True)
        assert 'id="minimum_amount" name="minimum_amount"' in page and "(e.g. 20.00)" in page
        form = {
            "code": "CAP",
            "discount_type": "percentage",
            "value": "25",
            "max_uses": "ten",
            "minimum_amount": "20.001",
            "maximum_discount": "abc",
            "valid_from": "tomorrow",
        }
        refused = client.post("/admin/coupons", data=form)
        assert refused.status_code == 400
        body = refused.get_data(as_text=True)
        for field in ("max_uses", "minimum_amount", "maximum_discount", "valid_from"):
            assert f'<p class="field-error" id="{field}-error">' in body, field
            assert f'aria-describedby="{field}-error"' in body, field
        assert 'id="valid_until-error"' not in body and 'id="value-error"' not in body
        assert _coupon(app, "CAP") is None

        form.update(max_uses="10", minimum_amount="20.00", maximum_discount="15", valid_from="")
        assert client.post("/admin/coupons", data=form).status_code == 303
        cap = _coupon(app, "CAP")
        assert (cap.minimum_amount, cap.maximum_discount, cap.max_uses) == (2000, 1500, 10)
        yen = {"code": "YEN", "discount_type": "fixed", "value": "500", "currency": "jpy", "minimum_amount": "1000"}
        assert client.post("/admin/coupons", data=yen).status_code == 303
        assert (int(_coupon(app, "YEN").discount_value), _coupon(app, "YEN").minimum_amount) == (500, 1000)
        refused = client.post("/admin/coupons", data={**yen, "code": "YEN2", "minimum_amount": "1000.50"})
        assert refused.status_code == 400 and "JPY has no decimal places" in text(refused)

        # The edit form shows and takes the amounts in the major unit too.
        edit = text(client.get(f"/admin/coupons/{cap.id}"))
        assert 'name="minimum_amount" value="20.00"' in edit and 'name="maximum_discount" value="15.00"' in edit
        ok = client.post(
            f"/admin/coupons/{cap.id}", data={"minimum_amount": "25.50", "maximum_discount": "15.00", "is_active": "1"}
        )
        assert ok.status_code == 303
        assert (_coupon(app, "CAP").minimum_amount, _coupon(app, "CAP").maximum_discount) == (2550, 1500)
        refused = client.post(f"/admin/coupons/{cap.id}", data={"minimum_amount": "1.001", "max_uses": "x"})
        assert refused.status_code == 400
        assert 'id="minimum_amount-error"' in text(refused) and 'id="max_uses-error"' in text(refused)

    def test_coupon_list_tells_expired_scheduled_and_used_up_apart(self, app, client, auth):
        now = datetime.now(UTC)
        with Seed(app) as s:
            s.coupon("OLD", valid_until=now - timedelta(days=1))
            s.coupon("SOON", valid_from=now + timedelta(days=2))
            s.coupon("GONE", max_uses=3, current_uses=3)
            s.coupon("LIVE", valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=1))
        auth.sign_in(ADMIN, admin=True)
        page = client.get("/admin/coupons").get_data(as_text=True)

        def state(code: str) -> str:
            row = page.split(f'data-coupon="{code}"', 1)[1].split("</tr>", 1)[0]
            return re.search(r'data-state="([a-z-]+)"', row).group(1)

        assert [state(c) for c in ("OLD", "SOON", "GONE", "LIVE")] == ["expired", "scheduled", "used-up", "active"]
        assert "data-valid-until=" not in page  # decided on the server, not left to the browser

    def test_max_uses_cannot_go_below_uses_made(self, app, client, auth):
        with Seed(app) as s:
            s.coupon("USED", current_uses=3)
        auth.sign_in(ADMIN, admin=True)
        response = client.post("/admin/coupons/used", data={"max_uses": "2", "is_active": "1"})
        assert response.status_code == 400 and "below the 3 uses already made" in text(response)


# -- grants, payments, events ------------------------------------------------------------------


class TestGrants:
    def test_grant_by_email_with_reason_in_audit(self, app, client, auth, known):
        auth.sign_in(ADMIN, admin=True)
        response = client.post(
            "/admin/grants", data={"user": "CAROL@example.test", "course_id": "python", "reason": "Scholarship"}
        )
        assert response.status_code == 303
        from webapp.extensions import db
        from webapp.models import Enrollment

        with app.app_context():
            e = db.session.scalar(sa.select(Enrollment).where(Enrollment.user_id == "u_carol"))
            assert (e.source, e.payment_status, e.amount_paid, e.status) == ("ADMIN_GRANT", "FREE", 0, "ACTIVE")
        [(actor, _, data)] = _audit(app, "enrollment.granted")
        assert actor == ADMIN and data["reason"] == "Scholarship"
        again = client.post(
            "/admin/grants", data={"user": "u_carol", "course_id": "python", "reason": "again"}, follow_redirects=True
        )
        assert "already enrolled" in text(again)

    @pytest.mark.parametrize(
        ("form", "message"),
        [
            ({"user": "", "course_id": "python", "reason": "r"}, "Enter the learner"),
            ({"user": "ghost@example.test", "course_id": "python", "reason": "r"}, "need to sign in once"),
            ({"user": "u_carol", "course_id": "nope", "reason": "r"}, "Choose a course"),
            ({"user": "u_carol", "course_id": "python", "reason": " "}, "Give a reason"),
        ],
    )
    def test_grant_refuses_bad_input(self, client, auth, known, form, message):
        auth.sign_in(ADMIN, admin=True)
        response = client.post("/admin/grants", data=form, follow_redirects=True)
        assert response.status_code == 200
        assert message in text(response)


class TestPaymentsAndEvents:
    def test_payments_filter_by_status(self, client, auth, known):
        auth.sign_in(ADMIN, admin=True)
        assert text(client.get("/admin/payments")).count("data-payment-session=") == 7
        failed = text(client.get("/admin/payments?status=failed"))
        assert failed.count("data-payment-session=") == 1
        assert client.get("/admin/payments?status=nope").status_code == 400

    def test_events_list_and_replay(self, app, client, auth):
        from webapp.extensions import db
        from webapp.models import StripeEvent

        with app.app_context():
            db.session.add(
                StripeEvent(
                    id="evt_test_1",
                    type="customer.created",
                    status="FAILED",
                    attempts=3,
                    last_error="boom",
                    payload={
                        "id": "evt_test_1",
                        "object": "event",
                        "type": "customer.created",
                        "data": {"object": {"id": "cus_1"}},
                    },
                )
            )
            db.session.commit()
        auth.sign_in(ADMIN, admin=True)
        page = text(client.get("/admin/events?status=FAILED"))
        assert "evt_test_1" in page and "customer.created" in page and "boom" in page
        assert "evt_test_1" not in text(client.get("/admin/events?status=PROCESSED"))
        assert client.get("/admin/events?status=nope").status_code == 400
        replayed = client.post("/admin/events/evt_test_1/replay", follow_redirects=True)
        assert replayed.status_code == 200
        assert "Replayed evt_test_1: Event evt_test_1:" in text(replayed)
        assert [a[0] for a in _audit(app, "stripe_event.replayed")] == [ADMIN]
        missing = client.post("/admin/events/evt_nope/replay", follow_redirects=True)
        assert "does not exist" in text(missing)

    def test_replay_returns_to_the_filtered_list(self, app, client, auth):
        from webapp.extensions import db
        from webapp.models import StripeEvent

        with app.app_context():
            db.session.add(
                StripeEvent(
                    id="evt_back",
                    type="customer.created",
                    status="FAILED",
                    payload={"id": "evt_back", "object": "event", "type": "customer.created", "data": {"object": {}}},
                )
            )
            db.session.commit()
        auth.sign_in(ADMIN, admin=True)
        form = {"status": "FAILED", "type": "customer.created", "after": "cursor-1", "next": "https://evil.test"}
        replayed = client.post("/admin/events/evt_back/replay", data=form)
        assert replayed.status_code == 303
        location = replayed.headers["Location"]
        assert location.startswith("/admin/events?")
        assert "status=FAILED" in location and "type=customer.created" in location and "after=cursor-1" in location
        assert "evil" not in location and "next=" not in location
        # The list's filter is kept on a refusal too, and an empty one gives the plain list.
        assert (
            client.post("/admin/events/evt_nope/replay", data={"status": "IGNORED"}).headers["Location"]
            == "/admin/events?status=IGNORED"
        )
        assert client.post("/admin/events/evt_nope/replay").headers["Location"] == "/admin/events"

    def test_event_payload_page_escapes_the_stored_json(self, app, client, auth):
        from webapp.extensions import db
        from webapp.models import StripeEvent

        payload = {
            "id": "evt_payload",
            "object": "event",
            "type": "charge.updated",
            "data": {"object": {"id": "ch_1", "description": "<script>alert(1)</script>"}},
        }
        with app.app_context():
            db.session.add(
                StripeEvent(
                    id="evt_payload",
                    type="charge.updated",
                    status="IGNORED",
                    last_error="no handler for charge.updated",
                    payload=payload,
                )
            )
            db.session.commit()
        auth.sign_in(ADMIN, admin=True)
        listing = client.get("/admin/events").get_data(as_text=True)
        assert 'href="/admin/events/evt_payload"' in listing
        row = listing.split('data-event-id="evt_payload"', 1)[1].split("</tr>", 1)[0]
        assert 'data-label="Reason"' in row and "Reason:" in row and "no handler for charge.updated" in row
        response = client.get("/admin/events/evt_payload")
        assert response.status_code == 200
        raw = response.get_data(as_text=True)
        assert "<script>alert(1)</script>" not in raw
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
        assert '  "data": {\n    "object": {' in text(response)  # pretty-printed
        assert "no handler for charge.updated" in text(response)
        assert client.get("/admin/events/evt_unknown").status_code == 404
        auth.sign_in("learner_1")
        assert client.get("/admin/events/evt_payload").status_code == 403


def test_unticking_active_on_the_edit_form_deactivates(app, client, auth):
    with Seed(app) as s:
        s.coupon("TICK")
    auth.sign_in(ADMIN, admin=True)
    # The browser sends the hidden default first, then the checkbox when ticked.
    assert client.post("/admin/coupons/tick", data={"is_active": ["0"]}).status_code == 303
    assert _coupon(app, "TICK").is_active is False
    assert client.post("/admin/coupons/tick", data={"is_active": ["0", "1"]}).status_code == 303
    assert _coupon(app, "TICK").is_active is True


def test_the_email_search_can_use_the_trigram_index(postgres_database, tmp_path):
    """The query the admin list builds for a search matches the index's expression, so
    PostgreSQL can answer it without scanning every user (bench/admin_list.py, P3)."""
    from tests.support.harness import make_app, migrate_once
    from webapp.extensions import db
    from webapp.services.reports import enrollments as admin_reports

    app = make_app(postgres_database.url, tmp_path)
    migrate_once(app)
    query = admin_reports.filtered(sa.select(sa.literal(1)), admin_reports.EnrollmentFilter(q="someone@example.com"))
    with app.app_context(), db.engine.connect() as conn:
        # Tiny test tables: ask whether the planner *can* answer through a bitmap of indexes.
        conn.execute(sa.text("SET enable_seqscan = off"))
        conn.execute(sa.text("SET enable_indexscan = off"))
        compiled = query.compile(dialect=conn.dialect)
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
    assert "ix_users_email_trgm" in plan, plan
