"""Session-token verification: the real Clerk SDK path, with forged and tampered tokens."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.auth import signed_jwt
from webapp.auth.tokens import DEV_ISSUER, issue_dev_token, verify_session_token


def _claims(app, **changes):
    now = int(time.time())
    claims = {
        "sub": "user_a",
        "sid": "sess_1",
        "iss": DEV_ISSUER,
        "azp": app.config["APP_ORIGIN"],
        "iat": now,
        "nbf": now - 5,
        "exp": now + 600,
        "metadata": {"role": "learner"},
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(app, claims, key=None, alg="RS256"):
    from webapp.auth.tokens import _dev_key

    return signed_jwt(claims, key or _dev_key(app), algorithm=alg)


@pytest.fixture
def verify(sqlite_app):
    def run(token, via="bearer"):
        with sqlite_app.app_context():
            return verify_session_token(sqlite_app, **{via: token})

    return run


class TestVerifySessionToken:
    def test_dev_token_verifies_from_header_and_cookie(self, sqlite_app, verify):
        token = issue_dev_token(sqlite_app, "user_a", email="a@example.test", admin=True)
        for via in ("bearer", "cookie"):
            result = verify(token, via)
            assert result.claims is not None, result.reason
            assert result.claims.user_id == "user_a"
            assert result.claims.role == "admin"
            assert result.claims.email == "a@example.test"

    def test_expired_beyond_skew_is_refused(self, sqlite_app, verify):
        now = int(time.time())
        token = _sign(sqlite_app, _claims(sqlite_app, iat=now - 100, nbf=now - 100, exp=now - 30))
        assert verify(token).reason == "token-expired"

    def test_expiry_within_clock_skew_is_accepted(self, sqlite_app, verify):
        now = int(time.time())
        token = _sign(sqlite_app, _claims(sqlite_app, exp=now - 2))
        assert verify(token).claims is not None

    def test_not_yet_valid_is_refused(self, sqlite_app, verify):
        now = int(time.time())
        token = _sign(sqlite_app, _claims(sqlite_app, nbf=now + 120))
        assert verify(token).claims is None

    def test_wrong_key_is_refused(self, sqlite_app, verify):
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assert verify(_sign(sqlite_app, _claims(sqlite_app), key=other)).claims is None

    def test_hs256_signed_with_the_public_key_is_refused(self, sqlite_app, verify):
        from webapp.auth.tokens import verification_key

        pem = verification_key(sqlite_app)
        header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()).rstrip(b"=")
        body = base64.urlsafe_b64encode(json.dumps(_claims(sqlite_app)).encode()).rstrip(b"=")
        import hashlib
        import hmac

        signing_input = header + b"." + body
        sig = base64.urlsafe_b64encode(hmac.new(pem.encode(), signing_input, hashlib.sha256).digest()).rstrip(b"=")
        assert verify((signing_input + b"." + sig).decode()).claims is None

    def test_alg_none_is_refused(self, sqlite_app, verify):
        header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        body = base64.urlsafe_b64encode(json.dumps(_claims(sqlite_app)).encode()).rstrip(b"=").decode()
        assert verify(f"{header}.{body}.").claims is None

    @pytest.mark.parametrize("claim", ["sub", "sid", "exp", "azp"])
    def test_missing_required_claim_is_refused(self, sqlite_app, verify, claim):
        claims = _claims(sqlite_app)
        del claims[claim]
        result = verify(_sign(sqlite_app, claims))
        assert result.claims is None

    def test_wrong_authorized_party_is_refused(self, sqlite_app, verify):
        result = verify(_sign(sqlite_app, _claims(sqlite_app, azp="https://evil.example")))
        assert result.claims is None

    def test_wrong_issuer_is_refused(self, sqlite_app, verify):
        result = verify(_sign(sqlite_app, _claims(sqlite_app, iss="https://clerk.evil.example")))
        assert result.reason == "wrong-issuer"

    def test_tampered_payload_is_refused(self, sqlite_app, verify):
        token = issue_dev_token(sqlite_app, "user_a")
        header, body, sig = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        claims["metadata"] = {"role": "admin"}
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        assert verify(f"{header}.{forged}.{sig}").claims is None

    def test_garbage_is_refused(self, verify):
        assert verify("not-a-jwt").claims is None


class TestRequestIdentity:
    def test_api_ignores_the_cookie(self, app, client, auth):
        auth.sign_in("user_cookie")
        response = client.get("/api/enrollments")
        assert response.status_code == 401
        assert response.get_json()["code"] == "unauthenticated"

    def test_pages_ignore_a_bearer_header(self, app, client, auth):
        response = client.get("/", headers=auth.bearer("user_header"))
        assert response.status_code == 200
        assert b"user_header" not in response.data

    def test_first_request_creates_the_user_once(self, app, client, auth):
        from webapp.extensions import db
        from webapp.models import User

        auth.sign_in("user_new", email="new@example.test")
        assert client.get("/").status_code == 200
        assert client.get("/").status_code == 200
        with app.app_context():
            users = db.session.query(User).filter_by(id="user_new").all()
            assert len(users) == 1 and users[0].email == "new@example.test"

    def test_forged_cookie_is_treated_as_signed_out(self, app, client):
        client.set_cookie("__session", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", domain="localhost")
        page = client.get("/")
        assert page.status_code == 200
        assert b"Sign in" in page.data
