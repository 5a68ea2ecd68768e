"""The per-request shortcuts of issue 10 keep the behaviour they replace.

Each shortcut (README "Performance") is tested for what could go wrong with it: a cached
token outliving its expiry, a cached URL ignoring the script root, an autocommit
connection leaking into the next transaction, a skipped rate limit, a webhook costing more
than one commit, a pooled connection that died while idle.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.support.checkout import FAST_STRIPE
from tests.support.factories import make_course, make_user
from tests.support.webhooks import signed_headers
from webapp.extensions import db


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


class TestVerifiedTokenCache:
    def test_a_verified_token_is_answered_from_the_cache_until_it_expires(self, sqlite_app, monkeypatch):
        from webapp.auth import tokens

        token = tokens.issue_dev_token(sqlite_app, "cached_user", lifetime=60)
        first = tokens.verify_session_token(sqlite_app, cookie=token)
        assert first.claims is not None and first.claims.user_id == "cached_user"

        def library_must_not_run(*args, **kwargs):
            raise AssertionError("verified again")

        monkeypatch.setattr(tokens, "authenticate_request", library_must_not_run)
        again = tokens.verify_session_token(sqlite_app, bearer=token)
        assert again.claims == first.claims

        # Past `exp` the cache no longer answers: the library verifies (and refuses) it.
        monkeypatch.setattr(tokens.time, "time", lambda: first.claims.expires_at + 1)
        with pytest.raises(AssertionError, match="verified again"):
            tokens.verify_session_token(sqlite_app, cookie=token)

    def test_failures_are_not_cached(self, sqlite_app):
        from webapp.auth import tokens

        token = tokens.issue_dev_token(sqlite_app, "someone", lifetime=60)
        tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        for _ in range(2):
            assert tokens.verify_session_token(sqlite_app, cookie=tampered).claims is None
        assert tokens.verify_session_token(sqlite_app, cookie=token).claims is not None

    def test_the_cache_is_bounded(self, sqlite_app, monkeypatch):
        from webapp.auth import tokens

        monkeypatch.setattr(tokens, "VERIFIED_CACHE_MAX", 3)
        issued = [tokens.issue_dev_token(sqlite_app, f"user_{n}", lifetime=60) for n in range(5)]
        for token in issued:
            assert tokens.verify_session_token(sqlite_app, cookie=token).claims is not None
        cache = tokens._verified_tokens(sqlite_app)
        assert len(cache._entries) == 3
        assert cache.get(issued[0]) is None and cache.get(issued[-1]) is not None


class TestTemplateUrls:
    def test_cached_urls_follow_the_script_root(self, sqlite_app):
        make_course(sqlite_app, "rooted-course", price=1000)
        client = sqlite_app.test_client()
        plain = client.get("/courses/rooted-course").get_data(as_text=True)
        mounted = client.get("/courses/rooted-course", base_url="http://localhost/shop").get_data(as_text=True)
        assert 'href="/static/css/app.css"' in plain and 'href="/checkout/rooted-course"' in plain
        assert 'href="/shop/static/css/app.css"' in mounted and 'href="/shop/checkout/rooted-course"' in mounted
        assert 'href="/static/' not in mounted

    def test_external_and_unhashable_urls_are_built_by_flask(self, sqlite_app):
        url_for = sqlite_app.jinja_env.globals["url_for"]
        with sqlite_app.test_request_context("/"):
            assert url_for("catalog.course", slug="a", _external=True) == "http://localhost/courses/a"
            assert url_for("catalog.index", tags=["x", "y"]) == "/?tags=x&tags=y"
            assert url_for("catalog.course", slug="a") == "/courses/a"
            assert url_for("catalog.course", slug="b") == "/courses/b"


class TestRateLimitFilter:
    def test_the_limiter_middleware_is_dropped_when_no_default_limit_exists(self, tmp_path, sqlite_path):
        from tests.support.harness import make_app
        from webapp.extensions import limiter

        app = make_app(f"sqlite:///{sqlite_path}", tmp_path, RATELIMIT_ENABLED=True, **FAST_STRIPE)
        assert limiter._check_request_limit not in app.before_request_funcs[None]

    def test_a_default_limit_keeps_the_middleware(self, tmp_path, sqlite_path):
        from tests.support.harness import make_app
        from webapp.extensions import limiter

        app = make_app(
            f"sqlite:///{sqlite_path}",
            tmp_path,
            RATELIMIT_ENABLED=True,
            RATELIMIT_DEFAULT="1000 per hour",
            **FAST_STRIPE,
        )
        assert limiter._check_request_limit in app.before_request_funcs[None]

    def test_a_limited_endpoint_is_still_limited(self, tmp_path, sqlite_path):
        from tests.support.auth import Auth
        from tests.support.harness import make_app, migrate_once

        app = make_app(f"sqlite:///{sqlite_path}", tmp_path, RATELIMIT_ENABLED=True, **FAST_STRIPE)
        migrate_once(app)
        make_course(app, "limited-course", price=1000)
        client = app.test_client()
        Auth(app, client).sign_in("limited_learner")
        codes = [client.post("/checkout/limited-course/coupon", data={"code": "NOPE"}).status_code for _ in range(31)]
        assert codes[-1] == 429 and 429 not in codes[:30]
        assert client.get("/checkout/limited-course").status_code == 200  # no limit on the page


class TestAutocommitRead:
    def test_the_checkout_page_read_leaves_no_autocommit_behind(self, app, client, auth):
        """After the page's autocommit read, the pooled connection is transactional again."""
        from webapp.models import User

        make_course(app, "read-course", price=1000)
        auth.sign_in("read_learner")
        for _ in range(3):
            assert client.get("/checkout/read-course").status_code == 200
        with app.app_context():
            user = db.session.get(User, "read_learner")
            user.name = "Not committed"
            db.session.flush()
            db.session.rollback()
            assert db.session.get(User, "read_learner").name != "Not committed"

    def test_the_page_is_one_statement(self, app, client, auth):
        from tests.support.harness import driver_statements

        make_course(app, "one-query", price=1000)
        make_user(app, "one_query_learner")
        auth.sign_in("one_query_learner")
        client.get("/checkout/one-query")  # the user is now known to this process
        with driver_statements(app) as statements:
            assert client.get("/checkout/one-query").status_code == 200
        assert len(statements) == 1 and statements[0].upper().startswith("SELECT")

    def test_a_database_error_on_the_page_is_a_503_and_leaves_the_pool_usable(self, app, client, auth):
        """DirectSelect raises SQLAlchemy's own exceptions, so the page gets the outage page."""
        from webapp.services import checkout as checkout_service

        make_course(app, "broken-read", price=1000)
        auth.sign_in("broken_learner")
        broken = checkout_service.DirectSelect(sa.select(sa.text("no_such_column")).select_from(sa.table("courses")))
        with app.app_context():
            with pytest.raises(sa.exc.DBAPIError):
                broken.first()
        assert client.get("/checkout/broken-read").status_code == 200


