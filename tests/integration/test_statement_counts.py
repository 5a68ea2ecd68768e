"""Every learner page issues at most 6 SQL statements, whatever the size of the data (P3).

Counted deterministically at the driver during one request (`harness.driver_statements`),
so a statement that skips SQLAlchemy's execution events is counted too; the Stripe
sandbox's own database (a separate engine) is not counted, since in production those are
HTTP calls to Stripe, not our SQL. Each page is counted with a small
and a larger data set (catalog, enrollments, coupon scope, saved cards) and must give the
same number both times: a count that grows with the data is an N+1.
"""

from __future__ import annotations

import pytest

from tests.support.checkout import FAST_STRIPE, buy
from tests.support.factories import make_coupon, make_course, make_user

MAX_STATEMENTS = 6
LEARNER = "counted_learner"
SIZES = {"small": {"courses": 3, "cards": 1}, "larger": {"courses": 60, "cards": 4}}


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


def build_world(app, client, auth, *, courses: int, cards: int) -> dict[str, str]:
    """`courses` published courses, the learner enrolled in all but the last one (one bought
    through Stripe, the others granted), a coupon valid for every course, `cards` saved cards."""
    from webapp.extensions import db
    from webapp.models import User
    from webapp.services import saved_cards
    from webapp.services.grants import grant_enrollment

    make_user(app, LEARNER)
    auth.sign_in(LEARNER)
    ids = [make_course(app, f"course-{n:03d}", price=4999) for n in range(courses)]
    make_coupon(app, "SAVE10", value="10", course_ids=ids)
    success, cs_id = buy(client, "course-000")
    assert success.status_code == 200
    with app.app_context():
        for course_id in ids[1:-1]:
            grant_enrollment(user_ref=LEARNER, course_id=course_id, reason="bench data", admin_id="admin_1")
        user = db.session.get(User, LEARNER)
        for n in range(cards):
            saved_cards.attach_card(user, "pm_card_visa" if n % 2 else "pm_card_mastercard")
    return {"open_slug": f"course-{courses - 1:03d}", "cs_id": cs_id}


def learner_pages(world: dict[str, str]) -> dict[str, tuple[str, str, dict]]:
    slug = world["open_slug"]
    return {
        "catalog": ("GET", "/", {}),
        "course": ("GET", f"/courses/{slug}", {}),
        "checkout": ("GET", f"/checkout/{slug}", {}),
        "coupon partial": (
            "POST",
            f"/checkout/{slug}/coupon",
            {"data": {"code": "save10"}, "headers": {"HX-Request": "true"}},
        ),
        "payment success": ("GET", f"/payment/success?session_id={world['cs_id']}", {}),
        "my enrollments": ("GET", "/account/enrollments", {}),
        "payment methods": ("GET", "/account/payment-methods", {}),
    }


def count_pages(app, client, world) -> dict[str, int]:
    from tests.support.harness import driver_statements

    counts = {}
    for name, (method, path, kwargs) in learner_pages(world).items():
        client.open(path, method=method, **kwargs)  # warm: first-request work is not per request
        with driver_statements(app) as statements:
            response = client.open(path, method=method, **kwargs)
        assert response.status_code == 200, (name, response.status_code, response.get_data(as_text=True)[:300])
        counts[name] = len(statements)
    return counts


@pytest.fixture
def counts_by_size(app, client, auth) -> dict[str, dict[str, int]]:
    from tests.support.harness import clean_database
    from webapp.services.users import forget_users

    found = {}
    for label, size in SIZES.items():
        clean_database(app)
        with app.app_context():
            forget_users()  # the users were deleted behind the app's back
        world = build_world(app, client, auth, **size)
        found[label] = count_pages(app, client, world)
    return found


class TestLearnerPageStatementCounts:
    def test_every_learner_page_issues_at_most_six_statements(self, counts_by_size):
        over = {
            label: {page: n for page, n in counts.items() if n > MAX_STATEMENTS}
            for label, counts in counts_by_size.items()
        }
        assert over == {"small": {}, "larger": {}}, counts_by_size

    def test_statement_count_does_not_grow_with_the_data(self, counts_by_size):
        assert counts_by_size["small"] == counts_by_size["larger"]

    def test_the_pages_really_show_the_larger_data(self, app, client, auth):
        build_world(app, client, auth, **SIZES["larger"])
        assert client.get("/").get_data(as_text=True).count('href="/courses/course-') >= SIZES["larger"]["courses"]
        enrolled = client.get("/account/enrollments").get_data(as_text=True)
        assert enrolled.count("Course course-0") >= SIZES["larger"]["courses"] - 1
        cards = client.get("/account/payment-methods").get_data(as_text=True)
        assert cards.count("data-card-id=") == SIZES["larger"]["cards"]
