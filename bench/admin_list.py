"""Admin enrollment list at a thousand vs a million enrollments (run by hand, not in pytest).

    python bench/admin_list.py --small 1000 --large 1000000 \
        --database-url postgresql://postgres@127.0.0.1:5432/postgres

Creates two scratch databases next to the one named (dropped afterwards unless --keep),
runs the migrations, seeds `--small` enrollments in one and `--large` in the other with one
INSERT … SELECT generate_series each (SQLAlchemy core), vacuums and checkpoints them, then
times the admin list page (first page, a deep keyset page, filters, search, CSV first chunk)
through the real app and an admin session on both, in alternating rounds. Reports the
large/small ratios of the medians, measured in this one run; a ratio near 1 means the page
does not slow down with the table's size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COURSES = 20
ADMIN = "bench_admin"


def scratch_url(base_url: str, name: str) -> str:
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def create_database(base_url: str, name: str) -> str:
    from webapp.config import sqlalchemy_url

    base_url = sqlalchemy_url(base_url)
    engine = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return scratch_url(base_url, name)


def drop_database(base_url: str, name: str) -> None:
    from webapp.config import sqlalchemy_url

    engine = sa.create_engine(sqlalchemy_url(base_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def build_app(url: str, tmp: Path):
    from webapp import create_app

    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "DATABASE_IS_DEFAULT": False,
            "SECRET_KEY": "bench-secret-key",
            "INSTANCE_PATH": str(ROOT / "instance" / "bench"),
            "STRIPE_SANDBOX_DATABASE_URL": f"sqlite:///{tmp / 'stripe-sandbox.db'}",
            "STRIPE_SANDBOX_WEBHOOKS": False,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "APP_URL": "http://localhost",
            "APP_ORIGIN": "http://localhost",
            "CLERK_AUTHORIZED_PARTIES": ["http://localhost"],
            "SERVER_NAME": "localhost",
        }
    )


def seed(conn: sa.Connection, start: int, stop: int) -> None:
    """Enrollments numbered [start, stop): users and courses first, each one INSERT … SELECT."""
    from webapp.models import Course, Enrollment, User

    if start == 0:
        conn.execute(
            sa.insert(Course.__table__).from_select(
                [
                    "id",
                    "slug",
                    "title",
                    "short_description",
                    "description",
                    "price",
                    "currency",
                    "published",
                    "total_lectures",
                    "created_at",
                    "updated_at",
                ],
                sa.select(
                    sa.literal("bench_c") + sa.cast(sa.column("n"), sa.String),
                    sa.literal("bench-course-") + sa.cast(sa.column("n"), sa.String),
                    sa.literal("Bench course ") + sa.cast(sa.column("n"), sa.String),
                    sa.literal(""),
                    sa.literal(""),
                    sa.literal(4999),
                    sa.literal("usd"),
                    sa.true(),
                    sa.literal(10),
                    sa.func.now(),
                    sa.func.now(),
                ).select_from(sa.func.generate_series(0, COURSES - 1).table_valued("n").render_derived()),
            )
        )
    n = sa.column("n", sa.Integer)
    first_user, last_user = start // COURSES, (stop - 1) // COURSES
    if start % COURSES:
        first_user += 1  # that user exists from the previous round
    conn.execute(
        sa.insert(User.__table__).from_select(
            ["id", "email", "name", "created_at", "updated_at"],
            sa.select(
                sa.literal("bench_u") + sa.cast(n, sa.String),
                sa.literal("learner") + sa.cast(n, sa.String) + sa.literal("@bench.test"),
                sa.null(),
                sa.func.now(),
                sa.func.now(),
            ).select_from(sa.func.generate_series(first_user, last_user).table_valued("n").render_derived()),
        )
    )
    status = sa.case((n % 50 == 0, "REFUNDED"), (n % 23 == 0, "CANCELLED"), else_="ACTIVE")
    payment = sa.case((n % 50 == 0, "REFUNDED"), (n % 17 == 0, "PARTIALLY_REFUNDED"), else_="PAID")
    # Spread over ~3 years, so date filters have something to cut.
    enrolled = sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, (n * 97) % (3 * 365 * 86400))
    conn.execute(
        sa.insert(Enrollment.__table__).from_select(
            [
                "id",
                "user_id",
                "course_id",
                "status",
                "payment_status",
                "source",
                "amount_paid",
                "discount_applied",
                "currency",
                "progress",
                "completed_lectures",
                "enrolled_at",
                "created_at",
                "updated_at",
            ],
            sa.select(
                sa.func.md5(sa.literal("e") + sa.cast(n, sa.String)),
                sa.literal("bench_u") + sa.cast(n // COURSES, sa.String),
                sa.literal("bench_c") + sa.cast(n % COURSES, sa.String),
                status,
                payment,
                sa.literal("PURCHASE"),
                sa.literal(4999),
                sa.literal(0),
                sa.literal("usd"),
                sa.literal(0),
                sa.literal(0),
                enrolled,
                enrolled,
                enrolled,
            ).select_from(sa.func.generate_series(start, stop - 1).table_valued("n").render_derived()),
        )
    )


def requests_to_time(client) -> dict[str, str]:
    """The pages an admin opens, by name; the deep page follows the cursor 20 pages in."""
    paths = {
        "first page": "/admin/enrollments",
        "status=REFUNDED": "/admin/enrollments?status=REFUNDED",
        "course filter": "/admin/enrollments?course=bench_c7",
        "payment+dates": "/admin/enrollments?payment_status=PARTIALLY_REFUNDED&date_from=2025-01-01&date_to=2025-06-30",
        "search by email": "/admin/enrollments?q=learner42%40bench.test",
        "oldest first": "/admin/enrollments?sort=oldest",
    }
    path = "/admin/enrollments"
    for _ in range(20):
        html = client.get(path).get_data(as_text=True)
        marker = 'rel="next" href="'
        if marker not in html:
            break
        path = html.split(marker, 1)[1].split('"', 1)[0].replace("&amp;", "&")
    paths["20 pages deep"] = path
    return paths


def sample(client, paths: dict[str, str]) -> dict[str, float]:
    """One timing of every request (seconds), the CSV's first batch included."""
    timings = {}
    for name, path in paths.items():
        started = time.perf_counter()
        response = client.get(path)
        timings[name] = time.perf_counter() - started
        assert response.status_code == 200, (name, response.status_code)
    started = time.perf_counter()
    response = client.get("/admin/enrollments.csv?status=ACTIVE", buffered=False)
    next(iter(response.response))
    next(iter(response.response))
    timings["CSV first batch"] = time.perf_counter() - started
    response.close()
    return timings


