"""The bench's environment: constants, its own PostgreSQL database, gunicorn servers, the
app's set-up (migrations, the bench course, a learner's token) and the `Figure` each
measurement reports."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp.config import sqlalchemy_url  # noqa: E402  (the app's own URL rule: psycopg 3)

BIN = Path(sys.executable).parent
WEBHOOK_SECRET = "whsec_bench_" + "0" * 24  # noqa: S105 - a throwaway secret for loopback only
COURSE_SLUG = "bench-course"
LEARNER = "bench_learner"
BASELINE_TABLE = "bench_baseline_events"


# -- database ------------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def create_database(server_url: str, name: str) -> str:
    server_url = sqlalchemy_url(server_url)
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return _with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    engine = sa.create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def count_rows(url: str, query: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(sa.text(query)).scalar_one()
    engine.dispose()
    return int(value)


# -- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """The gunicorn master's child processes (its workers)."""
        found = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            if re.search(rf"^PPid:\s+{self.process.pid}$", text, re.M):
                found.append(int(status.parent.name))
        return sorted(found)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_gunicorn(name: str, app_spec: list[str], env: dict[str, str], workdir: Path, ready_path: str) -> Server:
    port = free_port()
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    log = workdir / f"{name}.log"
    process = subprocess.Popen(  # noqa: S603 - our own gunicorn, our own arguments
        [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), *app_spec],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server(name, port, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} server exited at start; see {log}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(server.base + ready_path, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise SystemExit(f"{name} server did not become ready; see {log}")


# -- set-up --------------------------------------------------------------------------------


def flask(env: dict[str, str], *arguments: str) -> str:
    done = subprocess.run(  # noqa: S603
        [str(BIN / "flask"), "--app", "wsgi", *arguments], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(arguments)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare_database(env: dict[str, str], database_url: str) -> str:
    """Migrates the bench database, adds the bench course and the baseline's table; returns
    a session token for the bench learner (shared by run.py, profile_app.py, inprocess.py)."""
    flask(env, "db", "upgrade")
    flask(env, "courses", "create", "--slug", COURSE_SLUG, "--title", "Bench course",
          "--price", "4999", "--currency", "usd", "--lectures", "12")  # fmt: skip
    token = flask(env, "dev", "token", LEARNER, "--email", f"{LEARNER}@bench.test").strip().splitlines()[-1]
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {BASELINE_TABLE} (id varchar(255) PRIMARY KEY, type varchar(100) NOT NULL, "
                "payload json NOT NULL, received_at timestamptz NOT NULL DEFAULT now())"
            )
        )
    engine.dispose()
    return token


def base_env(database_url: str, workdir: Path, workers: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STRIPE_", "CLERK_", "MAIL_", "SENTRY_", "GUNICORN_"))
        and key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ADMIN_USER_IDS", "FRONTEND_URL", "INSTANCE_PATH"}
    }
    env.update(
        {
            "APP_ENV": "development",
            "DATABASE_URL": database_url,
            "BENCH_DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "INSTANCE_PATH": str(workdir / "instance"),
            "APP_URL": "http://127.0.0.1",
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_SANDBOX_WEBHOOKS": "off",
            "STRIPE_SANDBOX_DATABASE_URL": f"sqlite:///{workdir / 'stripe-sandbox.db'}",
            "WEB_CONCURRENCY": str(workers),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


# -- CPU per request, by process ----------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def backends(database_url: str) -> list[int]:
    """PostgreSQL backend pids connected to the bench database (not other users' work)."""
    name = urlsplit(database_url).path.lstrip("/")
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        found = list(
            conn.execute(
                sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"),
                {"name": name},
            ).scalars()
        )
    engine.dispose()
    return found


@dataclass
class CpuUse:
    """CPU seconds spent during one load by the server's workers, the bench database's
    PostgreSQL backends and the load generator (wrk as a waited-for child, or this process)."""

    workers: float
    postgres: float
    loadgen: float

    @property
    def total(self) -> float:
        return self.workers + self.postgres + self.loadgen


def reaped_cpu_seconds(pid: int) -> float:
    """CPU time of the children a process has waited for (a gunicorn master: its exited workers)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / TICK  # cutime + cstime


class CpuMeter:
    """Reads /proc around one load; other users of the machine are not counted. Workers
    gunicorn recycles meanwhile (`max_requests`) are counted too: an exited worker's CPU
    is added to its master's reaped-children time, and a new worker counts from zero."""

    def __init__(self, server: Server, database_url: str) -> None:
        self.server, self.database_url = server, database_url

    def _workers(self) -> dict[int, float]:
        return {pid: cpu_seconds(pid) for pid in self.server.workers()}

    def __enter__(self) -> CpuMeter:
        self.before = (
            self._workers(),
            reaped_cpu_seconds(self.server.process.pid),
            {p: cpu_seconds(p) for p in backends(self.database_url)},
            os.times(),
        )
        return self

    def __exit__(self, *exc) -> None:
        workers, reaped, pg_before, times = self.before
        after = os.times()
        now = self._workers()
        self.use = CpuUse(
            # workers alive now (new ones from zero) + those that exited, as their master reaped them
            workers=sum(spent - workers.get(pid, 0.0) for pid, spent in now.items())
            + (reaped_cpu_seconds(self.server.process.pid) - reaped)
            - sum(workers[pid] for pid in workers if pid not in now),
            # a backend that closed meanwhile took its CPU figure with it: counted up to now only
            postgres=sum(cpu_seconds(p) - pg_before.get(p, 0.0) for p in backends(self.database_url)),
            loadgen=(after.children_user + after.children_system + after.user + after.system)
            - (times.children_user + times.children_system + times.user + times.system),
        )


# -- results ------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    what: str
    value: float
    budget: str
    passed: bool
    detail: str
    informational: bool = False  # shown, but not part of the budget
