"""Pins for webapp/speedups.py: what each shortcut relies on in a dependency, and that its
result equals the slow path's. A dependency upgrade that changes what a shortcut relies on
fails here, rather than silently making the shortcut wrong or a no-op."""

from __future__ import annotations

import inspect
from datetime import datetime

import pytest
import sqlalchemy as sa
from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms import ValidationError

from tests.support.auth import Auth
from tests.support.factories import make_course
from webapp import speedups
from webapp.extensions import db


class TestLimiterHook:
    """Relies on the PRIVATE `Limiter._check_request_limit`."""

    def test_the_private_hook_exists_with_its_signature(self):
        parameters = inspect.signature(Limiter._check_request_limit).parameters
        assert list(parameters) == ["self", "callable_name", "in_middleware"]
        assert parameters["callable_name"].default is None
        assert parameters["in_middleware"].default is True

    def test_it_is_the_before_request_hook_init_app_registers(self):
        app = Flask(__name__)
        app.config["RATELIMIT_STORAGE_URI"] = "memory://"
        limiter = Limiter(key_func=get_remote_address)
        limiter.init_app(app)
        assert speedups.limiter_hook(limiter) in app.before_request_funcs[None]

    def test_without_the_hook_decorated_views_are_limited_as_with_it(self):
        def build(drop_hook: bool) -> Flask:
            app = Flask(__name__)
            app.config["RATELIMIT_STORAGE_URI"] = "memory://"
            limiter = Limiter(key_func=get_remote_address)
            limiter.init_app(app)

            @app.get("/limited")
            @limiter.limit("2 per minute")
            def limited():
                return "ok"

            @app.get("/free")
            def free():
                return "ok"

            if drop_hook:
                app.before_request_funcs[None].remove(speedups.limiter_hook(limiter))
            return app

        def codes(app: Flask) -> list[int]:
            client = app.test_client()
            return [client.get("/limited").status_code for _ in range(3)] + [client.get("/free").status_code]

        assert codes(build(drop_hook=True)) == codes(build(drop_hook=False)) == [200, 200, 429, 200]


class TestDirectSelect:
    """Relies on SQLAlchemy's compiled-statement attributes and type processors."""

    def test_the_compiler_attributes_it_reads_exist(self, app):
        statement = sa.select(sa.literal_column("1")).where(sa.bindparam("x", type_=sa.Integer) == 1)
        with app.app_context():
            compiled = statement.compile(dialect=db.engine.dialect)
        assert isinstance(compiled.binds, dict) and "x" in compiled.binds
        assert isinstance(compiled.params, dict)
        assert compiled.positional is False or isinstance(compiled.positiontup, list)
        instance = inspect.signature(sa.exc.DBAPIError.instance).parameters
        assert {"connection_invalidated", "dialect"} <= set(instance)

    def test_its_row_equals_the_connection_execute_row(self, app):
        make_course(app, "pinned-course", price=1234, title="Pinned")
        from webapp.models import Course

        table = Course.__table__.c
        statement = sa.select(
            table.id,
            table.slug,
            table.price,
            table.published,
            table.created_at,
            sa.bindparam("when", type_=sa.DateTime),
        ).where(table.slug == sa.bindparam("slug"), table.published == sa.bindparam("on", type_=sa.Boolean))
        params = {"slug": "pinned-course", "on": True, "when": datetime(2026, 1, 2, 3, 4, 5)}
        with app.app_context():
            fast = speedups.DirectSelect(statement).first(**params)
            slow = tuple(db.session.execute(statement, params).one())
            missing = speedups.DirectSelect(statement).first(**{**params, "slug": "nope"})
        assert fast == slow
        assert fast[2] == 1234 and fast[3] is True
        assert missing is None

    def test_all_rows_equal_the_connection_execute_rows(self, app):
        make_course(app, "all-one", price=100)
        make_course(app, "all-two", price=200)
        from webapp.models import Course

        table = Course.__table__.c
        statement = sa.select(table.slug, table.price, table.created_at).order_by(table.slug)
        with app.app_context():
            fast = speedups.DirectSelect(statement).all()
            slow = [tuple(row) for row in db.session.execute(statement)]
        assert fast == slow and [row[0] for row in fast] == ["all-one", "all-two"]


