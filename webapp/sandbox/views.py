"""The sandbox blueprint: REST API over HTTP, the hosted payment page, the events page.

Mounted at `/_sandbox/stripe`. It stands for Stripe's own domain, so the app's CSRF
protection and rate limits do not apply to it (exempted by the app factory, which registers it); the
hosted page's form still carries a `csrf_token` so it looks like every other form.
"""

from __future__ import annotations

import socket
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for

from webapp.sandbox.cards import TEST_CARD_HELP
from webapp.sandbox.core import Sandbox
from webapp.sandbox.errors import StripeAPIError
from webapp.sandbox.money import format_amount
from webapp.sandbox.resources.checkout_payments import pay_with_bank_transfer, pay_with_card
from webapp.sandbox.resources.checkout_sessions import cancel_url_for, load_session, success_url_for

bp = Blueprint("stripe_sandbox", __name__, url_prefix="/_sandbox/stripe")


def sandbox() -> Sandbox:
    return current_app.extensions["stripe_sandbox"]


@bp.route("/v1/<path:subpath>", methods=["GET", "POST", "DELETE"])
def api(subpath: str) -> Response:
    result = sandbox().handle_api(
        request.method,
        "/v1/" + subpath,
        request.query_string.decode("latin-1"),
        dict(request.headers),
        request.get_data(cache=False),
    )
    if result.network_fault:
        return _drop_connection()
    return Response(result.body, status=result.status, headers=result.headers)


def _drop_connection() -> Response:
    """Makes an HTTP client see a connection error, as a network fault should.

    Under werkzeug's server and gunicorn the raw socket is in the WSGI environ: shutting it
    down means the client reads EOF with no response (requests raises ConnectionError, which
    the SDK retries as a network error). Other servers get a 503 with `Stripe-Should-Retry`,
    the closest an HTTP answer comes to it.
    """
    sock = request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return Response(b"", status=503, headers={"Connection": "close"})
    return Response(
        b'{"error": {"type": "api_error", "message": "Network fault (sandbox)."}}',
        status=503,
        headers={"Content-Type": "application/json", "Stripe-Should-Retry": "true"},
    )


@bp.post("/_control/faults")
def control_faults() -> Response:
    """Test-only control endpoint behind `inject_faults(url, ...)`: form or JSON {next, kind}."""
    data: dict[str, Any] = request.get_json(silent=True) or request.form.to_dict()
    try:
        count = int(data.get("next", 0))
        kind = str(data.get("kind", "500"))
        if count > 0:
            sandbox().inject_faults(count, kind)
        else:
            sandbox().clear_faults()
    except ValueError as exc:
        return Response(f'{{"error": "{exc}"}}', status=400, mimetype="application/json")
    return Response('{"ok": true}', mimetype="application/json")


# -- hosted page ---------------------------------------------------------------------------


def _session_view(session: dict[str, Any]) -> dict[str, Any]:
    items = []
    for item in session.get("_line_items") or []:
        product = item.get("_product") or {"name": item["description"]}
        recurring = (item.get("price") or {}).get("recurring")
        items.append(
            {
                "name": product["name"],
                "description": product.get("description"),
                "quantity": item["quantity"],
                "amount": format_amount(item["amount_total"], item["currency"]),
                "every": _every(recurring) if recurring else None,
            }
        )
    saved = session.get("saved_payment_method_options") or {}
    return {
        "id": session["id"],
        "mode": session["mode"],
        "status": session["status"],
        "items": items,
        "total": format_amount(session.get("amount_total"), session.get("currency")),
        "offer_save": bool(session.get("customer")) and saved.get("payment_method_save") == "enabled",
        "cancel_url": cancel_url_for(session),
        "success_url": success_url_for(session),
        "customer_email": session.get("customer_email"),
        "test_cards": TEST_CARD_HELP,
    }


def _every(recurring: dict[str, Any]) -> str:
    """'month', '3 months': how often a recurring line item is billed."""
    count = int(recurring.get("interval_count") or 1)
    return recurring["interval"] if count == 1 else f"{count} {recurring['interval']}s"


