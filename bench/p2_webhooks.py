"""P2: webhook ingest against the baseline's verify + INSERT endpoint, same generator; checks
afterwards that every accepted event was stored."""

from __future__ import annotations

from environment import BASELINE_TABLE, Figure, Server, count_rows
from loadgen import blast, signed_event_requests


def p2(app: Server, base: Server, database_url: str, args, say) -> list[Figure]:
    pool = args.webhook_pool
    best = {"app": 0.0, "baseline": 0.0}
    sent = {"app": 0, "baseline": 0}
    errors = 0
    for round_no in range(args.rounds):
        for label, server, path in (("baseline", base, "/webhook"), ("app", app, "/webhooks/stripe")):
            prepared = signed_event_requests(f"127.0.0.1:{server.port}", path, pool, f"{label}{round_no}")
            load = blast(server.port, prepared, seconds=args.seconds, connections=args.connections)
            say(
                f"  P2 round {round_no + 1} {label:<8} {load.rps:8.1f} events/s  p50 {load.p50_ms:6.2f} ms  "
                f"p99 {load.p99_ms:6.2f} ms  errors {load.errors}"
                + ("  (pool exhausted: raise --webhook-pool)" if load.requests + load.errors >= pool else "")
            )
            best[label] = max(best[label], load.rps)
            sent[label] += load.requests
            errors += load.errors
    stored = count_rows(database_url, "SELECT count(*) FROM stripe_events WHERE status = 'IGNORED'")
    baseline_rows = count_rows(database_url, f"SELECT count(*) FROM {BASELINE_TABLE}")  # noqa: S608
    consistent = stored == sent["app"] and baseline_rows == sent["baseline"]
    ratio = best["app"] / best["baseline"]
    return [
        Figure(
            "P2",
            "webhook ingest / verify+INSERT endpoint",
            ratio,
            "≥ 0.50",
            ratio >= 0.5 and consistent and errors == 0,
            f"{best['app']:.0f} vs {best['baseline']:.0f} events/s; inbox rows IGNORED {stored}/{sent['app']}, "
            f"baseline rows {baseline_rows}/{sent['baseline']}" + (f", {errors} errors" if errors else ""),
        )
    ]
