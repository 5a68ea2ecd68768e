"""Tokens and sign-in for tests: one way to mint a session token, one way to sign in.

`token_for` issues a real dev session token through the app (what `POST /dev/sign-in` sets,
verified by the production code path); `signed_jwt` signs hand-made claims with any key,
for tests of forged, expired or foreign tokens. `sign_in` puts a token in a test client's
`__session` cookie; `bearer` makes the JSON API's header.
"""

from __future__ import annotations

import jwt


def token_for(
    app,
    user_id: str,
    *,
    admin: bool = False,
    email: str | None = None,
    name: str | None = None,
    lifetime: int | None = None,
) -> str:
    """A real dev session token for `user_id` (email defaults to `<user_id>@example.test`)."""
    from webapp.auth.tokens import issue_dev_token

    extra = {} if lifetime is None else {"lifetime": lifetime}
    return issue_dev_token(app, user_id, email=email or f"{user_id}@example.test", name=name, admin=admin, **extra)


def signed_jwt(claims: dict, key, *, algorithm: str = "RS256") -> str:
    """`claims` signed with `key` as they are, whatever they say (nothing is added)."""
    return jwt.encode(claims, key, algorithm=algorithm)


def set_session_cookie(client, token: str) -> None:
    """Puts `token` in `client`'s `__session` cookie (for a token minted once, used by many clients)."""
    client.set_cookie("__session", token, domain="localhost")


def sign_in(
    app, client, user_id: str = "learner_1", *, admin: bool = False, email: str | None = None, name: str | None = None
) -> str:
    """Signs `client` in as `user_id` with a real dev token; returns the token."""
    token = token_for(app, user_id, admin=admin, email=email, name=name)
    set_session_cookie(client, token)
    return token


def bearer(app, user_id: str = "learner_1", *, admin: bool = False) -> dict[str, str]:
    """The JSON API's `Authorization` header for `user_id`."""
    return {"Authorization": f"Bearer {token_for(app, user_id, admin=admin)}"}


class Auth:
    """`sign_in` and `bearer` bound to one app and client (the `auth` fixture)."""

    def __init__(self, app, client):
        self.app = app
        self.client = client

    def sign_in(self, user_id: str = "learner_1", *, admin: bool = False, email: str | None = None) -> str:
        return sign_in(self.app, self.client, user_id, admin=admin, email=email)

    def bearer(self, user_id: str = "learner_1", *, admin: bool = False) -> dict[str, str]:
        return bearer(self.app, user_id, admin=admin)


def front_end_token(app, user_id: str, origin: str, *, lifetime: int = 600) -> str:
    """A dev session token as Clerk issues it to a front end: `azp` is that front end's origin."""
    import time
    import uuid

    from webapp.auth.tokens import DEV_ISSUER, DEV_KEY_ID, _dev_key

    now = int(time.time())
    claims = {
        "sub": user_id,
        "sid": f"sess_fe_{uuid.uuid4().hex[:20]}",
        "iss": DEV_ISSUER,
        "azp": origin,
        "iat": now,
        "nbf": now - 5,
        "exp": now + lifetime,
        "metadata": {"role": "learner"},
        "email": f"{user_id}@example.test",
    }
    return jwt.encode(claims, _dev_key(app), algorithm="RS256", headers={"kid": DEV_KEY_ID})