class TestStatementAlone:
    """`run_alone` and `session_is_idle`: the public `Session.get_transaction`, the public
    AUTOCOMMIT isolation level, and `scoped_session.registry.has()`."""

    def test_a_write_alone_commits_by_itself_on_postgres_and_defers_elsewhere(self, app):
        from webapp.models import Course

        make_course(app, "alone", price=100, title="Before")
        statement = sa.update(Course).where(Course.slug == sa.bindparam("s")).values(title=sa.bindparam("t"))
        with app.app_context():
            assert speedups.session_is_idle()
            written = speedups.run_alone(statement, {"s": "alone", "t": "After"})
            assert speedups.session_is_idle()  # it did not use the session
        with app.app_context():
            title = db.session.scalar(sa.select(Course.title).where(Course.slug == "alone"))
            assert not speedups.session_is_idle()
        if written is not None:  # PostgreSQL: committed by itself
            assert written == 1 and title == "After"
        else:
            assert title == "Before"

    def test_session_exists_only_once_used(self, app):
        with app.app_context():
            assert not speedups.session_exists()
            db.session.info  # noqa: B018 - creating the session is the point
            assert speedups.session_exists()


class TestSessionSerializer:
    """Relies on Flask's public `SessionInterface.get_signing_serializer` hook."""

    def test_cookies_round_trip_with_flasks_own_serializer(self, sqlite_app):
        cached = sqlite_app.session_interface.get_signing_serializer(sqlite_app)
        plain = SecureCookieSessionInterface().get_signing_serializer(sqlite_app)
        assert cached is sqlite_app.session_interface.get_signing_serializer(sqlite_app)
        assert plain.loads(cached.dumps({"a": 1})) == {"a": 1}
        assert cached.loads(plain.dumps({"b": 2})) == {"b": 2}

    def test_a_rotated_key_builds_a_new_serializer(self, sqlite_app):
        before = sqlite_app.session_interface.get_signing_serializer(sqlite_app)
        sqlite_app.secret_key = "another-key"
        after = sqlite_app.session_interface.get_signing_serializer(sqlite_app)
        assert after is not before
        assert SecureCookieSessionInterface().get_signing_serializer(sqlite_app).loads(after.dumps({"c": 3})) == {
            "c": 3
        }


class TestTemplateUrls:
    def test_cached_urls_equal_flasks(self, sqlite_app):
        url_for = sqlite_app.jinja_env.globals["url_for"]
        endpoints = [
            rule.endpoint
            for rule in sqlite_app.url_map.iter_rules()
            if not rule.arguments and "GET" in (rule.methods or ())
        ]
        assert endpoints
        with sqlite_app.test_request_context("/"):
            for endpoint in endpoints:
                assert url_for(endpoint) == sqlite_app.url_for(endpoint)
                assert url_for(endpoint) == sqlite_app.url_for(endpoint)  # answered by the cache


@pytest.fixture
def csrf_app(sqlite_app):
    sqlite_app.config["WTF_CSRF_ENABLED"] = True
    return sqlite_app


