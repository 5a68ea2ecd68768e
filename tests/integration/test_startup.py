"""Start-up from the real CLI: production refuses dev defaults; dev runs with none set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _flask(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "CLERK_", "APP_", "DATABASE_"))}
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _production_env(tmp_path) -> dict[str, str]:
    """Every production setting given; tests remove one to see start-up refuse."""
    return {
        "APP_ENV": "production",
        "INSTANCE_PATH": str(tmp_path),
        "APP_URL": "https://courses.example.com",
        "SECRET_KEY": "x" * 40,
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/postgres",
        "STRIPE_SECRET_KEY": "sk_live_123",
        "STRIPE_WEBHOOK_SECRET": "whsec_live",
        "CLERK_SECRET_KEY": "sk_live_clerk",
        "CLERK_PUBLISHABLE_KEY": "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k",
    }


class TestProductionRefusesDevDefaults:
    def test_every_fallback_is_named_and_exit_is_non_zero(self, tmp_path):
        result = _flask("routes", env={"APP_ENV": "production", "INSTANCE_PATH": str(tmp_path)})
        assert result.returncode != 0
        for name in ("SECRET_KEY", "DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "CLERK_SECRET_KEY"):
            assert name in result.stderr
        assert "Traceback" not in result.stderr

    def test_one_missing_setting_is_enough_to_refuse(self, tmp_path):
        env = _production_env(tmp_path)
        del env["CLERK_SECRET_KEY"]
        result = _flask("routes", env=env)
        assert result.returncode != 0
        assert "CLERK_SECRET_KEY" in result.stderr
        assert "STRIPE_SECRET_KEY" not in result.stderr

    @pytest.mark.parametrize(
        "missing", ["SECRET_KEY", "DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "CLERK_SECRET_KEY"]
    )
    def test_each_dev_fallback_is_refused_on_its_own(self, tmp_path, missing):
        env = _production_env(tmp_path)
        del env[missing]
        result = _flask("seed", env=env)
        assert result.returncode != 0
        assert missing in result.stderr and "Traceback" not in result.stderr

    def test_sqlite_database_is_refused_in_production(self, tmp_path):
        env = _production_env(tmp_path)
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
        result = _flask("routes", env=env)
        assert result.returncode != 0 and "DATABASE_URL" in result.stderr

    def test_fully_configured_production_starts(self, tmp_path):
        env = _production_env(tmp_path)
        result = _flask("routes", env=env)
        assert result.returncode == 0, result.stderr
        assert "/dev/sign-in" in result.stdout  # the route exists but answers 404 with Clerk on


class TestDevelopmentDefaults:
    def test_migrate_and_seed_with_no_environment(self, tmp_path):
        env = {"INSTANCE_PATH": str(tmp_path)}
        assert _flask("db", "upgrade", env=env).returncode == 0
        seeded = _flask("seed", env=env)
        assert seeded.returncode == 0, seeded.stderr
        assert (tmp_path / "checkout.db").exists()
        assert (tmp_path / "secret_key").exists()