def _event(event_id: str, event_type: str, obj: dict) -> str:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "livemode": False,
            "created": 1,
            "data": {"object": obj},
        }
    )


class TestWebhookTransactions:
    def test_a_database_only_event_costs_one_commit(self, app, client):
        commits: list[str] = []
        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "commit", lambda conn: commits.append("commit"))
        body = _event("evt_one_commit", "payment_intent.succeeded", {"id": "pi_not_ours", "metadata": {}})
        response = client.post("/webhooks/stripe", data=body, headers=signed_headers(body))
        assert response.status_code == 200 and response.get_json()["status"] == "ignored"
        assert commits == ["commit"]
        from webapp.models import StripeEvent

        with app.app_context():
            row = db.session.get(StripeEvent, "evt_one_commit")
            assert (row.status, row.locked_until, row.attempts) == ("IGNORED", None, 1)
        again = client.post("/webhooks/stripe", data=body, headers=signed_headers(body))
        assert again.get_json()["status"] == "duplicate"

    def test_a_failed_handler_is_recorded_after_its_work_is_rolled_back(self, app, client, monkeypatch):
        """A DB-only event takes no claim first: when the handler fails, its work is rolled
        back and the FAILED outcome is recorded on its own, so a retry can still claim it."""
        from webapp.models import StripeEvent
        from webapp.services import webhooks

        def broken(obj, event_id, event_type):
            raise RuntimeError("handler broke")

        monkeypatch.setattr(webhooks, "_on_payment_intent", broken)
        body = _event("evt_broken", "payment_intent.succeeded", {"id": "pi_x", "metadata": {}})
        response = client.post("/webhooks/stripe", data=body, headers=signed_headers(body))
        assert response.status_code == 500
        with app.app_context():
            row = db.session.get(StripeEvent, "evt_broken")
            assert row.status == "FAILED" and "handler broke" in row.last_error and row.locked_until is None
        monkeypatch.undo()
        retried = client.post("/webhooks/stripe", data=body, headers=signed_headers(body))
        assert retried.status_code == 200 and retried.get_json()["status"] == "ignored"

    def test_every_handled_type_is_classified(self):
        """A type missing from both sets would run a Stripe-calling handler inside the claim's
        transaction; this lists what handle_event dispatches and requires a decision for each."""
        import inspect

        from webapp.services import webhooks

        source = inspect.getsource(webhooks.handle_event)
        handled = {
            part.strip().strip('"')
            for line in source.splitlines()
            if "case " in line
            for part in line.split("case ", 1)[1].rstrip(":").split("|")
        }
        handled.discard("_")
        assert handled == webhooks._LOCAL_TYPES | webhooks._REMOTE_TYPES
        assert not webhooks._LOCAL_TYPES & webhooks._REMOTE_TYPES


