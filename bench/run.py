"""The performance budget (issues 10 and 21), measured as ratios in one run on this machine.

    .venv/bin/python bench/run.py [--quick] [--only P1,P2] [--workers N] [--connections 16] [--database-url URL]

Creates its own PostgreSQL database (`bench_<random>`, dropped at the end), migrates it,
seeds one course and one learner, and serves the app and bench/baseline_app.py with the
production gunicorn configuration (`-c gunicorn.conf.py`, the same WEB_CONCURRENCY for
both) on loopback ports. `APP_ENV=development` so the in-process Stripe sandbox and dev
sign-in tokens work (production refuses both); nothing else differs from production.

- P1 pages: `wrk` with `--connections` (default 16) against the signed-in checkout page (a
  valid `__session` cookie) and the anonymous catalog and course page (no cookie), each
  against the floor — the baseline's bare Flask + Jinja page after the same one read on a
  raw psycopg connection; throughput ratio ≥ 0.6, and each page's p99 ≤ 3 × p50. Also
  printed: the floor against the bare page, and machine CPU per request (workers +
  PostgreSQL + wrk, from /proc) as a second ratio that other users of the machine do not move.
- P2 webhook ingest: a Python generator on `--connections` sockets posting pre-signed,
  unique `payment_intent.succeeded` events (metadata naming no session of ours: verified,
  looked up, recorded as ignored) vs the baseline's verify + INSERT endpoint, same
  generator; ratio ≥ 0.6.
- P3 admin enrollment list at 1,000,000 vs 1,000 enrollments (`--quick`: 100,000), via
  bench/admin_list.py; ratio ≤ 1.5.  (The ≤ 6 statements per learner page half of P3 is
  asserted in tests/integration/test_statement_counts.py.)
- P4 worker memory: RSS of every worker (/proc/<pid>/status) after warm-up and after a
  sustained mixed load (pages + webhooks); growth ≤ 10 %. Workers are not recycled during
  this phase (GUNICORN_MAX_REQUESTS=0), so recycling cannot hide a leak.

Each side of a ratio is measured in this same run, alternating the sides (and their order
from one round to the next), best of `--rounds`; every load is bounded in time and in requests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import secrets
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from environment import (
    COURSE_SLUG,
    ROOT,
    Figure,
    Server,
    base_env,
    create_database,
    drop_database,
    prepare_database,
    start_gunicorn,
)
from loadgen import has_wrk, wrk
from p1_checkout import p1
from p2_webhooks import p2
from p3_admin import p3
from p4_memory import p4


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="5 s loads, one round, P3 at 100k")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--workers",
        type=int,
        default=multiprocessing.cpu_count() * 2 + 1,
        help="WEB_CONCURRENCY for both servers (default: gunicorn.conf.py's own default)",
    )
    parser.add_argument(
        "--connections", type=int, default=16, help="concurrent connections of the load generators (default 16)"
    )
    parser.add_argument("--only", default="P1,P2,P3,P4", help="comma list of figures to measure")
    parser.add_argument("--keep", action="store_true", help="keep the database and logs")
    args = parser.parse_args()
    args.seconds = 5 if args.quick else 12
    args.rounds = 1 if args.quick else 2
    args.warmup = 5 if args.quick else 10
    args.sustain = 10 if args.quick else 45
    args.webhook_pool = 15_000 if args.quick else 30_000
    args.only = {part.strip().upper() for part in args.only.split(",")}
    return args


@dataclass
class Run:
    """One bench run: its arguments, what it printed, and what it must clean up."""

    args: argparse.Namespace
    lines: list[str] = field(default_factory=list)
    name: str = field(default_factory=lambda: f"bench_{secrets.token_hex(4)}")
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-")))
    servers: list[Server] = field(default_factory=list)
    database_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    token: str = ""

    def say(self, line: str) -> None:
        self.lines.append(line)
        print(line, flush=True)


def announce(run: Run) -> None:
    args, load = run.args, os.getloadavg()
    run.say(
        f"bench/run.py {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"WEB_CONCURRENCY={args.workers}, {args.connections} connections, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        f"{', quick' if args.quick else ''}; load generator: {'wrk' if has_wrk() else 'Python'} (pages), "
        "Python (webhooks)"
    )
    if not has_wrk():
        run.say("  wrk not found (apt-get install -y wrk): pages measured with the Python generator instead")


def prepare(run: Run) -> None:
    """The bench database, migrated and seeded, and the bench learner's session token."""
    run.database_url = create_database(run.args.database_url, run.name)
    run.env = base_env(run.database_url, run.workdir, run.args.workers)
    run.token = prepare_database(run.env, run.database_url)


