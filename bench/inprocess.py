"""In-process cost per request (Flask test client, real PostgreSQL), for profiling by hand.

    .venv/bin/python bench/inprocess.py [--n 1000] [--profile checkout|webhook]

Not a budget figure (those are bench/run.py's, through gunicorn): this isolates the app's
own CPU and round trips per request, without the HTTP server and load generator, so a
change can be judged in seconds. Prints µs per request for the checkout page, the webhook
(an ignored event) and the two baselines of bench/baseline_app.py.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # noqa: E402


def signed(n: int, tag: str) -> tuple[bytes, str]:
    now = int(time.time())
    body = json.dumps(
        {
            "id": f"evt_ip_{tag}_{n}",
            "object": "event",
            "created": now,
            "livemode": False,
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": f"pi_ip_{tag}_{n}", "object": "payment_intent", "metadata": {}}},
        },
        separators=(",", ":"),
    ).encode()
    signature = hmac.new(bench.WEBHOOK_SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={now},v1={signature}"


def per_request(call, n: int) -> float:
    for _ in range(min(50, n)):
        call()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            call()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--profile", choices=["checkout", "webhook"])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"bench_{bench.secrets.token_hex(4)}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-inprocess-"))
    database_url = bench.create_database(args.database_url, name)
    try:
        env = bench.base_env(database_url, workdir, 1)
        bench.flask(env, "db", "upgrade")
        bench.flask(env, "courses", "create", "--slug", bench.COURSE_SLUG, "--title", "Bench course",
                    "--price", "4999", "--currency", "usd")  # fmt: skip
        token = bench.flask(env, "dev", "token", bench.LEARNER).strip().splitlines()[-1]
        os.environ.clear()
        os.environ.update(env)
        sys.path.insert(0, str(bench.ROOT))
        import baseline_app
        import sqlalchemy as sa
        from webapp import create_app

        with baseline_app.engine().begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {bench.BASELINE_TABLE} (id text primary key, type text, payload jsonb)"))
        app = create_app()
        client = app.test_client()
        client.set_cookie("__session", token)
        base = baseline_app.app.test_client()
        counter = iter(range(10**9))

        def checkout():
            response = client.get(f"/checkout/{bench.COURSE_SLUG}")
            assert response.status_code == 200, response.status_code

        def webhook():
            body, signature = signed(next(counter), "app")
            response = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": signature},
                                   content_type="application/json")  # fmt: skip
            assert response.status_code == 200, response.get_data(as_text=True)

        def base_page():
            assert base.get("/page").status_code == 200

        def base_webhook():
            body, signature = signed(next(counter), "base")
            response = base.post("/webhook", data=body, headers={"Stripe-Signature": signature})
            assert response.status_code == 200

        if args.profile:
            from pyinstrument import Profiler

            target = checkout if args.profile == "checkout" else webhook
            per_request(target, 50)
            with Profiler(interval=0.0002) as profiler:
                for _ in range(args.n):
                    target()
            print(profiler.output_text(unicode=True, color=False, show_all=bool(os.environ.get("SHOW_ALL"))))
            return 0
        page_app, page_base = per_request(checkout, args.n), per_request(base_page, args.n)
        hook_app, hook_base = per_request(webhook, args.n), per_request(base_webhook, args.n)
        print(f"checkout page {page_app:7.0f} µs   bare page      {page_base:6.0f} µs   ratio {page_base / page_app:.2f}")
        print(f"webhook       {hook_app:7.0f} µs   verify+insert  {hook_base:6.0f} µs   ratio {hook_base / hook_app:.2f}")
    finally:
        bench.drop_database(args.database_url, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
