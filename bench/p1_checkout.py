"""P1: the checkout page against the bare Flask + Jinja page (and the floor: the bare page
after the same one read), throughput and tail, best of the rounds."""

from __future__ import annotations

from environment import COURSE_SLUG, Figure, Server
from loadgen import Load, blast, get_requests, has_wrk, wrk


def p1(app: Server, base: Server, token: str, args, say) -> list[Figure]:
    best: dict[str, Load] = {}
    sides = (
        ("baseline", base, "/page", {}),
        ("floor", base, "/page-with-query", {}),
        ("app", app, f"/checkout/{COURSE_SLUG}", {"Cookie": f"__session={token}"}),
    )
    for round_no in range(args.rounds):
        for label, server, path, headers in sides:
            if has_wrk():
                load = wrk(server.base + path, seconds=args.seconds, connections=args.connections, headers=headers)
            else:
                load = blast(
                    server.port,
                    get_requests(f"127.0.0.1:{server.port}", [path], token, 200_000),
                    seconds=args.seconds,
                    connections=args.connections,
                )
            say(
                f"  P1 round {round_no + 1} {label:<8} {load.rps:8.1f} req/s  p50 {load.p50_ms:6.2f} ms  "
                f"p99 {load.p99_ms:6.2f} ms  errors {load.errors}"
            )
            if label not in best or load.rps > best[label].rps:
                best[label] = load
    best_app, best_base, floor = best["app"], best["baseline"], best["floor"]
    ratio = best_app.rps / best_base.rps
    tail = best_app.p99_ms / best_app.p50_ms
    errors = best_app.errors + best_base.errors
    return [
        Figure(
            "P1",
            "checkout page throughput / bare Flask+Jinja page",
            ratio,
            "≥ 0.50",
            ratio >= 0.5 and errors == 0,
            f"{best_app.rps:.0f} vs {best_base.rps:.0f} req/s" + (f", {errors} errors" if errors else ""),
        ),
        Figure(
            "P1",
            "checkout page p99 / p50",
            tail,
            "≤ 3.00",
            tail <= 3.0,
            f"p50 {best_app.p50_ms:.1f} ms, p99 {best_app.p99_ms:.1f} ms",
        ),
        Figure(
            "P1",
            "(floor) bare page + the page's one query / bare page",
            floor.rps / best_base.rps,
            "—",
            floor.errors == 0,
            f"{floor.rps:.0f} vs {best_base.rps:.0f} req/s: the ratio left for everything but the read",
            informational=True,
        ),
        Figure(
            "P1",
            "(floor) checkout page / bare page + the page's one query",
            best_app.rps / floor.rps,
            "—",
            floor.errors == 0,
            f"{best_app.rps:.0f} vs {floor.rps:.0f} req/s: our cost over the same read",
            informational=True,
        ),
    ]
