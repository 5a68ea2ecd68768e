"""Where a page's CPU goes, part by part, in process (run by hand).

    .venv/bin/python bench/breakdown.py [--n 3000]

Serves the pages through Flask's test client (real PostgreSQL) as bench/inprocess.py does,
with every part of the request wrapped in a CPU-time counter (`time.process_time`): each
`before_request`, `after_request` and teardown hook, the session cookie's open and save,
the view, inside it the database read and the template (and for the webhook its steps),
and the whole request. Each part is exclusive of the parts it calls, so they add up. What no
counter covers is Flask's and Werkzeug's own dispatch plus the test client. The same for
the baselines (bare page, floor). Prints µs of CPU per request and the share of the page.
The counters cost ≈ 1 µs each, so the parts add up to slightly more than a plain request.
"""

from __future__ import annotations

import argparse
import collections
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import environment  # noqa: E402
import loadgen  # noqa: E402

CPU = time.process_time


class Meter:
    """CPU time per labelled part, exclusive: a wrapped call inside another wrapped call
    counts for its own label only, so the parts add up to the request."""

    def __init__(self) -> None:
        self.spent: collections.Counter[str] = collections.Counter()
        self.stack: list[float] = []  # CPU time of wrapped callees, per open call

    def wrap(self, label: str, func):
        def timed(*args, **kwargs):
            started = CPU()
            self.stack.append(0.0)
            try:
                return func(*args, **kwargs)
            finally:
                elapsed = CPU() - started
                inner = self.stack.pop()
                self.spent[label] += elapsed - inner
                if self.stack:
                    self.stack[-1] += elapsed

        return timed


def _name(func) -> str:
    inner = getattr(func, "func", func)  # functools.partial
    return f"{getattr(inner, '__module__', '?').split('.')[-1]}.{getattr(inner, '__qualname__', repr(inner))}"


def instrument(app, meter: Meter, *, ours: bool) -> None:
    """Wraps the app's hooks, view functions, session interface and templates."""
    for table, kind in ((app.before_request_funcs, "before"), (app.after_request_funcs, "after"),
                        (app.teardown_request_funcs, "teardown")):  # fmt: skip
        for scope, funcs in table.items():
            table[scope] = [meter.wrap(f"{kind}: {_name(f)}", f) for f in funcs]
    app.teardown_appcontext_funcs[:] = [meter.wrap(f"teardown: {_name(f)}", f) for f in app.teardown_appcontext_funcs]
    for endpoint, view in list(app.view_functions.items()):
        app.view_functions[endpoint] = meter.wrap("view (own code)", view)
    interface = app.session_interface
    interface.open_session = meter.wrap("session: open", interface.open_session)
    interface.save_session = meter.wrap("session: save", interface.save_session)
    import flask.templating

    if not getattr(flask.templating, "_bench_wrapped", False):
        flask.templating._render = meter.wrap(
            "template render (Jinja, besides the parts listed)", flask.templating._render
        )
        flask.templating._bench_wrapped = True
    if ours:
        from webapp import speedups
        from webapp.services import webhooks
        from webapp.services.webhooks import events, handlers

        speedups._run = meter.wrap("database read (DirectSelect)", speedups._run)
        webhooks.verify_event = meter.wrap("webhook: verify the signature, parse", webhooks.verify_event)
        handlers._session_for_payment_intent = meter.wrap(
            "webhook: payment-intent lookup (besides its read)", handlers._session_for_payment_intent
        )
        events.record_outcome = meter.wrap("webhook: inbox row (upsert alone, autocommit)", events.record_outcome)
        webhooks._report = meter.wrap("webhook: its log line", webhooks._report)
        webhooks.handle_event = meter.wrap("webhook: dispatch to the handler", webhooks.handle_event)
        events.run_alone = meter.wrap("webhook: the upsert on SQLAlchemy's connection (run_alone)", events.run_alone)
        import sqlalchemy.orm

        from webapp.services import checkout
        from webapp.web import webhooks as webhook_view

        sqlalchemy.orm.Session.commit = meter.wrap(
            "session commit (nothing begun: no SQL)", sqlalchemy.orm.Session.commit
        )
        webhook_view.jsonify = meter.wrap("jsonify the answer", webhook_view.jsonify)
        checkout.quote = meter.wrap("checkout: the price quote", checkout.quote)
        app.update_template_context = meter.wrap("template context processors", app.update_template_context)
        globals_ = app.jinja_env.globals
        globals_["csrf_token"] = meter.wrap("template: csrf_token() (Flask-WTF, signed)", globals_["csrf_token"])
        globals_["url_for"] = meter.wrap("template: url_for (memoised)", globals_["url_for"])
        filters = app.jinja_env.filters
        filters["money"] = meter.wrap("template: money filter (memoised)", filters["money"])
        webhooks.observe_webhook = meter.wrap("webhook: metrics (off)", webhooks.observe_webhook)