class TestIdlePing:
    """PostgreSQL only: a connection the server dropped while it sat in the pool."""

    @pytest.fixture
    def pg_app(self, postgres_database, tmp_path):
        from tests.support.harness import clean_database, make_app, migrate_once

        def build(**overrides):
            app = make_app(postgres_database.url, tmp_path, **FAST_STRIPE, **overrides)
            migrate_once(app)
            return app

        yield build
        clean_database(build())

    @staticmethod
    def _kill_other_connections(app) -> None:
        with app.app_context():
            url = db.engine.url
        killer = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with killer.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        killer.dispose()

    def test_an_idle_connection_that_died_is_replaced_before_use(self, pg_app):
        app = pg_app(DATABASE_PING_IDLE_SECONDS=0.0)  # every checkout counts as idle
        make_course(app, "ping-course", price=1000)
        client = app.test_client()
        assert client.get("/courses/ping-course").status_code == 200
        self._kill_other_connections(app)
        assert client.get("/courses/ping-course").status_code == 200

    def test_a_pinged_connection_serves_the_autocommit_read(self, pg_app, tmp_path):
        """The ping must leave no transaction open: the checkout page then switches the same
        connection to autocommit, which a driver refuses inside a transaction."""
        from tests.support.auth import Auth

        app = pg_app(DATABASE_PING_IDLE_SECONDS=0.0)  # every checkout is pinged
        make_course(app, "pinged-read", price=1000)
        client = app.test_client()
        Auth(app, client).sign_in("pinged_learner")
        for _ in range(3):
            assert client.get("/checkout/pinged-read").status_code == 200

    def test_without_the_ping_the_first_request_fails_then_the_pool_recovers(self, pg_app):
        """What the idle threshold trades: a connection that dies within it fails one request."""
        app = pg_app(DATABASE_PING_IDLE_SECONDS=3600.0)
        make_course(app, "no-ping-course", price=1000)
        client = app.test_client()
        assert client.get("/courses/no-ping-course").status_code == 200
        self._kill_other_connections(app)
        assert client.get("/courses/no-ping-course").status_code == 503
        assert client.get("/courses/no-ping-course").status_code == 200

    def test_the_checkout_page_read_fails_once_then_the_pool_recovers(self, pg_app):
        """DirectSelect: a dead connection is a 503 (SQLAlchemy's error), then invalidated."""
        from tests.support.auth import Auth

        app = pg_app(DATABASE_PING_IDLE_SECONDS=3600.0)
        make_course(app, "dead-read", price=1000)
        client = app.test_client()
        Auth(app, client).sign_in("dead_read_learner")
        assert client.get("/checkout/dead-read").status_code == 200
        self._kill_other_connections(app)
        assert client.get("/checkout/dead-read").status_code == 503
        assert client.get("/checkout/dead-read").status_code == 200

    def test_a_recently_used_connection_is_not_pinged(self, pg_app):
        app = pg_app()
        with app.app_context():
            engine = db.engine
        pings: list[int] = []
        original = engine.dialect.do_ping
        engine.dialect.do_ping = lambda dbapi_connection: pings.append(1) or original(dbapi_connection)
        try:
            client = app.test_client()
            for _ in range(5):
                assert client.get("/").status_code == 200
        finally:
            engine.dialect.do_ping = original
        assert len(pings) <= 1  # at most the first checkout of a fresh connection


class TestWorkerWarmUp:
    def test_a_new_worker_opens_its_connection_before_serving(self, app):
        from webapp.speedups import warm_worker

        with app.app_context():
            engine = db.engine
        engine.dispose()
        assert engine.pool.checkedin() == 0
        warm_worker(app)
        assert engine.pool.checkedin() == 1

    def test_a_database_that_is_down_does_not_stop_the_worker(self, tmp_path, capsys):
        from tests.support.harness import make_app
        from webapp.speedups import warm_worker

        unreachable = make_app("postgresql://postgres@127.0.0.1:1/none", tmp_path)
        warm_worker(unreachable)  # logs, does not raise
        assert "could not reach the database" in capsys.readouterr().err
