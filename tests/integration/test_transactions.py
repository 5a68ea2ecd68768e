"""The transaction helpers every service uses instead of committing or rolling back by hand."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Course
from webapp.models.base import new_id
from webapp.services.errors import Conflict
from webapp.services.transactions import add_unless_duplicate, pending_work, retry_on_conflict, unit_of_work


def _course(slug: str) -> Course:
    return Course(id=new_id(), slug=slug, title=slug, price=100, currency="usd", total_lectures=1, published=True)


def _slugs() -> list[str]:
    return sorted(db.session.scalars(sa.select(Course.slug)))


class TestUnitOfWork:
    def test_commits_a_normal_exit_and_rolls_back_an_error(self, app):
        with app.app_context():
            with unit_of_work():
                db.session.add(_course("kept"))
            with pytest.raises(RuntimeError), unit_of_work():
                db.session.add(_course("dropped"))
                raise RuntimeError
            assert _slugs() == ["kept"]

    def test_a_unique_key_conflict_becomes_the_domain_error(self, app):
        with app.app_context():
            with unit_of_work():
                db.session.add(_course("taken"))
            with pytest.raises(Conflict), unit_of_work(on_conflict=lambda _: Conflict("taken")):
                db.session.add(_course("taken"))
            assert _slugs() == ["taken"]


class TestRetryOnConflict:
    def test_a_conflict_is_retried_once_after_a_rollback(self, app):
        attempts: list[int] = []

        def work():
            attempts.append(1)
            with unit_of_work():
                db.session.add(_course("raced" if len(attempts) == 1 else "second"))

        with app.app_context():
            with unit_of_work():
                db.session.add(_course("raced"))
            retry_on_conflict(work)
            assert len(attempts) == 2 and _slugs() == ["raced", "second"]

    def test_the_last_conflict_propagates(self, app):
        def work():
            with unit_of_work():
                db.session.add(_course("always"))

        with app.app_context():
            work()
            with pytest.raises(IntegrityError):
                retry_on_conflict(work)


class TestSavepointsAndPendingWork:
    def test_a_duplicate_insert_leaves_the_rest_of_the_transaction(self, app):
        with app.app_context():
            with unit_of_work():
                db.session.add(_course("first"))
            with unit_of_work():
                db.session.add(_course("other"))
                assert add_unless_duplicate(_course("first")) is False
            assert _slugs() == ["first", "other"]

    def test_pending_work_is_not_committed_and_an_error_rolls_it_back(self, app):
        with app.app_context():
            with pending_work():
                db.session.add(_course("pending"))
            assert db.session.new  # still the caller's to commit
            with pytest.raises(RuntimeError), pending_work():
                raise RuntimeError
            assert not db.session.new
            assert _slugs() == []
