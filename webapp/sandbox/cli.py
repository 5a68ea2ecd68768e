"""`flask stripe-sandbox ...`: serve, settle, advance, resend, fail, events.

The group always exists, so `flask stripe-sandbox --help` works everywhere; each command
refuses with a clear message when `STRIPE_SECRET_KEY` is set (the app talks to real Stripe).
The commands act on the sandbox database (`STRIPE_SANDBOX_DATABASE_URL`), which is how they
reach a server running in another process.
"""

from __future__ import annotations

import json
import os

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.sandbox.core import Sandbox
from webapp.sandbox.store import FAULT_KINDS

stripe_sandbox_cli = AppGroup("stripe-sandbox", help="The offline Stripe sandbox (dev and tests only).")


def _sandbox() -> Sandbox:
    if current_app.config.get("STRIPE_SECRET_KEY"):
        raise click.ClickException(
            "The Stripe sandbox is disabled: STRIPE_SECRET_KEY is set, so this app talks to real Stripe."
        )
    sandbox = current_app.extensions.get("stripe_sandbox")
    if sandbox is None:
        raise click.ClickException("The Stripe sandbox is not initialised in this app.")
    return sandbox


@stripe_sandbox_cli.command("serve")
@click.option("--port", type=int, default=12111, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--public-url", default=None, help="URL the sandbox is reached at [http://HOST:PORT].")
def serve(port: int, host: str, public_url: str | None) -> None:
    """Runs the sandbox standalone (point the app's STRIPE_API_BASE at it)."""
    _sandbox()
    from webapp.sandbox.standalone import create_standalone_app

    public = (public_url or f"http://{host}:{port}").rstrip("/")
    app = create_standalone_app(
        dict(current_app.config),
        public_url=public,
        template_folder=os.path.join(current_app.root_path, current_app.template_folder or "templates"),
        static_folder=current_app.static_folder,
    )
    click.echo(f"Stripe sandbox at {public}  (STRIPE_API_BASE={public}; also under {public}/_sandbox/stripe)")
    click.echo(f"Webhooks -> {app.extensions['stripe_sandbox'].settings.webhook_url}")
    # Not app.run(): Flask ignores it inside a `flask` command.
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True, use_reloader=False)


@stripe_sandbox_cli.command("settle")
@click.argument("session_id")
@click.option("--fail", is_flag=True, help="Fail the transfer (async_payment_failed).")
def settle(session_id: str, fail: bool) -> None:
    """Settles a bank-transfer checkout session (async_payment_succeeded / _failed)."""
    from webapp.sandbox.errors import StripeAPIError
    from webapp.sandbox.resources.checkout_payments import settle_session

    sandbox = _sandbox()
    try:
        with sandbox.operation() as ctx:
            session = settle_session(ctx, session_id, fail=fail)
    except StripeAPIError as exc:
        raise click.ClickException(exc.message) from None
    sandbox.wait_for_deliveries(timeout=30)
    click.echo(f"{session_id}: payment_status={session['payment_status']} ({'failed' if fail else 'settled'})")


@stripe_sandbox_cli.command("advance")
@click.option("--days", type=click.IntRange(min=1), required=True, help="How many days to move time forward.")
def advance(days: int) -> None:
    """Moves every test clock, and the sandbox's own "now" of subscriptions without a clock,
    forward, running what falls due (renewal invoices, payment retries, schedule ends) in
    order, and delivers the events. Checkout Sessions keep real time."""
    from webapp.sandbox.clocks import DAY
    from webapp.sandbox.resources.test_clocks import advance_everything

    sandbox = _sandbox()
    with sandbox.operation() as ctx:
        done = advance_everything(ctx, days * DAY)
        events = len(ctx.emitted)
    sandbox.wait_for_deliveries(timeout=60)
    click.echo(
        f"advanced {days} day(s): {done['clocks']} test clock(s) and the sandbox's own time; "
        f"{done['due']} due item(s) without a clock run, {events} event(s)"
    )


@stripe_sandbox_cli.command("resend")
@click.argument("event_id")
def resend(event_id: str) -> None:
    """Re-delivers an event now and prints the result."""
    sandbox = _sandbox()
    if sandbox.get_event(event_id) is None:
        raise click.ClickException(f"No such event: {event_id}")
    result = sandbox.deliver_now(event_id)
    outcome = result.status_code if result.status_code is not None else "no response"
    click.echo(
        f"{event_id} -> {result.url}: {outcome}{' ' + result.error if result.error else ''} ({result.duration_ms} ms)"
    )
    if result.status_code is None or result.status_code >= 300:
        raise SystemExit(1)


@stripe_sandbox_cli.command("fail")
@click.option("--next", "count", type=int, default=None, help="How many API calls fail.")
@click.option("--kind", type=click.Choice(FAULT_KINDS), default="500", show_default=True)
@click.option("--clear", is_flag=True, help="Cancel pending faults.")
def fail(count: int | None, kind: str, clear: bool) -> None:
    """Makes the next N API calls fail with 500, 429 or a network error."""
    sandbox = _sandbox()
    if clear:
        sandbox.clear_faults()
    elif count is not None:
        if count < 0:
            raise click.BadParameter("must be >= 0", param_hint="--next")
        sandbox.inject_faults(count, kind)
    pending = sandbox.pending_faults()
    click.echo(f"next {pending[1]} API call(s) fail with {pending[0]}" if pending else "no faults pending")


@stripe_sandbox_cli.command("events")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print whole events as JSON lines.")
def events(limit: int, as_json: bool) -> None:
    """Lists recent events with their delivery results."""
    for evt, deliveries in _sandbox().recent_events(limit=limit):
        if as_json:
            click.echo(json.dumps(evt))
            continue
        last = deliveries[-1] if deliveries else None
        status = "undelivered" if last is None else (last.status_code or last.error)
        click.echo(f"{evt['id']}  {evt['type']:<45} {evt['data']['object'].get('id', '')}  {status}")
