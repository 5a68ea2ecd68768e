"""Catalog, course page, errors and probes as a visitor sees them."""

from __future__ import annotations

import pytest

from webapp.services.courses import create_course


@pytest.fixture
def catalog(app):
    with app.app_context():
        create_course(slug="usd-course", title="Dollars", price=4999, currency="usd", short_description="In USD")
        create_course(slug="eur-course", title="Euros", price=2500, currency="eur")
        create_course(slug="jpy-course", title="Yen", price=5000, currency="jpy")
        create_course(slug="free-course", title="Gratis", price=0, currency="usd")
        create_course(slug="hidden-course", title="Hidden", price=100, currency="usd", published=False)


class TestCatalog:
    def test_lists_published_courses_with_formatted_prices(self, client, catalog):
        page = client.get("/").get_data(as_text=True)
        for text in ("Dollars", "$49.99", "€25.00", "¥5,000", "Free"):
            assert text in page
        assert "Hidden" not in page

    def test_course_page_shows_its_price(self, client, catalog):
        page = client.get("/courses/jpy-course")
        assert page.status_code == 200 and "¥5,000" in page.get_data(as_text=True)

    @pytest.mark.parametrize("slug", ["hidden-course", "no-such-course"])
    def test_unpublished_or_unknown_course_is_404(self, client, catalog, slug):
        page = client.get(f"/courses/{slug}")
        assert page.status_code == 404
        assert "<html" in page.get_data(as_text=True)

    def test_signed_in_header_shows_user_and_sign_out(self, client, auth, catalog):
        auth.sign_in("header_user")
        page = client.get("/").get_data(as_text=True)
        assert "header_user@example.test" in page and "Sign out" in page

    def test_every_form_carries_a_csrf_token_and_htmx_sends_it(self, client, auth, catalog):
        auth.sign_in("csrf_user")
        page = client.get("/").get_data(as_text=True)
        assert 'name="csrf_token"' in page
        assert "X-CSRFToken" in page


class TestErrorsAndProbes:
    def test_api_404_is_json(self, client):
        response = client.get("/api/definitely-not-here")
        assert response.status_code == 404
        assert response.get_json()["code"] == "not_found"

    def test_healthz(self, client):
        assert client.get("/healthz").get_json() == {"status": "ok"}

    def test_readyz_ok_then_503_when_database_unreachable(self, app, client):
        assert client.get("/readyz").status_code == 200
        from webapp.extensions import db

        with app.app_context():
            db.engine.dispose()
        good = app.config["SQLALCHEMY_DATABASE_URI"]
        bad = (
            "postgresql+psycopg://postgres@127.0.0.1:1/nothing"
            if good.startswith("postgresql")
            else "sqlite:////nonexistent/dir/x.db"
        )
        from sqlalchemy import create_engine

        with app.app_context():
            db._app_engines[app][None] = create_engine(bad)
        try:
            response = client.get("/readyz")
            assert response.status_code == 503
            assert response.get_json()["database"] == "unreachable"
        finally:
            with app.app_context():
                db._app_engines[app][None] = create_engine(good)
        assert client.get("/readyz").status_code == 200


class TestSignIn:
    def test_dev_sign_in_sets_cookie_and_returns_to_next(self, client, catalog):
        page = client.get("/dev/sign-in?next=/courses/usd-course")
        assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)
        response = client.post(
            "/dev/sign-in",
            data={"user_id": "u_dev", "email": "d@example.test", "name": "Dev", "next": "/courses/usd-course"},
        )
        assert response.status_code == 303 and response.headers["Location"].endswith("/courses/usd-course")
        assert client.get_cookie("__session", domain="localhost") is not None
        assert "Dev" in client.get("/").get_data(as_text=True)

    @pytest.mark.parametrize("evil", ["https://evil.example", "//evil.example", "/\\evil.example"])
    def test_next_never_leaves_the_site(self, client, evil):
        response = client.post("/dev/sign-in", data={"user_id": "u_dev", "next": evil})
        assert response.status_code == 303 and response.headers["Location"] in ("/", "http://localhost/")

    def test_bad_user_id_is_a_clear_message(self, client):
        response = client.post("/dev/sign-in", data={"user_id": "bad id!"})
        assert response.status_code == 400 and "letters, digits" in response.get_data(as_text=True)

    def test_dev_sign_in_is_404_with_clerk(self, app, client):
        app.config["CLERK_CONFIGURED"] = True
        assert client.get("/dev/sign-in").status_code == 404

    def test_sign_out_clears_the_cookie(self, client, auth, catalog):
        auth.sign_in("bye_user")
        assert "bye_user" in client.get("/").get_data(as_text=True)
        client.post("/sign-out")
        assert "bye_user" not in client.get("/").get_data(as_text=True)
