"""Configuration: the one place that reads the environment.

Every setting has an embedded development default (SPEC §4) so `make run` needs no
environment at all. `APP_ENV=production` refuses each dev fallback: `check_production`
names every setting that would fall back and the app factory stops with that message.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = ROOT / "instance"

# The sandbox's fixed signing secret: printed at start, never valid against real Stripe.
DEV_WEBHOOK_SECRET = "whsec_dev_sandbox_0000000000000000"  # noqa: S105


class ConfigError(RuntimeError):
    """Raised when the configuration cannot be used; the message is for an operator."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _env_list(name: str) -> list[str]:
    return [part.strip() for part in (_env(name) or "").split(",") if part.strip()]


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.lower() in {"1", "on", "true", "yes"}


def _env_seconds(name: str, default: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 <= value <= 3600:
        raise ConfigError(f"{name} must be between 0 and 3600 seconds")
    return value


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from exc


def sqlalchemy_url(url: str) -> str:
    """A database URL with PostgreSQL's driver made explicit: psycopg 3.

    `postgresql://` (and Heroku-style `postgres://`) would otherwise mean psycopg2.
    psycopg 3 prepares a statement on the server once it has run five times on a
    connection, which took the database's CPU per checkout page from about 0.9 ms to
    0.2 ms (bench/, README "Performance"). Other URLs pass through unchanged.
    """
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def clerk_issuer_from_publishable_key(key: str) -> str | None:
    """Clerk's publishable key encodes its Frontend API host, which is the tokens' `iss`."""
    try:
        encoded = key.split("_", 2)[2]
        host = base64.b64decode(encoded + "=" * (-len(encoded) % 4)).decode().rstrip("$")
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    return f"https://{host}" if host else None


def _secret_key(instance: Path, production: bool) -> tuple[str | None, bool]:
    """Returns (key, is_dev_default)."""
    key = _env("SECRET_KEY")
    if key:
        return key, False
    if production:
        return None, True
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip(), True


def load_config() -> dict:
    """Builds the Flask config mapping from the environment."""
    instance = Path(_env("INSTANCE_PATH", str(DEFAULT_INSTANCE)))
    app_env = (_env("APP_ENV", "development") or "development").lower()
    if app_env not in {"development", "production"}:
        raise ConfigError(f"APP_ENV must be 'development' or 'production', got {app_env!r}")
    production = app_env == "production"
    app_url = (_env("APP_URL", "http://127.0.0.1:5000") or "").rstrip("/")
    secret_key, secret_is_default = _secret_key(instance, production)
    webhook_secrets = _env_list("STRIPE_WEBHOOK_SECRET")
    clerk_publishable = _env("CLERK_PUBLISHABLE_KEY")
    clerk_secret = _env("CLERK_SECRET_KEY")
    clerk_jwt_key = _env("CLERK_JWT_KEY")
    clerk_configured = bool(clerk_secret or clerk_jwt_key)
    if clerk_jwt_key and "\\n" in clerk_jwt_key:
        clerk_jwt_key = clerk_jwt_key.replace("\\n", "\n")
    clerk_issuer = _env("CLERK_ISSUER") or (
        clerk_issuer_from_publishable_key(clerk_publishable) if clerk_publishable else None
    )
    ttl = _env_int("CHECKOUT_SESSION_TTL_MINUTES", 30)
    if not 30 <= ttl <= 24 * 60:
        raise ConfigError("CHECKOUT_SESSION_TTL_MINUTES must be between 30 and 1440 (Stripe's bounds)")
    grace_days = _env_int("INSTALLMENT_GRACE_DAYS", 7)
    if not 0 <= grace_days <= 60:
        raise ConfigError("INSTALLMENT_GRACE_DAYS must be between 0 and 60")

    return {
        "APP_ENV": app_env,
        "PRODUCTION": production,
        "INSTANCE_PATH": str(instance),
        "APP_URL": app_url,
        "APP_ORIGIN": origin_of(app_url),
        "SECRET_KEY": secret_key,
        "SECRET_KEY_IS_DEFAULT": secret_is_default,
        "SQLALCHEMY_DATABASE_URI": _env("DATABASE_URL") or f"sqlite:///{instance / 'checkout.db'}",
        "DATABASE_IS_DEFAULT": _env("DATABASE_URL") is None,
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        # A pooled connection idle this long is pinged before use (see extensions.init_database).
        "DATABASE_PING_IDLE_SECONDS": _env_seconds("DATABASE_PING_IDLE_SECONDS", 1.0),
        "STRIPE_SECRET_KEY": _env("STRIPE_SECRET_KEY"),
        "STRIPE_API_BASE": _env("STRIPE_API_BASE"),
        "STRIPE_WEBHOOK_SECRETS": webhook_secrets or [DEV_WEBHOOK_SECRET],
        "STRIPE_WEBHOOK_SECRET_IS_DEFAULT": not webhook_secrets,
        "STRIPE_WEBHOOK_TOLERANCE": 300,
        "STRIPE_MAX_NETWORK_RETRIES": _env_int("STRIPE_MAX_NETWORK_RETRIES", 2),
        "STRIPE_SANDBOX_WEBHOOKS": _env_bool("STRIPE_SANDBOX_WEBHOOKS", True),
        "STRIPE_SANDBOX_WEBHOOK_URL": _env("STRIPE_SANDBOX_WEBHOOK_URL") or f"{app_url}/webhooks/stripe",
        "STRIPE_SANDBOX_DATABASE_URL": _env("STRIPE_SANDBOX_DATABASE_URL")
        or f"sqlite:///{instance / 'stripe-sandbox.db'}",
        "CLERK_SECRET_KEY": clerk_secret,
        "CLERK_PUBLISHABLE_KEY": clerk_publishable,
        "CLERK_JWT_KEY": clerk_jwt_key,
        "CLERK_CONFIGURED": clerk_configured,
        # Empty = the default: APP_URL's origin and every FRONTEND_URL origin (authorized_parties()).
        "CLERK_AUTHORIZED_PARTIES": _env_list("CLERK_AUTHORIZED_PARTIES"),
        "CLERK_ISSUER": clerk_issuer,
        "CLERK_SIGN_IN_URL": _env("CLERK_SIGN_IN_URL"),
        "FRONTEND_URLS": [origin_of(u) for u in _env_list("FRONTEND_URL")],
        # The first FRONTEND_URL as written (a path kept): the base of the design's default return URLs.
        "FRONTEND_URL": next(iter(_env_list("FRONTEND_URL")), "").rstrip("/") or None,
        "MAIL_SERVER": _env("MAIL_SERVER"),
        "MAIL_PORT": _env_int("MAIL_PORT", 587),
        "MAIL_USERNAME": _env("MAIL_USERNAME"),
        "MAIL_PASSWORD": _env("MAIL_PASSWORD"),
        "MAIL_USE_TLS": _env_bool("MAIL_USE_TLS", True),
        "MAIL_FROM": _env("MAIL_FROM", "Course Checkout <no-reply@localhost>"),
        "SENTRY_DSN": _env("SENTRY_DSN"),
        "ADMIN_USER_IDS": set(_env_list("ADMIN_USER_IDS")),
        "REDIS_URL": _env("REDIS_URL"),
        "RATELIMIT_ENABLED": _env_bool("RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": _env("REDIS_URL") or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "METRICS_ENABLED": _env_bool("METRICS_ENABLED", False),
        "TRUSTED_PROXY_COUNT": _env_int("TRUSTED_PROXY_COUNT", 0),
        "CHECKOUT_SESSION_TTL_MINUTES": ttl,
        # Days an installment may stay unpaid (Stripe retrying it) before the course is paused.
        "INSTALLMENT_GRACE_DAYS": grace_days,
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "WTF_CSRF_ENABLED": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_SSL_STRICT": False,
        "SESSION_COOKIE_SECURE": production,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "checkout_session",
        "PREFERRED_URL_SCHEME": "https" if production else "http",
    }


def authorized_parties(config) -> list[str]:
    """The `azp` values a session token may carry: CLERK_AUTHORIZED_PARTIES when set, else
    APP_URL's origin and every FRONTEND_URL origin (tokens Clerk issues to the front end)."""
    explicit = config.get("CLERK_AUTHORIZED_PARTIES")
    if explicit:
        return list(explicit)
    return list(dict.fromkeys([config["APP_ORIGIN"], *config.get("FRONTEND_URLS", [])]))


def check_production(config: dict) -> list[str]:
    """Every dev fallback that production refuses, as operator-readable lines."""
    if not config.get("PRODUCTION"):
        return []
    problems = []
    if config.get("SECRET_KEY_IS_DEFAULT") or not config.get("SECRET_KEY"):
        problems.append("SECRET_KEY is not set (the dev default is a file under instance/)")
    if config.get("DATABASE_IS_DEFAULT") or str(config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        problems.append("DATABASE_URL is not set to a PostgreSQL URL (the dev default is SQLite under instance/)")
    if not config.get("STRIPE_SECRET_KEY"):
        problems.append("STRIPE_SECRET_KEY is not set (the dev default is the built-in Stripe sandbox)")
    elif not str(config["STRIPE_SECRET_KEY"]).startswith(("sk_live_", "sk_test_", "rk_live_", "rk_test_")):
        problems.append("STRIPE_SECRET_KEY does not look like a Stripe secret key")
    if config.get("STRIPE_WEBHOOK_SECRET_IS_DEFAULT"):
        problems.append("STRIPE_WEBHOOK_SECRET is not set (the dev default is the sandbox's fixed secret)")
    if not config.get("CLERK_CONFIGURED"):
        problems.append("CLERK_SECRET_KEY or CLERK_JWT_KEY is not set (the dev default is dev sign-in)")
    if not config.get("CLERK_PUBLISHABLE_KEY"):
        problems.append("CLERK_PUBLISHABLE_KEY is not set (the sign-in page needs it)")
    if not config.get("CLERK_ISSUER"):
        problems.append("CLERK_ISSUER could not be derived: set CLERK_ISSUER or a valid CLERK_PUBLISHABLE_KEY")
    if not str(config.get("APP_URL", "")).startswith("https://"):
        problems.append("APP_URL must be an https:// URL in production")
    return problems
