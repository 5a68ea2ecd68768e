"""A learner signs in through the dev page and sees the catalog, in a real chromium."""

from __future__ import annotations

import pytest

from tests.support.browser import shot, sign_in_with_form
from webapp.services.seed import seed_demo_data

pytestmark = pytest.mark.browser


def test_sign_in_and_see_the_catalog(live_app, live_server, page, output_dir):
    with live_app.app_context():
        seed_demo_data()
    page.goto(live_server.url + "/")
    assert page.get_by_role("link", name="Sign in").is_visible()
    sign_in_with_form(page, live_server.url, "browser_learner", email="ada@example.test", name="Ada Lovelace")
    assert page.url.rstrip("/") == live_server.url
    header = page.locator("header").inner_text()
    assert "Ada Lovelace" in header and "Sign out" in header
    assert page.get_by_role("link", name="Python for Data Analysis").is_visible()
    assert "¥5,000" in page.locator("main").inner_text()
    shot(page, output_dir, "catalog-signed-in")
    page.get_by_role("link", name="Japanese for Travellers").click()
    assert page.locator("h1").inner_text() == "Japanese for Travellers"
    shot(page, output_dir, "course-page")
