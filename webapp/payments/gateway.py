"""The payment gateway: the only module in the project that imports `stripe`.

Contract for callers (the services):
- Every method takes plain typed values and returns frozen dataclasses, strings or plain
  dicts — never SDK objects. Nothing here touches the app's database.
- Money is an integer in the currency's minor unit, currencies are lower-case ISO codes.
- Methods that create something take an `idempotency_key`; the SDK retries network
  errors, 409s and 5xx (up to `STRIPE_MAX_NETWORK_RETRIES`) with that same key, so a retry
  never creates a second object.
- Failures raise exactly one of:
  - `PaymentRejected` — Stripe said no to this request (card declined, invalid or
    conflicting parameters, unknown id as `ResourceMissing`, reused idempotency key as
    `IdempotencyConflict`). Retrying the same request will fail the same way.
  - `StripeUnavailable` — network error, 5xx or 429 after the SDK's retries. Retryable later.
  - `GatewayConfigError` — bad or missing key, insufficient permission. An operator's problem.
  Each carries `.user_message`, safe to show a learner or admin.
- `verify_webhook` raises `WebhookSignatureError`, or its subclass `WebhookPayloadError` for a
  body that is not a Stripe event (not GatewayErrors: nothing to show).

Which Stripe (from configuration, `init_app`):
- `STRIPE_SECRET_KEY` set → real Stripe (or `STRIPE_API_BASE` with that key, e.g. stripe-mock).
- `STRIPE_API_BASE` set, no key → a standalone sandbox over HTTP, key `sk_test_sandbox`.
- neither → the in-process sandbox: `SandboxHTTPClient` hands each request to the sandbox's
  dispatcher directly — no port, no nested Flask request, works under any server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import stripe
from flask import Flask, current_app

from webapp.payments.errors import GatewayConfigError as GatewayConfigError
from webapp.payments.errors import GatewayError as GatewayError
from webapp.payments.errors import IdempotencyConflict as IdempotencyConflict
from webapp.payments.errors import PaymentRejected as PaymentRejected
from webapp.payments.errors import ResourceMissing as ResourceMissing
from webapp.payments.errors import StripeUnavailable as StripeUnavailable
from webapp.payments.errors import WebhookPayloadError as WebhookPayloadError
from webapp.payments.errors import WebhookSignatureError as WebhookSignatureError
from webapp.payments.objects import Card as Card
from webapp.payments.objects import CheckoutSession as CheckoutSession
from webapp.payments.objects import Invoice as Invoice
from webapp.payments.objects import PaymentIntent as PaymentIntent
from webapp.payments.objects import RefundInfo as RefundInfo
from webapp.payments.objects import Subscription as Subscription
from webapp.payments.objects import dict_of, event_of, id_of
from webapp.payments.transport import RequestsHTTPClient, SandboxHTTPClient

if TYPE_CHECKING:
    from webapp.sandbox.core import Sandbox


SANDBOX_API_KEY = "sk_test_sandbox"  # noqa: S105 - the sandbox accepts any sk_test_ key


def _raise_mapped(exc: stripe.StripeError) -> NoReturn:
    """Turns an SDK exception into the gateway's error vocabulary (see module docstring)."""
    info = {
        "code": getattr(exc, "code", None),
        "param": getattr(exc, "param", None),
        "http_status": exc.http_status,
        "request_id": exc.request_id,
    }
    message = f"{type(exc).__name__}: {exc.user_message or exc}"
    if isinstance(exc, stripe.CardError):
        raise PaymentRejected(message, user_message=exc.user_message, **info) from exc
    if isinstance(exc, stripe.IdempotencyError):
        raise IdempotencyConflict(message, **{**info, "code": info["code"] or "idempotency_error"}) from exc
    if isinstance(exc, stripe.InvalidRequestError):
        if exc.code == "resource_missing":
            raise ResourceMissing(message, **info) from exc
        raise PaymentRejected(message, **info) from exc
    if isinstance(exc, (stripe.AuthenticationError, stripe.PermissionError)):
        raise GatewayConfigError(message, **info) from exc
    if isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)):
        raise StripeUnavailable(message, **info) from exc
    if exc.http_status is not None and exc.http_status < 500:
        raise PaymentRejected(message, **info) from exc
    raise StripeUnavailable(message, **info) from exc