def warm(server: Server, path: str, headers: dict[str, str], *, expect: str | None, connections: int) -> None:
    """Each worker's first requests (templates, SQL compilation, key loading) before timing."""
    request = urllib.request.Request(server.base + path, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        body = response.read().decode()
        if response.status != 200 or (expect is not None and expect not in body):
            raise SystemExit(f"{server.name} {path} answered {response.status}")
    if has_wrk():
        wrk(server.base + path, seconds=2, connections=connections, headers=headers)


def measure_against_baseline(run: Run) -> list[Figure]:
    """P1 and P2: the app and the baseline served side by side."""
    args = run.args
    base = start_gunicorn(
        "baseline", ["--pythonpath", str(ROOT / "bench"), "baseline_app:app"], run.env, run.workdir, "/page"
    )
    run.servers.append(base)
    app = start_gunicorn("app", ["wsgi:app"], run.env, run.workdir, "/healthz")
    run.servers.append(app)
    warm(base, "/page", {}, expect=None, connections=args.connections)
    cookie = {"Cookie": f"__session={run.token}"}
    warm(app, f"/checkout/{COURSE_SLUG}", cookie, expect="Bench course", connections=args.connections)
    warm(app, f"/courses/{COURSE_SLUG}", {}, expect="Bench course", connections=args.connections)
    warm(app, "/", {}, expect="Bench course", connections=args.connections)
    figures: list[Figure] = []
    if "P1" in args.only:
        figures += p1(app, base, run.token, run.database_url, args, run.say)
    if "P2" in args.only:
        figures += p2(app, base, run.database_url, args, run.say)
    stop_servers(run)
    return figures


def stop_servers(run: Run) -> None:
    for server in run.servers:
        server.stop()
    run.servers.clear()


def measure(run: Run) -> list[Figure]:
    only = run.args.only
    figures: list[Figure] = []
    if only & {"P1", "P2", "P4"}:
        prepare(run)
    if only & {"P1", "P2"}:
        figures += measure_against_baseline(run)
    if "P4" in only:
        figures += p4(run.env, run.workdir, run.token, run.args, run.say)
    if "P3" in only:
        figures += p3(run.args.database_url, run.args, run.say)
    return figures


def clean_up(run: Run) -> None:
    stop_servers(run)
    if run.database_url and not run.args.keep:
        drop_database(run.args.database_url, run.name)
    if run.args.keep:
        run.say(f"kept database {run.name} and logs in {run.workdir}")
    else:
        shutil.rmtree(run.workdir, ignore_errors=True)


def report(figures: list[Figure], say: Callable[[str], None], started: float) -> None:
    load = os.getloadavg()
    say("")
    say(f"{'':<3} {'figure':<62} {'ratio':>6}  {'budget':<7} result")
    for figure in figures:
        result = ("ok" if figure.passed else "over") if figure.informational else ("PASS" if figure.passed else "FAIL")
        say(f"{figure.name:<3} {figure.what:<62} {figure.value:6.2f}  {figure.budget:<7} {result}  ({figure.detail})")
    say(f"finished in {time.monotonic() - started:.0f} s; load average now {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def main() -> int:
    started = time.monotonic()
    run = Run(parse_args())
    announce(run)
    try:
        figures = measure(run)
    finally:
        clean_up(run)
    report(figures, run.say, started)
    return 0 if figures and all(f.passed for f in figures if not f.informational) else 1


if __name__ == "__main__":
    raise SystemExit(main())
