"""P4: each worker's RSS after a warm-up and after sustained mixed load, recycling off."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from environment import COURSE_SLUG, Figure, start_gunicorn
from loadgen import Load, blast, get_requests, has_wrk, signed_event_requests, wrk


def rss_kb(pid: int) -> int:
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1))


def p4(env: dict[str, str], workdir: Path, token: str, args, say) -> list[Figure]:
    server = start_gunicorn("app-memory", ["wsgi:app"], {**env, "GUNICORN_MAX_REQUESTS": "0"}, workdir, "/healthz")
    try:
        paths = [f"/checkout/{COURSE_SLUG}", "/", f"/courses/{COURSE_SLUG}", "/account/enrollments"]
        script = workdir / "pages.lua"
        script.write_text(
            "local paths = {" + ", ".join(f'"{p}"' for p in paths) + "}\nlocal i = 0\n"
            "request = function()\n  i = i + 1\n  return wrk.format(nil, paths[(i % #paths) + 1])\nend\n"
        )

        def mixed(seconds: int, tag: str) -> tuple[Load, Load]:
            hooks: list[Load] = []
            prepared = signed_event_requests(f"127.0.0.1:{server.port}", "/webhooks/stripe", args.webhook_pool, tag)
            thread = threading.Thread(
                target=lambda: hooks.append(blast(server.port, prepared, seconds=seconds, connections=2))
            )
            thread.start()
            if has_wrk():
                pages = wrk(
                    server.base,
                    seconds=seconds,
                    connections=args.connections,
                    headers={"Cookie": f"__session={token}"},
                    script=script,
                )
            else:
                pages = blast(
                    server.port,
                    get_requests(f"127.0.0.1:{server.port}", paths, token, 500_000),
                    seconds=seconds,
                    connections=args.connections,
                )
            thread.join()
            return pages, hooks[0]

        mixed(args.warmup, "warm")
        before = {pid: rss_kb(pid) for pid in server.workers()}
        pages, hooks = mixed(args.sustain, "sustain")
        after = {pid: rss_kb(pid) for pid in server.workers()}
    finally:
        server.stop()
    say(
        f"  P4 sustained {args.sustain}s: {pages.requests} pages + {hooks.requests} webhooks, "
        f"errors {pages.errors + hooks.errors}"
    )
    for pid in before:
        say(f"  P4 worker {pid}: {before[pid] / 1024:.1f} MB -> {after.get(pid, 0) / 1024:.1f} MB")
    same_workers = set(before) == set(after)
    growth = max(after[pid] / before[pid] for pid in before) if same_workers else float("inf")
    return [
        Figure(
            "P4",
            "worker RSS after / before sustained load (worst worker)",
            growth,
            "≤ 1.10",
            same_workers and growth <= 1.10,
            f"{len(before)} workers, total {sum(before.values()) / 1024:.0f} -> {sum(after.values()) / 1024:.0f} MB, "
            f"{pages.requests + hooks.requests} requests" + ("" if same_workers else "; a worker was replaced"),
        )
    ]