class TestCsrfSecret:
    """Relies on Flask-WTF keeping its secret at `session[WTF_CSRF_FIELD_NAME]`."""

    def test_flask_wtf_signs_with_the_bound_secret_and_writes_no_session(self, csrf_app):
        with csrf_app.test_request_context("/"):
            speedups.bind_csrf_secret("sess_one")
            bound = session[csrf_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")]
            token = generate_csrf()
            assert session[csrf_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")] == bound
            assert session.modified is False
            validate_csrf(token)

    def test_a_token_of_another_sign_in_is_refused(self, csrf_app):
        with csrf_app.test_request_context("/"):
            speedups.bind_csrf_secret("sess_one")
            token = generate_csrf()
        with csrf_app.test_request_context("/"):
            speedups.bind_csrf_secret("sess_two")
            with pytest.raises(ValidationError):
                validate_csrf(token)

    def test_an_already_modified_session_stays_modified(self, csrf_app):
        with csrf_app.test_request_context("/"):
            session["something"] = "else"
            speedups.bind_csrf_secret("sess_one")
            assert session.modified is True


class TestPublicPages:
    """`render_public` and `csrf_header_token`: an anonymous public page writes no session
    cookie, and a memoised page is exactly what a fresh render gives that visitor."""

    def test_an_anonymous_course_page_and_catalog_write_no_cookie(self, csrf_app):
        make_course(csrf_app, "no-cookie", price=1000)
        client = csrf_app.test_client()
        for path in ("/", "/courses/no-cookie"):
            page = client.get(path)
            assert page.status_code == 200 and "Set-Cookie" not in page.headers
            assert "X-CSRFToken" not in page.get_data(as_text=True)  # nothing on it posts

    def test_a_form_still_mints_its_secret_and_the_header_follows(self, csrf_app):
        client = csrf_app.test_client()
        form = client.get("/dev/sign-in")
        assert "Set-Cookie" in form.headers and 'name="csrf_token"' in form.get_data(as_text=True)
        make_course(csrf_app, "after-form", price=1000)
        page = client.get("/courses/after-form").get_data(as_text=True)
        assert "X-CSRFToken" in page  # the visitor has a secret now: the header carries its token

    def test_a_memoised_page_equals_a_fresh_render(self, csrf_app):
        make_course(csrf_app, "memo", price=1000, title="Before")
        client = csrf_app.test_client()
        first, again = client.get("/courses/memo?x=1"), client.get("/courses/memo?x=1")
        assert first.get_data() == again.get_data()
        csrf_app.extensions["public_pages"].clear()
        assert client.get("/courses/memo?x=1").get_data() == first.get_data()
        assert "x%3D1" in first.get_data(as_text=True)  # the sign-in link carries the query back
        assert client.get("/courses/memo?x=2").get_data() != first.get_data()

    def test_new_data_is_a_new_page_without_invalidation(self, csrf_app):
        from webapp.models import Course

        make_course(csrf_app, "edited", price=1000, title="Old title")
        client = csrf_app.test_client()
        assert "Old title" in client.get("/courses/edited").get_data(as_text=True)
        assert "Old title" in client.get("/").get_data(as_text=True)
        with csrf_app.app_context():
            db.session.execute(sa.update(Course).where(Course.slug == "edited").values(title="New title"))
            db.session.commit()
        assert "New title" in client.get("/courses/edited").get_data(as_text=True)
        assert "New title" in client.get("/").get_data(as_text=True)

    def test_a_render_that_touches_the_session_is_not_kept(self, csrf_app, monkeypatch):
        def minting(template, **context):
            generate_csrf()  # what a form's csrf_token() does for a visitor without a secret
            return "a page with this visitor's token"

        monkeypatch.setattr(speedups, "render_template", minting)
        with csrf_app.test_request_context("/courses/x"):
            assert speedups.render_public("catalog/course.html", course="x") == "a page with this visitor's token"
        assert not csrf_app.extensions.get("public_pages")
        monkeypatch.setattr(speedups, "render_template", lambda template, **context: "a page without state")
        with csrf_app.test_request_context("/courses/x"):
            speedups.render_public("catalog/course.html", course="x")
        assert len(csrf_app.extensions["public_pages"]) == 1

    def test_signed_in_visitors_get_a_fresh_render(self, csrf_app):
        make_course(csrf_app, "signed", price=1000)
        client = csrf_app.test_client()
        Auth(csrf_app, client).sign_in("memo_learner")
        csrf_app.extensions.pop("public_pages", None)
        assert client.get("/courses/signed").status_code == 200
        assert not csrf_app.extensions.get("public_pages")


class TestWarmUp:
    def test_warm_up_runs_the_apps_own_steps(self, sqlite_app, monkeypatch):
        from webapp.auth import tokens

        seen = []
        real = tokens.verification_key
        monkeypatch.setattr(tokens, "verification_key", lambda app: seen.append(app) or real(app))
        speedups.warm_up(sqlite_app, [tokens.verification_key])
        assert seen == [sqlite_app]
        assert callable(sqlite_app.extensions["warm_up"]) and callable(sqlite_app.extensions["warm_worker"])
