"""Races on SQLite and PostgreSQL: coupon limits under parallel checkouts, one enrollment per payment.

Each worker is a thread with its own application context (so its own database session and
connection), released together by a barrier. Every test also checks its control: the
workers' intervals really overlapped, so a pass is not an accident of running one by one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.auth import set_session_cookie, token_for
from tests.support.checkout import FAST_STRIPE, cs_id_of, main_attrs, pay, start_checkout, stripe_sessions
from tests.support.factories import make_coupon, make_course, make_user
from tests.support.rows import coupon_uses, enrollments, payment_sessions, rows

SLUG = "python-payments"


@pytest.fixture(scope="session")
def sandbox_on_postgres(postgres_database) -> str:
    """The sandbox's own state on PostgreSQL too, so Stripe's side takes parallel writes."""
    return postgres_database.new_database("checkout_race_sandbox")


@pytest.fixture
def app_config(request, backend) -> dict:
    if backend != "postgres":
        return dict(FAST_STRIPE)
    return {**FAST_STRIPE, "STRIPE_SANDBOX_DATABASE_URL": request.getfixturevalue("sandbox_on_postgres")}


@dataclass
class Race:
    """Runs `work(i)` in n threads at once; records each call's interval, result or error."""

    n: int
    results: list[Any] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    intervals: list[tuple[float, float]] = field(default_factory=list)

    def run(self, work: Callable[[int], Any]) -> Race:
        barrier = threading.Barrier(self.n)
        lock = threading.Lock()
        self.results = [None] * self.n

        def worker(i: int) -> None:
            barrier.wait()
            start = time.monotonic()
            try:
                self.results[i] = work(i)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                with lock:
                    self.errors.append(exc)
            finally:
                with lock:
                    self.intervals.append((start, time.monotonic()))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(self.n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(t.is_alive() for t in threads), "a worker hung"
        return self

    def overlapped(self) -> bool:
        """Every call had started before the first one finished."""
        return max(s for s, _ in self.intervals) < min(e for _, e in self.intervals)


def test_parallel_checkouts_never_hold_a_coupon_beyond_max_uses(app):
    from webapp.extensions import db
    from webapp.models import Course
    from webapp.services.checkout import create_checkout
    from webapp.services.coupons import CouponRefused

    make_course(app, SLUG, price=4999, currency="usd")
    make_coupon(app, "LIMITED3", value="20", max_uses=3)
    learners = [f"racer_{i:02d}" for i in range(20)]
    for learner in learners:
        make_user(app, learner)

    def checkout(i: int) -> str:
        with app.app_context():
            course = db.session.scalar(db.select(Course).where(Course.slug == SLUG))
            try:
                started = create_checkout(user_id=learners[i], course=course, raw_code=" limited3 ")
            except CouponRefused as exc:
                return exc.code
            finally:
                db.session.remove()
            return "held" if started.redirect_url else "?"

    race = Race(20).run(checkout)
    assert race.errors == []
    assert race.overlapped(), "control: the checkouts did not run at the same time"
    assert sorted(race.results).count("held") == 3
    assert sorted(race.results).count("used_up") == 17

    holding = [s for s in payment_sessions(app) if s.coupon_code == "LIMITED3"]
    assert len(holding) == 3 and {s.status for s in holding} == {"PENDING"}
    assert len({s.user_id for s in holding}) == 3
    assert all(s.stripe_session_id for s in holding)
    at_stripe = [s for s in stripe_sessions(app) if s.metadata.get("coupon_code") == "LIMITED3"]
    assert sorted(s.id for s in at_stripe) == sorted(s.stripe_session_id for s in holding)
    assert coupon_uses(app, "LIMITED3") == 0


def test_parallel_fulfillments_of_one_payment_make_one_enrollment(app, client, auth):
    from webapp.services.fulfillment import fulfill_checkout

    make_course(app, SLUG, price=4999, currency="usd")
    make_coupon(app, "WELCOME10", value="10", max_uses=100)
    auth.sign_in("buyer")
    started = start_checkout(client, SLUG, "WELCOME10")
    cs_id = cs_id_of(started.headers["Location"])
    assert pay(client, started.headers["Location"]).status_code == 303

    def fulfill(i: int) -> tuple[str, str | None]:
        from webapp.extensions import db

        with app.app_context():
            try:
                result = fulfill_checkout(cs_id, actor=f"worker-{i}")
                return result.state, result.enrollment.id if result.enrollment else None
            finally:
                db.session.remove()

    race = Race(10).run(fulfill)
    assert race.errors == []
    assert race.overlapped(), "control: the fulfillments did not run at the same time"
    (enrollment,) = enrollments(app)
    assert race.results == [("COMPLETED", enrollment.id)] * 10
    assert coupon_uses(app, "WELCOME10") == 1
    assert payment_sessions(app)[0].status == "COMPLETED"


def test_parallel_success_page_loads_make_one_enrollment(app, client, auth):
    make_course(app, SLUG, price=4999, currency="usd")
    make_coupon(app, "WELCOME10", value="10", max_uses=100)
    auth.sign_in("buyer")
    started = start_checkout(client, SLUG, "WELCOME10")
    paid = pay(client, started.headers["Location"])
    success_url = paid.headers["Location"]
    token = token_for(app, "buyer")

    def load(i: int) -> tuple[int, str | None]:
        browser = app.test_client()
        set_session_cookie(browser, token)
        page = browser.get(success_url)
        return page.status_code, main_attrs(page.get_data(as_text=True)).get("data-enrollment-id")

    race = Race(10).run(load)
    assert race.errors == []
    assert race.overlapped(), "control: the page loads did not run at the same time"
    (enrollment,) = enrollments(app)
    assert race.results == [(200, enrollment.id)] * 10
    assert coupon_uses(app, "WELCOME10") == 1


def test_two_first_checkouts_of_a_new_learner_make_one_stripe_customer(app):
    from webapp.extensions import db
    from webapp.models import Course
    from webapp.services.checkout import create_checkout

    make_course(app, "course-a", price=4999, currency="usd")
    make_course(app, "course-b", price=2999, currency="usd")
    make_user(app, "newcomer")

    def checkout(i: int) -> str | None:
        with app.app_context():
            try:
                course = db.session.scalar(db.select(Course).where(Course.slug == ("course-a", "course-b")[i]))
                return create_checkout(
                    user_id="newcomer", course=course, raw_code=None
                ).payment_session.stripe_customer_id
            finally:
                db.session.remove()

    race = Race(2).run(checkout)
    assert race.errors == []
    assert race.overlapped(), "control: the checkouts did not run at the same time"
    (user,) = rows(app, "User", id="newcomer")
    assert user.stripe_customer_id and race.results == [user.stripe_customer_id] * 2
    remote = [s for s in stripe_sessions(app) if s.metadata.get("user_id") == "newcomer"]
    assert len(remote) == 2 and {s.customer_id for s in remote} == {user.stripe_customer_id}