def _plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class Gateway:
    """Stripe operations for the services. Thread-safe; one per app."""

    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        webhook_secrets: list[str],
        webhook_tolerance: int = 300,
        mode: str = "stripe",
    ) -> None:
        self._client = client
        self._webhook_secrets = list(webhook_secrets)
        self._tolerance = webhook_tolerance
        #: "stripe" (real or STRIPE_API_BASE with a real key), "sandbox" (in-process) or
        #: "sandbox-http" (standalone sandbox at STRIPE_API_BASE).
        self.mode = mode

    @property
    def stripe_client(self) -> stripe.StripeClient:
        """The configured SDK client — for tests that exercise the SDK directly."""
        return self._client

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return _plain(fn(*args, **kwargs))
        except stripe.StripeError as exc:
            _raise_mapped(exc)

    # -- customers -------------------------------------------------------------------------
    def create_customer(self, *, email: str | None, name: str | None, user_id: str, idempotency_key: str) -> str:
        """Creates a Stripe customer carrying `metadata.user_id`; returns its id."""
        params: dict[str, Any] = {"metadata": {"user_id": user_id}}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        customer = self._call(
            self._client.v1.customers.create, params=params, options={"idempotency_key": idempotency_key}
        )
        return customer["id"]

    def set_default_payment_method(self, customer_id: str, pm_id: str | None) -> None:
        """Sets (or with None clears) the customer's `invoice_settings.default_payment_method`."""
        self._call(
            self._client.v1.customers.update,
            customer_id,
            params={"invoice_settings": {"default_payment_method": pm_id or ""}},
        )

    def get_default_payment_method(self, customer_id: str) -> str | None:
        customer = self._call(self._client.v1.customers.retrieve, customer_id)
        return id_of(dict_of(customer.get("invoice_settings")).get("default_payment_method"))

    # -- checkout sessions -----------------------------------------------------------------
    def create_payment_checkout(
        self,
        *,
        customer_id: str | None,
        product_name: str,
        description: str | None,
        amount: int,
        currency: str,
        success_url: str,
        cancel_url: str,
        client_reference_id: str,
        metadata: dict[str, str],
        expires_at: int,
        idempotency_key: str,
        save_cards: bool = True,
        setup_future_usage: str | None = None,
    ) -> CheckoutSession:
        """A hosted Checkout session (mode=payment) for one line item of `amount`.

        `metadata` goes on the session and on its payment intent, so either object (or
        its events) leads back to our row. `save_cards` offers saving the card for a known
        customer; `setup_future_usage` ("on_session"/"off_session") saves it always.
        """
        product: dict[str, Any] = {"name": product_name}
        if description:
            product["description"] = description
        pi_data: dict[str, Any] = {"metadata": dict(metadata)}
        if setup_future_usage:
            pi_data["setup_future_usage"] = setup_future_usage
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {"currency": currency.lower(), "unit_amount": amount, "product_data": product},
                }
            ],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": client_reference_id,
            "metadata": dict(metadata),
            "payment_intent_data": pi_data,
            "expires_at": expires_at,
        }
        if customer_id:
            params["customer"] = customer_id
            if save_cards:
                params["saved_payment_method_options"] = {"payment_method_save": "enabled"}
        session = self._call(
            self._client.v1.checkout.sessions.create, params=params, options={"idempotency_key": idempotency_key}
        )
        return CheckoutSession.from_stripe(session)

    def create_installment_checkout(
        self,
        *,
        customer_id: str,
        product_name: str,
        currency: str,
        installment_amount: int,
        first_extra: int,
        count: int,
        success_url: str,
        cancel_url: str,
        client_reference_id: str,
        metadata: dict[str, str],
        expires_at: int,
        idempotency_key: str,
    ) -> CheckoutSession:
        """A Checkout session (mode=subscription) whose first invoice is the first installment.

        A monthly price of `installment_amount`, plus `first_extra` (the split's remainder)
        as a one-time item on the first invoice only. `metadata` goes on the session and on
        the subscription (so every invoice's `parent.subscription_details.metadata` leads
        back to our row). The subscription runs until `schedule_subscription_end` bounds it.
        """
        currency = currency.lower()
        line_items: list[dict[str, Any]] = [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency,
                    "unit_amount": installment_amount,
                    "recurring": {"interval": "month", "interval_count": 1},
                    "product_data": {"name": f"{product_name} ({count} monthly installments)"},
                },
            }
        ]
        if first_extra:
            line_items.append(
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency,
                        "unit_amount": first_extra,
                        "product_data": {"name": f"{product_name}: rounding, first installment only"},
                    },
                }
            )
        params: dict[str, Any] = {
            "mode": "subscription",
            "customer": customer_id,
            "line_items": line_items,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": client_reference_id,
            "metadata": dict(metadata),
            "subscription_data": {
                "metadata": dict(metadata),
                "description": f"{product_name}: {count} monthly installments",
            },
            "expires_at": expires_at,
        }
        session = self._call(
            self._client.v1.checkout.sessions.create, params=params, options={"idempotency_key": idempotency_key}
        )
        return CheckoutSession.from_stripe(session)

    def create_setup_checkout(
        self,
        *,
        customer_id: str,
        currency: str,
        success_url: str,
        cancel_url: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> CheckoutSession:
        """A Checkout session (mode=setup) that saves a card to `customer_id`."""
        params = {
            "mode": "setup",
            "customer": customer_id,
            "currency": currency.lower(),
            "allowed_payment_method_types": ["card"],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": dict(metadata),
            "setup_intent_data": {"metadata": dict(metadata)},
        }
        session = self._call(
            self._client.v1.checkout.sessions.create, params=params, options={"idempotency_key": idempotency_key}
        )
        return CheckoutSession.from_stripe(session)

    _SESSION_EXPAND = ("payment_intent.payment_method", "setup_intent.payment_method")

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        """The session with its payment/setup intent and card expanded."""
        session = self._call(
            self._client.v1.checkout.sessions.retrieve, session_id, params={"expand": list(self._SESSION_EXPAND)}
        )
        return CheckoutSession.from_stripe(session)

    def expire_checkout_session(self, session_id: str) -> CheckoutSession:
        """Expires an open session and returns it.

        Stripe answers 400 when the session is no longer open (already complete or
        expired); that is not a failure for us — the session is re-read and returned, and
        the caller decides from its `status` (a `complete` one must be fulfilled, not
        expired). Unknown ids raise `ResourceMissing`.
        """
        try:
            session = _plain(self._client.v1.checkout.sessions.expire(session_id))
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                _raise_mapped(exc)
            current = self.retrieve_checkout_session(session_id)
            if current.status == "open":
                _raise_mapped(exc)
            return current
        except stripe.StripeError as exc:
            _raise_mapped(exc)
        return CheckoutSession.from_stripe(session)

    def list_checkout_sessions(
        self, *, customer_id: str | None = None, payment_intent: str | None = None, limit: int = 10
    ) -> list[CheckoutSession]:
        """Newest first; filtered by customer and/or payment intent."""
        params: dict[str, Any] = {"limit": limit, "expand": [f"data.{p}" for p in self._SESSION_EXPAND]}
        if customer_id:
            params["customer"] = customer_id
        if payment_intent:
            params["payment_intent"] = payment_intent
        page = self._call(self._client.v1.checkout.sessions.list, params=params)
        return [CheckoutSession.from_stripe(s) for s in page["data"]]

    # -- subscriptions and invoices (installment plans) ---------------------------------------
    def retrieve_subscription(self, subscription_id: str) -> Subscription:
        return Subscription.from_stripe(self._call(self._client.v1.subscriptions.retrieve, subscription_id))

    def schedule_subscription_end(self, subscription: Subscription, *, months: int, idempotency_key: str) -> str:
        """Bounds a monthly subscription to `months` billing periods from its first; returns the schedule id.

        A subscription schedule made from the subscription, then one phase of its items
        lasting `months` months from the first period's start, `end_behavior=cancel`: the
        renewal due after the last period ends the subscription instead of invoicing it, so
        Stripe bills exactly `months` invoices. Idempotent: a subscription that already has
        a schedule gets that one updated (to the same phase) again.
        """
        if subscription.schedule_id is None:
            schedule = self._call(
                self._client.v1.subscription_schedules.create,
                params={"from_subscription": subscription.id},
                options={"idempotency_key": f"{idempotency_key}-create"},
            )
        else:
            schedule = self._call(self._client.v1.subscription_schedules.retrieve, subscription.schedule_id)
        phases = schedule.get("phases") or []
        phase: dict[str, Any] = {
            "items": [{"price": price, "quantity": quantity} for price, quantity in subscription.items],
            "duration": {"interval": "month", "interval_count": months},
        }
        if phases:
            phase["start_date"] = phases[0]["start_date"]
        self._call(
            self._client.v1.subscription_schedules.update,
            schedule["id"],
            params={"end_behavior": "cancel", "phases": [phase]},
            options={"idempotency_key": f"{idempotency_key}-update"},
        )
        return schedule["id"]

    def use_customer_default_card(self, subscription_id: str) -> None:
        """Clears the subscription's own card, so its invoices charge the customer's default card."""
        self._call(self._client.v1.subscriptions.update, subscription_id, params={"default_payment_method": ""})

    def cancel_subscription(self, subscription_id: str) -> Subscription:
        """Cancels now (no further invoice); an already canceled subscription is returned as it is."""
        try:
            return Subscription.from_stripe(_plain(self._client.v1.subscriptions.cancel(subscription_id)))
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                _raise_mapped(exc)
            current = self.retrieve_subscription(subscription_id)
            if current.status != "canceled":
                _raise_mapped(exc)
            return current
        except stripe.StripeError as exc:
            _raise_mapped(exc)

    def retrieve_invoice(self, invoice_id: str) -> Invoice:
        invoice = self._call(self._client.v1.invoices.retrieve, invoice_id, params={"expand": ["payments"]})
        return Invoice.from_stripe(invoice)

    def list_invoices(self, subscription_id: str) -> list[Invoice]:
        """Every invoice of the subscription, newest first."""
        found: list[Invoice] = []
        params: dict[str, Any] = {"subscription": subscription_id, "limit": 100, "expand": ["data.payments"]}
        while True:
            page = self._call(self._client.v1.invoices.list, params=params)
            found += [Invoice.from_stripe(i) for i in page["data"]]
            if not page.get("has_more") or not page["data"]:
                return found
            params["starting_after"] = page["data"][-1]["id"]

    def pay_invoice(
        self, invoice_id: str, *, payment_method_id: str | None = None, idempotency_key: str | None = None
    ) -> Invoice:
        """Charges an open invoice now (to `payment_method_id` if given); a decline is PaymentRejected."""
        params: dict[str, Any] = {"expand": ["payments"]}
        if payment_method_id:
            params["payment_method"] = payment_method_id
        options = {"idempotency_key": idempotency_key} if idempotency_key else {}
        return Invoice.from_stripe(self._call(self._client.v1.invoices.pay, invoice_id, params=params, options=options))

    # -- payment intents -------------------------------------------------------------------
    def retrieve_payment_intent(self, pi_id: str) -> PaymentIntent:
        pi = self._call(self._client.v1.payment_intents.retrieve, pi_id, params={"expand": ["payment_method"]})
        return PaymentIntent.from_stripe(pi)

    # -- payment methods -------------------------------------------------------------------
    def list_card_payment_methods(self, customer_id: str) -> list[Card]:
        page = self._call(
            self._client.v1.customers.payment_methods.list, customer_id, params={"type": "card", "limit": 100}
        )
        return [Card.from_stripe(pm) for pm in page["data"]]

    def retrieve_payment_method(self, pm_id: str) -> Card:
        return Card.from_stripe(self._call(self._client.v1.payment_methods.retrieve, pm_id))

    def attach_payment_method(self, pm_id: str, customer_id: str) -> Card:
        """Attaches a card (e.g. created by Stripe.js, or a test token) to the customer."""
        pm = self._call(self._client.v1.payment_methods.attach, pm_id, params={"customer": customer_id})
        return Card.from_stripe(pm)

    def detach_payment_method(self, pm_id: str) -> Card:
        return Card.from_stripe(self._call(self._client.v1.payment_methods.detach, pm_id))

    # -- refunds ---------------------------------------------------------------------------
    def create_refund(
        self, *, payment_intent_id: str, amount: int, reason_metadata: dict[str, str], idempotency_key: str
    ) -> RefundInfo:
        """Refunds `amount` of the payment intent's charge; Stripe refuses more than remains
        (`PaymentRejected`, code `amount_too_large` / `charge_already_refunded`)."""
        refund = self._call(
            self._client.v1.refunds.create,
            params={"payment_intent": payment_intent_id, "amount": amount, "metadata": dict(reason_metadata)},
            options={"idempotency_key": idempotency_key},
        )
        return RefundInfo.from_stripe(refund)

    def retrieve_refund(self, refund_id: str) -> RefundInfo:
        return RefundInfo.from_stripe(self._call(self._client.v1.refunds.retrieve, refund_id))

    def list_refunds(self, payment_intent_id: str) -> list[RefundInfo]:
        page = self._call(self._client.v1.refunds.list, params={"payment_intent": payment_intent_id, "limit": 100})
        return [RefundInfo.from_stripe(r) for r in page["data"]]

    # -- events ----------------------------------------------------------------------------
    def retrieve_event(self, event_id: str) -> dict[str, Any]:
        return self._call(self._client.v1.events.retrieve, event_id)

    def verify_webhook(self, payload: bytes, sig_header: str | None) -> dict[str, Any]:
        """Verifies the raw body against every configured signing secret (rotation) and the
        tolerance; returns the event as a plain dict. Raises WebhookSignatureError, or its
        subclass WebhookPayloadError (with a `code`) for a body that is not a Stripe event."""
        if not sig_header:
            raise WebhookSignatureError("missing Stripe-Signature header")
        if not self._webhook_secrets:
            raise WebhookSignatureError("no webhook signing secret configured")
        failure = "no secret matched"
        for secret in self._webhook_secrets:
            try:
                stripe.WebhookSignature.verify_header(payload, sig_header, secret, self._tolerance)
                break
            except stripe.SignatureVerificationError as exc:
                failure = str(exc)
            except UnicodeDecodeError as exc:
                raise WebhookPayloadError(f"payload is not UTF-8: {exc}", code="malformed_json") from exc
            except ValueError as exc:
                raise WebhookSignatureError(f"unreadable signature: {exc}") from exc
        else:
            raise WebhookSignatureError(failure)
        return event_of(payload)


# -- wiring --------------------------------------------------------------------------------


def build_gateway(app: Flask) -> Gateway:
    """Chooses real Stripe, a standalone sandbox or the in-process sandbox (module docstring)."""
    config = app.config
    key: str | None = config.get("STRIPE_SECRET_KEY")
    api_base: str | None = config.get("STRIPE_API_BASE")
    retries = int(config.get("STRIPE_MAX_NETWORK_RETRIES", 2))

    def delay() -> float | None:
        # None = the SDK's exponential back-off; read live so tests can set it to 0.
        value = config.get("STRIPE_NETWORK_RETRY_DELAY")
        return float(value) if value is not None else None

    http_client: stripe.HTTPClient
    base_addresses: dict[str, str] | None = None
    if api_base:
        mode = "stripe" if key else "sandbox-http"
        http_client = RequestsHTTPClient(retry_delay=delay)
        base_addresses = {"api": api_base.rstrip("/")}
    elif key:
        mode = "stripe"
        http_client = RequestsHTTPClient(retry_delay=delay)
    else:
        mode = "sandbox"

        def resolve() -> Sandbox:
            return app.extensions["stripe_sandbox"]

        http_client = SandboxHTTPClient(resolve, retry_delay=delay)
        base_addresses = {"api": str(config.get("APP_URL", "http://sandbox.invalid")).rstrip("/") + "/_sandbox/stripe"}
    client_kwargs: dict[str, Any] = {"http_client": http_client, "max_network_retries": retries}
    if base_addresses:
        client_kwargs["base_addresses"] = base_addresses
    client = stripe.StripeClient(key or SANDBOX_API_KEY, **client_kwargs)
    return Gateway(
        client,
        webhook_secrets=list(config.get("STRIPE_WEBHOOK_SECRETS") or []),
        webhook_tolerance=int(config.get("STRIPE_WEBHOOK_TOLERANCE", 300)),
        mode=mode,
    )


def init_app(app: Flask) -> None:
    app.extensions["gateway"] = build_gateway(app)


def get_gateway() -> Gateway:
    """The current app's gateway."""
    return current_app.extensions["gateway"]
