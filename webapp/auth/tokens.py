"""Clerk session tokens: verification (production and dev alike) and dev issuance.

Verification always goes through `clerk_backend_api`'s `authenticate_request`, which checks
the RS256 signature, `exp`/`nbf` (with Clerk's 5 s skew) and `azp` when present. It demands
no claim and ignores `iss`, so `verify_session_token` also requires `sub`, `sid`, `exp`,
`azp` and the expected issuer.

Dev sign-in (Clerk not configured) signs the same shape of token with an RSA key kept under
instance/, and hands its public half to the very same verification as `jwt_key`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from clerk_backend_api.security import authenticate_request
from clerk_backend_api.security.types import AuthenticateRequestOptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from webapp.config import authorized_parties

DEV_ISSUER = "https://dev-sign-in.clerk.invalid"
DEV_TOKEN_LIFETIME = 8 * 3600
DEV_KEY_ID = "dev-sign-in"


@dataclass(frozen=True)
class Claims:
    user_id: str
    session_id: str
    email: str | None
    name: str | None
    role: str | None
    expires_at: int
    raw: dict[str, Any]


@dataclass(frozen=True)
class Verification:
    claims: Claims | None
    reason: str | None  # why it failed: "missing", "token-expired", "wrong-issuer", ...


class _HeadersOnly:
    """The `Requestish` that authenticate_request reads: only the header we choose to show it."""

    def __init__(self, headers: dict[str, str]):
        self.headers = headers


def _dev_key(app: Flask) -> rsa.RSAPrivateKey:
    cached = app.extensions.get("dev_jwt_private_key")
    if cached is not None:
        return cached
    path = Path(app.config["INSTANCE_PATH"]) / "dev-jwt-key.pem"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(pem)
        tmp.chmod(0o600)
        try:
            # link, not rename: when two processes race, the first key wins and both use it.
            _link_once(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    app.extensions["dev_jwt_private_key"] = key
    return key


def _link_once(tmp: Path, path: Path) -> None:
    try:
        path.hardlink_to(tmp)
    except FileExistsError:
        pass


def verification_key(app: Flask) -> str | None:
    """The PEM public key tokens are verified with (None → Clerk's JWKS via the secret key)."""
    if app.config["CLERK_CONFIGURED"]:
        return app.config.get("CLERK_JWT_KEY")
    cached = app.extensions.get("dev_jwt_public_pem")
    if cached is None:
        cached = (
            _dev_key(app)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        app.extensions["dev_jwt_public_pem"] = cached
    return cached


def expected_issuer(app: Flask) -> str | None:
    return app.config["CLERK_ISSUER"] if app.config["CLERK_CONFIGURED"] else DEV_ISSUER


VERIFIED_CACHE_MAX = 4096


class _VerifiedTokens:
    """Tokens this process has fully verified, with their claims, until they expire.

    A session token is immutable and signed: once its signature, issuer and parties have
    been checked, checking the same bytes again can only differ by the clock. So a token
    seen before is answered from here while `exp` is in the future (the library's 5 s
    leeway past `exp` still goes through full verification). It saves about a millisecond
    of RSA and JSON work per request. Per app (the key and issuer are the app's), bounded,
    and failures are never cached.
    """

    def __init__(self) -> None:
        self._entries: OrderedDict[str, Claims] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> Claims | None:
        with self._lock:
            claims = self._entries.get(token)
            if claims is None:
                return None
            if claims.expires_at <= time.time():
                del self._entries[token]
                return None
            self._entries.move_to_end(token)
            return claims

    def put(self, token: str, claims: Claims) -> None:
        with self._lock:
            self._entries[token] = claims
            self._entries.move_to_end(token)
            while len(self._entries) > VERIFIED_CACHE_MAX:
                self._entries.popitem(last=False)


def _verified_tokens(app: Flask) -> _VerifiedTokens:
    cache = app.extensions.get("verified_session_tokens")
    if cache is None:
        cache = app.extensions.setdefault("verified_session_tokens", _VerifiedTokens())
    return cache


def verify_session_token(app: Flask, *, cookie: str | None = None, bearer: str | None = None) -> Verification:
    """Verifies a session token from the `__session` cookie or a Bearer header (one of them)."""
    token = bearer if bearer is not None else cookie
    if token is None:
        return Verification(None, "missing")
    cache = _verified_tokens(app)
    known = cache.get(token)
    if known is not None:
        return Verification(known, None)
    verification = _verify(app, cookie=cookie, bearer=bearer)
    if verification.claims is not None:
        cache.put(token, verification.claims)
    return verification


def _verify(app: Flask, *, cookie: str | None, bearer: str | None) -> Verification:
    if bearer is not None:
        shown = {"Authorization": f"Bearer {bearer}"}
    elif cookie is not None:
        shown = {"cookie": f"__session={cookie}"}
    else:
        return Verification(None, "missing")
    options = AuthenticateRequestOptions(
        jwt_key=verification_key(app),
        secret_key=app.config.get("CLERK_SECRET_KEY") if app.config["CLERK_CONFIGURED"] else None,
        authorized_parties=authorized_parties(app.config),
        accepts_token=["session_token"],
    )
    state = authenticate_request(_HeadersOnly(shown), options)
    if not state.is_signed_in:
        reason = state.reason.value[0] if state.reason is not None else "invalid"
        return Verification(None, reason)
    payload: dict[str, Any] = state.payload or {}
    for claim in ("sub", "sid", "exp", "azp"):
        if not payload.get(claim):
            return Verification(None, f"missing-{claim}")
    if not isinstance(payload["sub"], str) or len(payload["sub"]) > 255:
        return Verification(None, "invalid-sub")
    if payload.get("iss") != expected_issuer(app):
        return Verification(None, "wrong-issuer")
    if payload["azp"] not in authorized_parties(app.config):
        return Verification(None, "token-invalid-authorized-parties")
    metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
    role = metadata.get("role") if isinstance(metadata.get("role"), str) else None
    email = payload.get("email") if isinstance(payload.get("email"), str) else None
    name = payload.get("name") if isinstance(payload.get("name"), str) else None
    return Verification(
        Claims(
            user_id=payload["sub"],
            session_id=str(payload["sid"]),
            email=email,
            name=name,
            role=role,
            expires_at=int(payload["exp"]),
            raw=payload,
        ),
        None,
    )


def issue_dev_token(
    app: Flask,
    user_id: str,
    *,
    email: str | None = None,
    name: str | None = None,
    admin: bool = False,
    lifetime: int = DEV_TOKEN_LIFETIME,
) -> str:
    """Signs a token shaped like a Clerk session token with the dev key (dev sign-in only)."""
    if app.config["CLERK_CONFIGURED"]:
        raise RuntimeError("dev tokens are disabled when Clerk is configured")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "sid": f"sess_dev_{uuid.uuid4().hex[:20]}",
        "iss": DEV_ISSUER,
        "azp": app.config["APP_ORIGIN"],
        "iat": now,
        "nbf": now - 5,
        "exp": now + lifetime,
        "v": 2,
        "metadata": {"role": "admin" if admin else "learner"},
    }
    if email:
        claims["email"] = email
    if name:
        claims["name"] = name
    return jwt.encode(claims, _dev_key(app), algorithm="RS256", headers={"kid": DEV_KEY_ID})
