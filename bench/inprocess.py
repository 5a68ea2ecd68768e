"""In-process cost per request (Flask test client, real PostgreSQL), for profiling by hand.

    .venv/bin/python bench/inprocess.py [--n 1000] [--profile checkout|course|catalog|webhook [--cprofile]]

Not a budget figure (those are bench/run.py's, through gunicorn): this isolates the app's
own CPU and round trips per request, without the HTTP server and load generator, so a
change can be judged in seconds. Prints µs per request for the signed-in checkout page, the
anonymous course page and catalog (no cookies), the bare page, each against the floor
(`/page-with-query`), and the webhook (an ignored event) against verify + INSERT.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import environment  # noqa: E402
import loadgen  # noqa: E402


def per_request(call, n: int) -> tuple[float, float]:
    """Best of three runs of `n` calls: (wall µs, CPU µs) per call."""
    for _ in range(min(50, n)):
        call()
    best = (float("inf"), float("inf"))
    for _ in range(3):
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            call()
        best = min(best, ((time.perf_counter() - start) / n * 1e6, (time.process_time() - cpu) / n * 1e6))
    return best


def profile(target, args) -> int:
    """pyinstrument (or cProfile, by own time) over `args.n` calls of `target`."""
    from pyinstrument import Profiler

    per_request(target, 50)
    if args.cprofile:
        import cProfile
        import pstats

        with cProfile.Profile() as profiler:
            for _ in range(args.n):
                target()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
        return 0
    with Profiler(interval=0.0002) as profiler:
        for _ in range(args.n):
            target()
    print(profiler.output_text(unicode=True, color=False, show_all=bool(os.environ.get("SHOW_ALL"))))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--profile", choices=["checkout", "course", "catalog", "webhook"])
    parser.add_argument("--cprofile", action="store_true", help="with --profile: cProfile, by own time")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"bench_{secrets.token_hex(4)}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-inprocess-"))
    database_url = environment.create_database(args.database_url, name)
    try:
        env = environment.base_env(database_url, workdir, 1)
        token = environment.prepare_database(env, database_url)
        os.environ.clear()
        os.environ.update(env)
        sys.path.insert(0, str(environment.ROOT))
        import baseline_app

        from webapp import create_app

        app = create_app()
        client = app.test_client()
        client.set_cookie("__session", token)
        base = baseline_app.app.test_client()
        counter = iter(range(10**9))

        session_cookie = app.config["SESSION_COOKIE_NAME"]

        def checkout():
            client.delete_cookie(session_cookie)  # like wrk, which sends only `__session`
            response = client.get(f"/checkout/{environment.COURSE_SLUG}")
            assert response.status_code == 200, response.status_code

        anonymous = app.test_client(use_cookies=False)  # no cookies, like wrk against a public page

        def course():
            response = anonymous.get(f"/courses/{environment.COURSE_SLUG}")
            assert response.status_code == 200, response.status_code

        def catalog():
            response = anonymous.get("/")
            assert response.status_code == 200, response.status_code

        def base_floor():
            assert base.get("/page-with-query").status_code == 200

        def webhook():
            body, signature = loadgen.signed_event(next(counter), "ip_app")
            response = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": signature},
                                   content_type="application/json")  # fmt: skip
            assert response.status_code == 200, response.get_data(as_text=True)

        def base_page():
            assert base.get("/page").status_code == 200

        def base_webhook():
            body, signature = loadgen.signed_event(next(counter), "ip_base")
            response = base.post("/webhook", data=body, headers={"Stripe-Signature": signature})
            assert response.status_code == 200

        targets = {"checkout": checkout, "course": course, "catalog": catalog, "webhook": webhook}
        if args.profile:
            return profile(targets[args.profile], args)
        floor = per_request(base_floor, args.n)
        rows = [
            ("checkout page", per_request(checkout, args.n), "floor", floor),
            ("course (anon)", per_request(course, args.n), "floor", floor),
            ("catalog (anon)", per_request(catalog, args.n), "floor", floor),
            ("bare page", per_request(base_page, args.n), "floor", floor),
            ("webhook", per_request(webhook, args.n), "verify+insert", per_request(base_webhook, args.n)),
        ]
        print("(wall µs / CPU µs of this process per request; the database's own CPU is not counted)")
        for name, (wall, cpu), base_name, (base_wall, base_cpu) in rows:
            print(
                f"{name:14s} {wall:6.0f} / {cpu:6.0f}   {base_name:14s} {base_wall:6.0f} / {base_cpu:6.0f}"
                f"   ratio {base_wall / wall:.2f} / {base_cpu / cpu:.2f}"
            )
    finally:
        environment.drop_database(args.database_url, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
