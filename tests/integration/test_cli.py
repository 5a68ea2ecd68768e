"""CLI commands of SPEC §9–10: good values print an id last; bad values exit non-zero, no traceback."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Coupon, Course


def _last_line(result) -> str:
    return [line for line in result.output.splitlines() if line.strip()][-1]


class TestSeed:
    def test_seed_is_idempotent_and_covers_the_demo_catalog(self, app, runner):
        first = runner.invoke(args=["seed"])
        assert first.exit_code == 0, first.output
        second = runner.invoke(args=["seed"])
        assert second.exit_code == 0 and "0 new course(s) and 0 new coupon(s)" in second.output
        with app.app_context():
            courses = db.session.scalars(sa.select(Course).where(Course.published.is_(True))).all()
            assert len(courses) >= 5
            currencies = {c.currency for c in courses}
            assert {"eur", "jpy"} <= currencies
            assert any(c.price == 0 for c in courses)
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Coupon).where(Coupon.is_public)) >= 1


class TestCoursesCreate:
    def test_prints_the_new_id_last(self, app, runner):
        result = runner.invoke(
            args=[
                "courses",
                "create",
                "--slug",
                "c1",
                "--title",
                "Course One",
                "--price",
                "4999",
                "--currency",
                "USD",
                "--lectures",
                "12",
            ]
        )
        assert result.exit_code == 0, result.output
        with app.app_context():
            course = db.session.get(Course, _last_line(result))
            assert (course.slug, course.price, course.currency, course.total_lectures) == ("c1", 4999, "usd", 12)
            assert course.published

    def test_explicit_id_and_unpublished(self, app, runner):
        result = runner.invoke(
            args=[
                "courses",
                "create",
                "--slug",
                "hidden",
                "--title",
                "Hidden",
                "--price",
                "0",
                "--currency",
                "eur",
                "--id",
                "course_hidden",
                "--unpublished",
            ]
        )
        assert result.exit_code == 0 and _last_line(result) == "course_hidden"
        with app.app_context():
            assert db.session.get(Course, "course_hidden").published is False

    @pytest.mark.parametrize(
        "args, message",
        [
            (["--price", "-1", "--currency", "usd"], "Price"),
            (["--price", "100", "--currency", "xyz"], "currency"),
            (["--price", "abc", "--currency", "usd"], "Invalid value"),
        ],
    )
    def test_bad_values_fail_cleanly(self, app, runner, args, message):
        result = runner.invoke(args=["courses", "create", "--slug", "bad", "--title", "Bad", *args])
        assert result.exit_code != 0
        assert message in result.output
        assert "Traceback" not in result.output
        with app.app_context():
            assert db.session.scalar(sa.select(Course).where(Course.slug == "bad")) is None

    def test_duplicate_slug_is_refused(self, app, runner):
        base = ["courses", "create", "--slug", "dup", "--title", "Dup", "--price", "100", "--currency", "usd"]
        assert runner.invoke(args=base).exit_code == 0
        again = runner.invoke(args=base)
        assert again.exit_code != 0 and "already exists" in again.output


class TestCouponsCreate:
    def test_all_options(self, app, runner):
        course = runner.invoke(
            args=["courses", "create", "--slug", "cc", "--title", "C", "--price", "5000", "--currency", "usd"]
        )
        course_id = _last_line(course)
        result = runner.invoke(
            args=[
                "coupons",
                "create",
                "--code",
                " spring25 ",
                "--type",
                "percentage",
                "--value",
                "12.5",
                "--max-uses",
                "3",
                "--max-uses-per-user",
                "1",
                "--valid-from",
                "2026-01-01T00:00:00Z",
                "--valid-until",
                "2027-01-01",
                "--minimum-amount",
                "1000",
                "--maximum-discount",
                "2000",
                "--courses",
                course_id,
                "--public",
            ]
        )
        assert result.exit_code == 0, result.output
        with app.app_context():
            coupon = db.session.get(Coupon, _last_line(result))
            assert coupon.code == "SPRING25"
            assert str(coupon.discount_value.normalize()) == "12.5"
            assert (coupon.max_uses, coupon.max_uses_per_user, coupon.minimum_amount, coupon.maximum_discount) == (
                3,
                1,
                1000,
                2000,
            )
            assert coupon.is_public and coupon.is_active
            assert coupon.applicable_course_ids == [course_id]
            assert coupon.valid_until.year == 2027

    def test_a_coupon_created_from_the_cli_is_audit_logged(self, app, runner):
        from webapp.extensions import db
        from webapp.models import AuditLog

        result = runner.invoke(args=["coupons", "create", "--code", "CLIAUDIT", "--type", "percentage", "--value", "5"])
        assert result.exit_code == 0, result.output
        coupon_id = result.output.strip().splitlines()[-1]
        with app.app_context():
            entries = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "coupon.created")).all()
        assert [(e.actor, e.entity_id, e.data["code"]) for e in entries] == [("cli", coupon_id, "CLIAUDIT")]

    def test_fixed_coupon_with_currency(self, app, runner):
        result = runner.invoke(
            args=[
                "coupons",
                "create",
                "--code",
                "FIVE",
                "--type",
                "fixed",
                "--value",
                "500",
                "--currency",
                "usd",
                "--inactive",
            ]
        )
        assert result.exit_code == 0, result.output
        with app.app_context():
            coupon = db.session.get(Coupon, _last_line(result))
            assert coupon.discount_type == "FIXED" and coupon.currency == "usd" and not coupon.is_active

    @pytest.mark.parametrize(
        "args, message",
        [
            (["--type", "percentage", "--value", "101"], "at most 100"),
            (["--type", "percentage", "--value", "0"], "above 0"),
            (["--type", "fixed", "--value", "-5", "--currency", "usd"], "positive"),
            (["--type", "fixed", "--value", "500"], "currency"),
            (["--type", "fixed", "--value", "500", "--currency", "zzz"], "currency"),
            (["--type", "bogus", "--value", "5"], "percentage"),
            (["--type", "percentage", "--value", "ten"], "not a number"),
            (["--type", "percentage", "--value", "10", "--max-uses", "0"], "at least 1"),
            (["--type", "percentage", "--value", "10", "--valid-until", "tomorrow"], "ISO-8601"),
            (["--type", "percentage", "--value", "10", "--courses", "nope"], "Unknown course"),
        ],
    )
    def test_bad_values_fail_cleanly(self, app, runner, args, message):
        result = runner.invoke(args=["coupons", "create", "--code", "BADONE", *args])
        assert result.exit_code != 0, result.output
        assert message in result.output
        assert "Traceback" not in result.output
        with app.app_context():
            assert db.session.scalar(sa.select(Coupon).where(Coupon.code == "BADONE")) is None

    def test_duplicate_code_is_refused_ignoring_case(self, app, runner):
        assert (
            runner.invoke(
                args=["coupons", "create", "--code", "Save10", "--type", "percentage", "--value", "10"]
            ).exit_code
            == 0
        )
        again = runner.invoke(args=["coupons", "create", "--code", "SAVE10", "--type", "percentage", "--value", "5"])
        assert again.exit_code != 0 and "already exists" in again.output


class TestDevToken:
    def test_prints_a_token_that_the_api_accepts(self, app, runner):
        result = runner.invoke(args=["dev", "token", "api_user", "--email", "api@example.test", "--admin"])
        assert result.exit_code == 0
        token = _last_line(result)
        from webapp.auth.tokens import verify_session_token

        with app.app_context():
            claims = verify_session_token(app, bearer=token).claims
        assert claims.user_id == "api_user" and claims.role == "admin"

    def test_refused_when_clerk_is_configured(self, sqlite_app):
        sqlite_app.config["CLERK_CONFIGURED"] = True
        result = sqlite_app.test_cli_runner().invoke(args=["dev", "token", "someone"])
        assert result.exit_code != 0 and "Clerk is configured" in result.output
