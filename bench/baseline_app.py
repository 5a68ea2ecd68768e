"""The baselines bench/run.py measures the app against, served by the same gunicorn settings.

    gunicorn -c gunicorn.conf.py --chdir bench baseline_app:app

- `GET /page`: a bare Flask + Jinja page — the template is compiled once at import and only
  rendered per request (about the size of the checkout page's content, no database, no auth).
- `GET /page-with-query`: the same page after the one read the checkout page makes (the
  published course by slug, and whether the learner has access or a payment settling),
  straight on a psycopg connection in autocommit mode: a floor for P1, what the budget
  leaves once the page's data is read (bench/run.py prints it, not budgeted).
- `POST /webhook`: the least a webhook endpoint can do — verify the `Stripe-Signature`
  header with the SDK's `stripe.WebhookSignature.verify_header`, parse the body and INSERT
  one row into `bench_baseline_events` in the same PostgreSQL database as the app's (the
  table is created by bench/run.py before the workers start). No lookup, no claim.

Configuration from the environment: `BENCH_DATABASE_URL`, `STRIPE_WEBHOOK_SECRET`.
"""

from __future__ import annotations

import json
import os

import sqlalchemy as sa
import stripe
from flask import Flask, Response, request

app = Flask(__name__)

PAGE = app.jinja_env.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} — Checkout</title>
<link rel="stylesheet" href="/static/app.css"></head>
<body><header><nav><a href="/">Courses</a> <span class="who">{{ user }}</span></nav></header>
<main><h1>Checkout: {{ title }}</h1>
<table class="summary">
{% for label, amount in lines %}<tr><td>{{ label }}</td><td>{{ amount }}</td></tr>
{% endfor %}</table>
<form method="post" action="/checkout/{{ slug }}"><input type="hidden" name="csrf_token" value="{{ csrf }}">
<label>Coupon <input name="coupon_code"></label><button>Pay {{ total }}</button></form>
</main></body></html>
"""
)

LINES = [("Price", "$49.99"), ("Discount", "−$0.00"), ("Total", "$49.99")]
SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
TABLE = "bench_baseline_events"
_engine = None


def engine() -> sa.Engine:
    global _engine
    if _engine is None:  # per worker, after the fork
        _engine = sa.create_engine(os.environ["BENCH_DATABASE_URL"], pool_size=2)
    return _engine


_reader = None
PAGE_QUERY = (
    "SELECT c.title, c.slug, c.price,"
    " EXISTS (SELECT 1 FROM enrollments e WHERE e.user_id = %(user)s AND e.course_id = c.id"
    "         AND e.status IN ('ACTIVE', 'COMPLETED')),"
    " EXISTS (SELECT 1 FROM payment_sessions p WHERE p.user_id = %(user)s AND p.course_id = c.id"
    "         AND p.status = 'PROCESSING')"
    " FROM courses c WHERE c.slug = %(slug)s AND c.published"
)


def reader():
    global _reader
    if _reader is None:  # one connection per worker, after the fork
        import psycopg

        _reader = psycopg.connect(os.environ["BENCH_DATABASE_URL"].replace("+psycopg", ""), autocommit=True)
    return _reader


INSERT = sa.text(f"INSERT INTO {TABLE} (id, type, payload) VALUES (:id, :type, :payload)")  # noqa: S608


@app.get("/page")
def page():
    return PAGE.render(
        title="Bench course", user="bench_learner", slug="bench-course", csrf="x" * 40, lines=LINES, total="$49.99"
    )


@app.get("/page-with-query")
def page_with_query():
    row = reader().execute(PAGE_QUERY, {"user": "bench_learner", "slug": "bench-course"}).fetchone()
    return PAGE.render(
        title=row[0], user="bench_learner", slug=row[1], csrf="x" * 40, lines=LINES, total=f"${row[2] / 100:.2f}"
    )


@app.post("/webhook")
def webhook():
    payload = request.get_data()
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode(), request.headers.get("Stripe-Signature", ""), SECRET, 300
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        return Response('{"error": "invalid_signature"}', 400, mimetype="application/json")
    event = json.loads(payload)
    with engine().begin() as conn:
        conn.execute(INSERT, {"id": event["id"], "type": event["type"], "payload": payload.decode()})
    return Response('{"received": true}', 200, mimetype="application/json")