def _load_for_page(cs_id: str) -> dict[str, Any]:
    try:
        with sandbox().operation() as ctx:
            return load_session(ctx, cs_id)  # commits a lazy expiry, with its event
    except StripeAPIError as exc:
        abort(exc.status if exc.status in (400, 404) else 400)


def _refusal(session: dict[str, Any]) -> tuple[str, int]:
    status = 410 if session["status"] == "expired" else 409
    return render_template("sandbox/closed.html", session=_session_view(session)), status


@bp.get("/pay/<cs_id>")
def pay_page(cs_id: str) -> Any:
    session = _load_for_page(cs_id)
    if session["status"] != "open":
        return _refusal(session)
    return render_template("sandbox/pay.html", session=_session_view(session), error=None, form={})


@bp.post("/pay/<cs_id>")
def pay_submit(cs_id: str) -> Any:
    session = _load_for_page(cs_id)
    if session["status"] != "open":
        return _refusal(session)
    action = request.form.get("action", "pay")
    if action == "cancel":
        # Cancelling leaves the session open, as at Stripe: it expires on its own.
        target = cancel_url_for(session)
        if not target:
            return render_template("sandbox/closed.html", session=_session_view(session), cancelled=True)
        return redirect(target, code=303)
    if action != "pay":
        return _render_error(session, "Unknown action.", 400)
    method = request.form.get("method", "card")
    try:
        with sandbox().operation() as ctx:
            if method == "bank_transfer":
                outcome = pay_with_bank_transfer(ctx, cs_id)
            elif method == "card":
                exp_month, exp_year = _parse_expiry(request.form.get("card_expiry", ""))
                outcome = pay_with_card(
                    ctx,
                    cs_id,
                    request.form.get("card_number", ""),
                    save_card=request.form.get("save_card") in ("on", "1", "true"),
                    exp_month=exp_month,
                    exp_year=exp_year,
                )
            else:
                return _render_error(session, "Choose a payment method.", 400)
    except StripeAPIError as exc:
        if exc.status in (409, 410):
            return _refusal(_load_for_page(cs_id))
        return _render_error(session, exc.message, 400)
    if outcome.decline_message:
        return _render_error(outcome.session, outcome.decline_message, 200)
    return redirect(success_url_for(outcome.session), code=303)


def _parse_expiry(raw: str) -> tuple[int | None, int | None]:
    parts = [p for p in raw.replace(" ", "").split("/") if p]
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None, None
    month, year = int(parts[0]), int(parts[1])
    if year < 100:
        year += 2000
    return (month, year) if 1 <= month <= 12 else (None, None)


def _render_error(session: dict[str, Any], message: str, status: int) -> tuple[str, int]:
    form = {
        "card_number": request.form.get("card_number", ""),
        "card_expiry": request.form.get("card_expiry", ""),
        "method": request.form.get("method", "card"),
    }
    return render_template("sandbox/pay.html", session=_session_view(session), error=message, form=form), status


# -- events page ---------------------------------------------------------------------------


@bp.get("/events")
def events_page() -> str:
    rows = sandbox().recent_events(limit=100)
    return render_template(
        "sandbox/events.html",
        rows=rows,
        webhook_url=sandbox().settings.webhook_url,
        webhooks_enabled=sandbox().settings.webhooks_enabled,
        faults=sandbox().pending_faults(),
    )


@bp.post("/events/<event_id>/resend")
def resend_event(event_id: str) -> Any:
    if sandbox().get_event(event_id) is None:
        abort(404)
    sandbox().deliver_now(event_id)
    return redirect(url_for(".events_page") + f"#{event_id}", code=303)


@bp.app_template_filter("sandbox_time")
def sandbox_time(timestamp: float | int | None) -> str:
    if not timestamp:
        return ""
    import datetime as _dt

    return _dt.datetime.fromtimestamp(float(timestamp), tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
