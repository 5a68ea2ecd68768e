"""Machine CPU per request, split by process, under the bench load (run by hand).

    .venv/bin/python bench/cpu_split.py [--seconds 8] [--connections 16] [--workers 5]

Serves the app and bench/baseline_app.py as bench/run.py does (own database, production
gunicorn config), drives each page (and the webhook) with the same load generator, and
reads `/proc/<pid>/stat` before and after: CPU time of the gunicorn workers serving it, of
the PostgreSQL backends of the bench database (found in `pg_stat_activity`), and of the load
generator; divided by the requests served. Other users of the machine are not counted, so
this is steadier than throughput on a shared machine. Prints one table.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

import environment  # noqa: E402
import loadgen  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def backends(database_url: str, name: str) -> list[int]:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        pids = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"),
            {"name": name},
        ).scalars()
        found = list(pids)
    engine.dispose()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"bench_{secrets.token_hex(4)}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    database_url = environment.create_database(args.database_url, name)
    servers = []
    try:
        env = environment.base_env(database_url, workdir, args.workers)
        env["GUNICORN_MAX_REQUESTS"] = "0"  # the same worker pids throughout
        token = environment.prepare_database(env, database_url)
        base = environment.start_gunicorn(
            "baseline",
            ["--pythonpath", str(environment.ROOT / "bench"), "baseline_app:app"],
            env,
            workdir,
            "/page",
        )
        servers.append(base)
        app = environment.start_gunicorn("app", ["wsgi:app"], env, workdir, "/healthz")
        servers.append(app)
        cookie = {"Cookie": f"__session={token}"}
        sides = [
            ("bare page", base, "/page", {}),
            ("floor", base, "/page-with-query", {}),
            ("checkout, signed in", app, f"/checkout/{environment.COURSE_SLUG}", cookie),
            ("course, anonymous", app, f"/courses/{environment.COURSE_SLUG}", {}),
            ("catalog, anonymous", app, "/", {}),
            ("verify+INSERT", base, "/webhook", None),
            ("webhook ingest", app, "/webhooks/stripe", None),
        ]
        for _, server, path, headers in sides:  # warm every worker and connection
            if headers is not None:
                loadgen.wrk(server.base + path, seconds=2, connections=args.connections, headers=headers)
        print(f"{'per request, µs of CPU':<22} {'req/s':>7} {'workers':>8} {'postgres':>9} {'loadgen':>8} {'total':>7}")
        for label, server, path, headers in sides:
            workers = server.workers()
            if headers is None:
                prepared = loadgen.signed_event_requests(
                    f"127.0.0.1:{server.port}", path, 40_000, f"{secrets.token_hex(3)}_{server.name}"
                )
            pg = backends(database_url, name)
            before_w = sum(cpu_seconds(p) for p in workers)
            before_pg = sum(cpu_seconds(p) for p in pg)
            before_self = time.process_time()
            if headers is not None:
                command = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s"]
                for key, value in headers.items():
                    command += ["-H", f"{key}: {value}"]
                started = time.perf_counter()
                wrk = subprocess.Popen([*command, server.base + path], stdout=subprocess.PIPE, text=True)  # noqa: S603
                usage_before = os.times()
                out, _ = wrk.communicate(timeout=args.seconds + 60)
                usage_after = os.times()
                elapsed = time.perf_counter() - started
                requests = int(out.split(" requests in ")[0].split()[-1])
                gen = (usage_after.children_user + usage_after.children_system) - (
                    usage_before.children_user + usage_before.children_system
                )
            else:
                load = loadgen.blast(server.port, prepared, seconds=args.seconds, connections=args.connections)
                requests, elapsed = load.requests, load.seconds
                gen = time.process_time() - before_self
            pg_after = backends(database_url, name)
            spent_w = sum(cpu_seconds(p) for p in workers) - before_w
            spent_pg = sum(cpu_seconds(p) for p in pg_after) - before_pg
            per = 1e6 / max(requests, 1)
            print(
                f"{label:<22} {requests / elapsed:7.0f} {spent_w * per:8.0f} {spent_pg * per:9.0f} {gen * per:8.0f}"
                f" {(spent_w + spent_pg + gen) * per:7.0f}"
            )
    finally:
        for server in servers:
            server.stop()
        environment.drop_database(args.database_url, name)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
