"""Profiles the app's gunicorn workers with py-spy under the bench load (run by hand).

    .venv/bin/python bench/profile_app.py checkout|course|catalog|webhook [--seconds 10] [--top 30] [--gil]

Starts the app exactly as bench/run.py does (own database, production gunicorn config),
drives one load for `--seconds`, records every worker with `py-spy record --subprocesses`
(collapsed stacks, idle frames dropped) and prints the functions with the most inclusive
samples, the app's own code first. The raw stacks stay in the printed file for a flame graph.
"""

from __future__ import annotations

import argparse
import collections
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import environment  # noqa: E402
import loadgen  # noqa: E402


def summarise(collapsed: Path, top: int) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        seen = set()
        for frame in stack.split(";"):
            name = (
                frame.split(" (", 1)[0]
                + " ("
                + frame.split(" (", 1)[1]
                .split(":")[0]
                .replace(str(environment.ROOT) + "/", "")
                .split("site-packages/")[-1]
                + ")"
                if " (" in frame
                else frame
            )
            if name not in seen:
                seen.add(name)
                inclusive[name] += samples
    print(f"{total} samples (all workers); inclusive share of the busiest frames:")
    for name, samples in inclusive.most_common(top):
        print(f"  {100 * samples / total:5.1f}%  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("target", choices=["checkout", "course", "catalog", "webhook"])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL: CPU, not waits")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(environment.BIN / "py-spy")
    name = f"bench_{secrets.token_hex(4)}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    database_url = environment.create_database(args.database_url, name)
    server = None
    try:
        env = environment.base_env(database_url, workdir, args.workers)
        token = environment.prepare_database(env, database_url)
        server = environment.start_gunicorn(
            "app", ["wsgi:app"], {**env, "GUNICORN_MAX_REQUESTS": "0"}, workdir, "/healthz"
        )
        output = workdir / f"{args.target}.collapsed"
        spy = subprocess.Popen(  # noqa: S603
            [
                py_spy,
                "record",
                "--pid",
                str(server.process.pid),
                "--subprocesses",
                "--format",
                "raw",
                "--duration",
                str(args.seconds),
                "--rate",
                "200",
                "--output",
                str(output),
                "--nonblocking",
                *(["--gil"] if args.gil else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(1)
        pages = {
            "checkout": (f"/checkout/{environment.COURSE_SLUG}", {"Cookie": f"__session={token}"}),
            "course": (f"/courses/{environment.COURSE_SLUG}", {}),  # anonymous: no cookie
            "catalog": ("/", {}),
        }
        if args.target in pages:
            path, headers = pages[args.target]
            load = loadgen.wrk(server.base + path, seconds=args.seconds, connections=args.connections, headers=headers)
        else:
            prepared = loadgen.signed_event_requests(f"127.0.0.1:{server.port}", "/webhooks/stripe", 30_000, "prof")
            load = loadgen.blast(server.port, prepared, seconds=args.seconds, connections=args.connections)
        print(f"{args.target}: {load.rps:.0f} req/s under py-spy (sampling slows it down)")
        spy.wait(timeout=args.seconds + 60)
        summarise(output, args.top)
        kept = Path(tempfile.gettempdir()) / f"bench-{args.target}.collapsed"
        shutil.copy(output, kept)
        print(f"collapsed stacks: {kept}")
    finally:
        if server is not None:
            server.stop()
        environment.drop_database(args.database_url, name)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
