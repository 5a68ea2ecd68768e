"""P1: the pages against the floor — the bare Flask + Jinja page after the same one read on a
raw psycopg connection — throughput and tail, best of the rounds, rounds alternating.

Each load is also metered: CPU seconds of the server's workers, of the bench database's
PostgreSQL backends and of wrk, per request (`environment.CpuMeter`); the least of the rounds
gives a second, informational ratio that other users of a shared machine do not move.

Pages: the signed-in checkout page (a valid `__session` cookie) and the two public pages an
anonymous visitor hits, the catalog and the course page (no cookie at all, as a first visit
or a crawler). Also printed, not budgeted: each against the bare page without the read.
"""

from __future__ import annotations

import collections

from environment import COURSE_SLUG, CpuMeter, CpuUse, Figure, Server
from loadgen import Load, blast, get_requests, has_wrk, wrk

BUDGET = 0.6  # × the floor
TAIL = 3.0  # p99 ≤ TAIL × p50


def _pages(app: Server, base: Server, token: str):
    """(label, server, path, headers, what) for every side P1 measures, in round order."""
    cookie = {"Cookie": f"__session={token}"}
    return (
        ("bare", base, "/page", {}, "bare Flask+Jinja page"),
        ("floor", base, "/page-with-query", {}, "bare page + the one read (raw psycopg)"),
        ("checkout", app, f"/checkout/{COURSE_SLUG}", cookie, "checkout page, signed in"),
        ("course", app, f"/courses/{COURSE_SLUG}", {}, "course page, anonymous"),
        ("catalog", app, "/", {}, "catalog, anonymous"),
    )


def per_request(use: CpuUse, requests: int) -> CpuUse:
    """µs of each kind of CPU per request served."""
    scale = 1e6 / max(requests, 1)
    return CpuUse(use.workers * scale, use.postgres * scale, use.loadgen * scale)


def _load(server: Server, path: str, headers: dict[str, str], token: str, args) -> Load:
    if has_wrk():
        return wrk(server.base + path, seconds=args.seconds, connections=args.connections, headers=headers)
    cookie = token if headers else ""
    return blast(
        server.port,
        get_requests(f"127.0.0.1:{server.port}", [path], cookie, 200_000),
        seconds=args.seconds,
        connections=args.connections,
    )


def p1(app: Server, base: Server, token: str, database_url: str, args, say) -> list[Figure]:
    best: dict[str, Load] = {}
    cpu: dict[str, float] = collections.defaultdict(lambda: float("nan"))  # least machine CPU per request seen, µs
    sides = _pages(app, base, token)
    for round_no in range(args.rounds):
        # alternate the order too, so neither side always runs on a machine the other warmed
        for label, server, path, headers, _ in sides if round_no % 2 == 0 else reversed(sides):
            with CpuMeter(server, database_url) as meter:
                load = _load(server, path, headers, token, args)
            per = per_request(meter.use, load.requests)
            say(
                f"  P1 round {round_no + 1} {label:<8} {load.rps:8.1f} req/s  p50 {load.p50_ms:6.2f} ms  "
                f"p99 {load.p99_ms:6.2f} ms  errors {load.errors}  CPU/request µs: workers {per.workers:.0f}, "
                f"postgres {per.postgres:.0f}, load generator {per.loadgen:.0f}"
            )
            if label not in best or load.rps > best[label].rps:
                best[label] = load
            if per.total == per.total:  # not NaN
                cpu[label] = min(cpu[label], per.total) if cpu[label] == cpu[label] else per.total
    bare, floor = best["bare"], best["floor"]
    figures = [
        Figure(
            "P1",
            "(floor) bare page + the one read / bare page",
            floor.rps / bare.rps,
            "—",
            floor.errors == 0 and bare.errors == 0,
            f"{floor.rps:.0f} vs {bare.rps:.0f} req/s",
            informational=True,
        ),
        Figure(
            "P1",
            "(machine noise) floor p99 / p50",
            floor.p99_ms / floor.p50_ms,
            "—",
            True,
            f"p50 {floor.p50_ms:.1f} ms, p99 {floor.p99_ms:.1f} ms; bare page {bare.p99_ms / bare.p50_ms:.2f}",
            informational=True,
        ),
    ]
    for label, _, _, _, what in sides[2:]:
        page = best[label]
        ratio, tail = page.rps / floor.rps, page.p99_ms / page.p50_ms
        figures += [
            Figure(
                "P1",
                f"{what} / floor",
                ratio,
                f"≥ {BUDGET:.2f}",
                ratio >= BUDGET and page.errors == 0,
                f"{page.rps:.0f} vs {floor.rps:.0f} req/s; vs bare page {page.rps / bare.rps:.2f}"
                + (f", {page.errors} errors" if page.errors else ""),
            ),
            Figure(
                "P1",
                f"(CPU) {what} / floor",
                cpu["floor"] / cpu[label],
                "—",
                True,
                f"machine CPU per request {cpu[label]:.0f} vs {cpu['floor']:.0f} µs (workers + PostgreSQL + wrk)",
                informational=True,
            ),
            Figure(
                "P1",
                f"{what}: p99 / p50",
                tail,
                f"≤ {TAIL:.2f}",
                tail <= TAIL,
                f"p50 {page.p50_ms:.1f} ms, p99 {page.p99_ms:.1f} ms",
            ),
        ]
    return figures
