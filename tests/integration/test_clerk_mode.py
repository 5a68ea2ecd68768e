"""Clerk mode: tokens from Clerk's key, the sign-in component, the refresh page, no loops."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.auth import signed_jwt

ISSUER = "https://clerk.example.test"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = (
    KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
)


@pytest.fixture
def app_config():
    return {
        "CLERK_CONFIGURED": True,
        "CLERK_JWT_KEY": PUBLIC_PEM,
        "CLERK_ISSUER": ISSUER,
        "CLERK_PUBLISHABLE_KEY": "pk_test_Y2xlcmsuZXhhbXBsZS50ZXN0JA",
    }


def clerk_token(user_id="user_clerk", *, expires_in=60, role=None):
    now = int(time.time())
    claims = {
        "sub": user_id,
        "sid": "sess_abc",
        "iss": ISSUER,
        "azp": "http://localhost",
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + expires_in,
    }
    if role:
        claims["metadata"] = {"role": role}
    return signed_jwt(claims, KEY)


def test_a_clerk_token_signs_the_learner_in(sqlite_app):
    client = sqlite_app.test_client()
    client.set_cookie("__session", clerk_token(), domain="localhost")
    assert "user_clerk" in client.get("/").get_data(as_text=True)


def test_dev_sign_in_and_dev_tokens_are_off(sqlite_app):
    client = sqlite_app.test_client()
    assert client.get("/dev/sign-in").status_code == 404
    assert client.post("/dev/sign-in", data={"user_id": "x"}).status_code == 404
    result = sqlite_app.test_cli_runner().invoke(args=["dev", "token", "someone"])
    assert result.exit_code != 0


def test_sign_in_page_mounts_clerk_with_the_publishable_key(sqlite_app):
    page = sqlite_app.test_client().get("/sign-in?next=/courses/x").get_data(as_text=True)
    assert 'data-clerk-publishable-key="pk_test_Y2xlcmsuZXhhbXBsZS50ZXN0JA"' in page
    assert f"{ISSUER}/npm/@clerk/clerk-js" in page
    assert 'data-after-sign-in="/courses/x"' in page


def test_expired_token_with_live_client_gets_the_refresh_page_once(sqlite_app):
    client = sqlite_app.test_client()
    client.set_cookie("__session", clerk_token(expires_in=-60), domain="localhost")
    client.set_cookie("__client_uat", str(int(time.time()) - 100), domain="localhost")
    first = client.get("/courses/anything")
    assert first.status_code == 200 and 'id="clerk-refresh"' in first.get_data(as_text=True)
    assert "__clerk_refreshed=1" in first.get_data(as_text=True)
    # coming back still expired: no second refresh page, no redirect loop
    second = client.get("/checkout/anything?__clerk_refreshed=1")
    assert second.status_code in (302, 303) and "/sign-in" in second.headers["Location"]


def test_expired_token_without_live_client_is_just_signed_out(sqlite_app):
    client = sqlite_app.test_client()
    client.set_cookie("__session", clerk_token(expires_in=-60), domain="localhost")
    client.set_cookie("__client_uat", "0", domain="localhost")
    page = client.get("/")
    assert page.status_code == 200 and 'id="clerk-refresh"' not in page.get_data(as_text=True)


def test_sign_out_ends_the_clerk_session_in_the_browser(sqlite_app):
    client = sqlite_app.test_client()
    client.set_cookie("__session", clerk_token(), domain="localhost")
    response = client.post("/sign-out")
    assert response.status_code == 200 and "clerk-sign-out.js" in response.get_data(as_text=True)
    assert "__session=;" in response.headers["Set-Cookie"]