def measure(meter: Meter, call, n: int) -> tuple[float, dict[str, float]]:
    for _ in range(min(100, n)):
        call()
    meter.spent.clear()
    started = CPU()
    for _ in range(n):
        call()
    total = (CPU() - started) / n * 1e6
    parts = {label: spent / n * 1e6 for label, spent in meter.spent.items()}
    parts["Flask, Werkzeug, test client (uncounted)"] = total - sum(parts.values())
    return total, parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"bench_{secrets.token_hex(4)}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-breakdown-"))
    database_url = environment.create_database(args.database_url, name)
    try:
        env = environment.base_env(database_url, workdir, 1)
        token = environment.prepare_database(env, database_url)
        os.environ.clear()
        os.environ.update(env)
        sys.path.insert(0, str(environment.ROOT))
        import logging

        import baseline_app

        from webapp import create_app

        app = create_app()
        for handler in logging.getLogger("webapp").handlers:  # a log line is written, to nowhere
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
        ours, theirs = Meter(), Meter()
        instrument(app, ours, ours=True)
        instrument(baseline_app.app, theirs, ours=False)
        signed_in = app.test_client(use_cookies=False)  # only `__session`, as wrk sends it
        anonymous = app.test_client(use_cookies=False)
        base = baseline_app.app.test_client()
        cookie = {"Cookie": f"__session={token}"}

        def get(client, path, headers=None):
            def call():
                response = client.get(path, headers=headers)
                assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[-300:])

            return call

        counter = iter(range(10**9))

        def post(client, path, tag):
            def call():
                body, signature = loadgen.signed_event(next(counter), tag)
                response = client.post(
                    path, data=body, headers={"Stripe-Signature": signature}, content_type="application/json"
                )
                assert response.status_code == 200, response.get_data(as_text=True)[-300:]

            return call

        pages = [
            ("bare page", theirs, get(base, "/page")),
            ("floor", theirs, get(base, "/page-with-query")),
            ("checkout, signed in", ours, get(signed_in, f"/checkout/{environment.COURSE_SLUG}", cookie)),
            ("course, anonymous", ours, get(anonymous, f"/courses/{environment.COURSE_SLUG}")),
            ("catalog, anonymous", ours, get(anonymous, "/")),
            ("verify+INSERT", theirs, post(base, "/webhook", "bd_base")),
            ("webhook ingest (not ours)", ours, post(anonymous, "/webhooks/stripe", "bd_app")),
        ]
        results = {label: measure(meter, call, args.n) for label, meter, call in pages}
        for label, (total, parts) in results.items():
            against = "verify+INSERT" if "webhook" in label else "floor"
            floor = results[against][0]
            print(f"\n{label}: {total:.0f} µs CPU per request ({floor / total:.2f} × {against}'s {floor:.0f} µs)")
            for part, spent in sorted(parts.items(), key=lambda item: -item[1]):
                print(f"  {spent:7.1f} µs  {100 * spent / total:5.1f} %  {part}")
    finally:
        environment.drop_database(args.database_url, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