def prepare(base_url: str, name: str, size: int, tmp: Path, token_for) -> tuple:
    """A scratch database with `size` enrollments, as a table live for a while has it, and an
    app and admin client on it."""
    from flask_migrate import upgrade

    url = create_database(base_url, name)
    app = build_app(url, tmp)
    with app.app_context():
        upgrade()
        from webapp.extensions import db

        engine = db.engine
    started = time.perf_counter()
    with app.app_context(), engine.begin() as conn:
        seed(conn, 0, size)
    # Statistics, a visibility map and the pages written out: without them, autovacuum and
    # the checkpoint of the fresh million rows run during the timing.
    with app.app_context(), engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(sa.text("VACUUM (ANALYZE) users, enrollments"))
        try:
            conn.execute(sa.text("CHECKPOINT"))
        except sa.exc.DBAPIError:
            print("(CHECKPOINT needs a superuser or pg_checkpoint; timing without it)")
    print(f"seeded {size:,} enrollments in {time.perf_counter() - started:.1f}s", flush=True)
    client = app.test_client()
    client.set_cookie("__session", token_for(app, ADMIN, admin=True), domain="localhost")
    with app.app_context():
        paths = requests_to_time(client)
        sample(client, paths)  # warm caches
    return app, client, paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server URL (a scratch database is made)")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument(
        "--json", action="store_true", help="also print the timings as one JSON line (for bench/run.py)"
    )
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be a PostgreSQL URL")
    if not 0 < args.small < args.large:
        parser.error("--small must be positive and below --large")

    from tests.support.auth import token_for

    stem = f"bench_admin_list_{int(time.time())}_{os.getpid()}"
    sizes = {"small": args.small, "large": args.large}
    apps = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for label, size in sizes.items():
                apps[label] = prepare(args.database_url, f"{stem}_{label}", size, Path(tmp) / label, token_for)
            # Alternating rounds, as bench/run.py alternates baseline and app: a disturbance
            # on the machine lands on both sizes instead of making one of them look slow.
            samples: dict[str, dict[str, list[float]]] = {label: {} for label in sizes}
            for _ in range(args.repeats):
                for label, (app, client, paths) in apps.items():
                    with app.app_context():
                        for request_name, seconds in sample(client, paths).items():
                            samples[label].setdefault(request_name, []).append(seconds)
            results = {
                label: {name: statistics.median(values) for name, values in by_name.items()}
                for label, by_name in samples.items()
            }

            print(
                f"\nAdmin enrollment list, median of {args.repeats} alternating rounds: "
                f"{args.small:,} vs {args.large:,} enrollments"
            )
            print(f"{'request':<18} {'small ms':>9} {'large ms':>9} {'ratio':>7}")
            for request_name, small in results["small"].items():
                large = results["large"][request_name]
                print(f"{request_name:<18} {small * 1000:9.1f} {large * 1000:9.1f} {large / small:7.2f}")
            if args.json:
                print(
                    json.dumps(
                        {
                            request_name: {"small": small, "large": results["large"][request_name]}
                            for request_name, small in results["small"].items()
                        }
                    )
                )
            for app, _client, _paths in apps.values():
                with app.app_context():
                    from webapp.extensions import db

                    db.session.remove()
                    db.engine.dispose()
    finally:
        if not args.keep:
            for label in sizes:
                drop_database(args.database_url, f"{stem}_{label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
