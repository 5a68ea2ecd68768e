"""Pay in installments on Stripe's subscription machinery, through the real SDK.

A monthly price, Checkout in subscription mode paid on the hosted page, a schedule that
ends the subscription after its third paid invoice, test clocks advancing month by month;
a card that pays at checkout but fails every later charge (4000 0000 0000 0341) driving the retries to
`past_due`, and `invoices.pay` with a new card bringing the subscription back.
"""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
import stripe

from tests.support.sandbox import pay
from webapp.sandbox import get_sandbox

START = int(dt.datetime(2027, 1, 15, 12, tzinfo=dt.UTC).timestamp())
DAY = 24 * 3600


def _month(n: int) -> int:
    start = dt.datetime.fromtimestamp(START, tz=dt.UTC)
    index = start.month - 1 + n
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


@pytest.fixture
def sc(gateway) -> stripe.StripeClient:
    return gateway.stripe_client


def _mark(sbx_app) -> str | None:
    """The newest event now (the PostgreSQL sandbox database is shared by the session)."""
    rows = get_sandbox(sbx_app).recent_events(limit=1)
    return rows[0][0]["id"] if rows else None


def _events(sbx_app, since: str | None) -> list[dict]:
    """Events after the `since` mark, oldest first."""
    rows = [evt for evt, _ in reversed(get_sandbox(sbx_app).recent_events(limit=1000))]
    ids = [evt["id"] for evt in rows]
    return rows[ids.index(since) + 1 :] if since in ids else rows


def _subscribe(sc, client, *, card: str = "4242 4242 4242 4242", setup_fee: bool = True):
    """A customer on a fresh test clock who paid the first installment through Checkout."""
    clock = sc.v1.test_helpers.test_clocks.create({"frozen_time": START, "name": "installments"})
    customer = sc.v1.customers.create({"email": "learner@example.test", "test_clock": clock.id})
    product = sc.v1.products.create({"name": "Python for Payments"})
    price = sc.v1.prices.create(
        {"product": product.id, "currency": "usd", "unit_amount": 5000, "recurring": {"interval": "month"}}
    )
    line_items: list = [{"price": price.id, "quantity": 1}]
    if setup_fee:
        line_items.append(
            {
                "price_data": {"currency": "usd", "unit_amount": 900, "product_data": {"name": "Enrollment fee"}},
                "quantity": 1,
            }
        )
    session = sc.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer.id,
            "line_items": line_items,
            "subscription_data": {"metadata": {"payment_session_id": "ps_7", "installments": "3"}},
            "success_url": "http://localhost/ok?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://localhost/no",
        }
    )
    assert session.mode == "subscription" and session.amount_total == (5900 if setup_fee else 5000)
    response = pay(client, session, card)
    return clock, customer, price, session, response


def _schedule_three(sc, sub_id: str, price_id: str):
    schedule = sc.v1.subscription_schedules.create({"from_subscription": sub_id})
    phase = schedule.phases[0]
    return sc.v1.subscription_schedules.update(
        schedule.id,
        {
            "end_behavior": "cancel",
            "phases": [
                {
                    "items": [{"price": price_id, "quantity": 1}],
                    "start_date": phase.start_date,
                    "duration": {"interval": "month", "interval_count": 3},
                    "metadata": {"installments": "3"},
                }
            ],
        },
    )


def test_checkout_in_subscription_mode_makes_a_paid_subscription(sbx_app, sc, client):
    mark = _mark(sbx_app)
    clock, customer, price, session, response = _subscribe(sc, client)
    assert response.status_code == 303
    session = sc.v1.checkout.sessions.retrieve(session.id, {"expand": ["subscription", "invoice.payments"]})
    assert (session.status, session.payment_status, session.payment_intent) == ("complete", "paid", None)
    sub, invoice = session.subscription, session.invoice
    assert [s.id for s in sc.v1.checkout.sessions.list({"subscription": sub.id}).data] == [session.id]
    assert (sub.status, sub.metadata.to_dict(), sub.test_clock) == (
        "active",
        {"payment_session_id": "ps_7", "installments": "3"},
        clock.id,
    )
    assert sub.start_date == START and sub["items"].data[0].current_period_end == _month(1)
    pm = sc.v1.payment_methods.retrieve(sub.default_payment_method)
    assert (pm.customer, pm.card.last4, customer.created) == (customer.id, "4242", START)
    assert (invoice.status, invoice.amount_paid, invoice.billing_reason) == ("paid", 5900, "subscription_create")
    assert [line.amount for line in invoice.lines.data] == [5000, 900]
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.parent.subscription_details.metadata["payment_session_id"] == "ps_7"
    pi = sc.v1.payment_intents.retrieve(invoice.payments.data[0].payment.payment_intent)
    assert (pi.status, pi.amount, pi.customer) == ("succeeded", 5900, customer.id)
    charge = sc.v1.charges.retrieve(pi.latest_charge)
    assert (charge.status, charge.amount) == ("succeeded", 5900)
    types = [e["type"] for e in _events(sbx_app, mark) if e["type"] != "test_helpers.test_clock.created"]
    assert types == [
        "customer.created",
        "product.created",
        "price.created",
        "payment_method.attached",
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "charge.updated",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
        "checkout.session.completed",
    ]


def test_a_three_installment_schedule_bills_exactly_three_invoices(sbx_app, sc, client):
    clock, customer, price, session, _ = _subscribe(sc, client, setup_fee=False)
    sub_id = sc.v1.checkout.sessions.retrieve(session.id).subscription
    schedule = _schedule_three(sc, sub_id, price.id)
    assert (schedule.status, schedule.end_behavior, schedule.phases[0].end_date) == ("active", "cancel", _month(3))
    assert sc.v1.subscriptions.retrieve(sub_id).cancel_at == _month(3)
    mark = _mark(sbx_app)
    for month in (1, 2):
        clock = sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": _month(month) + DAY})
        assert (clock.status, clock.frozen_time) == ("ready", _month(month) + DAY)
    invoices = sc.v1.invoices.list({"subscription": sub_id, "limit": 100}).data
    assert [(i.status, i.amount_paid) for i in invoices] == [("paid", 5000)] * 3
    # A renewal's own period is the one just ended; its line bills the one ahead.
    assert [(i.period_start, i.period_end) for i in invoices[:2]] == [(_month(1), _month(2)), (START, _month(1))]
    assert [(i.lines.data[0].period.start, i.lines.data[0].period.end) for i in invoices[:2]] == [
        (_month(2), _month(3)),
        (_month(1), _month(2)),
    ]
    assert sc.v1.subscriptions.retrieve(sub_id).status == "active"
    # Month three ends the schedule: the subscription is canceled, no fourth invoice, ever.
    sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": _month(3) + DAY})
    sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": _month(15)})
    sub = sc.v1.subscriptions.retrieve(sub_id)
    assert (sub.status, sub.ended_at, sub.cancellation_details.reason) == (
        "canceled",
        _month(3),
        "cancellation_requested",
    )
    assert len(sc.v1.invoices.list({"subscription": sub_id}).data) == 3
    assert sc.v1.subscription_schedules.retrieve(schedule.id).status == "completed"
    evts = _events(sbx_app, mark)
    billing = [
        e["type"]
        for e in evts
        if e["type"].startswith(("invoice.paid", "customer.subscription.deleted", "subscription_schedule."))
    ]
    assert billing == [
        "invoice.paid",
        "invoice.paid",
        "customer.subscription.deleted",
        "subscription_schedule.completed",
    ]
    assert [e["created"] for e in evts] == sorted(e["created"] for e in evts)  # in clock order
    listed = list(sc.v1.subscriptions.list({"customer": customer.id, "status": "all", "limit": 1}).auto_paging_iter())
    assert [s.id for s in listed] == [sub_id]


def test_a_card_that_cannot_be_charged_goes_past_due_and_a_new_card_pays(sbx_app, sc, client):
    clock, customer, price, session, _ = _subscribe(sc, client, setup_fee=False)
    sub_id = sc.v1.checkout.sessions.retrieve(session.id).subscription
    failing = sc.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer.id})
    assert failing.card.last4 == "0341"  # attaching it succeeds
    sc.v1.subscriptions.update(sub_id, {"default_payment_method": failing.id})
    mark = _mark(sbx_app)
    sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": _month(1) + 3600})
    sub = sc.v1.subscriptions.retrieve(sub_id)
    invoice = sc.v1.invoices.retrieve(sub.latest_invoice)
    assert (sub.status, invoice.status, invoice.attempt_count) == ("past_due", "open", 1)
    assert invoice.next_payment_attempt == _month(1) + DAY
    # Retries on days 1 and 3 fail too; the subscription stays past due.
    sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": _month(1) + 4 * DAY})
    invoice = sc.v1.invoices.retrieve(invoice.id)
    assert (invoice.attempt_count, invoice.next_payment_attempt) == (3, _month(1) + 5 * DAY)
    assert sc.v1.subscriptions.retrieve(sub_id).status == "past_due"
    failed = [e for e in _events(sbx_app, mark) if e["type"] == "invoice.payment_failed"]
    assert [e["created"] for e in failed] == [_month(1), _month(1) + DAY, _month(1) + 3 * DAY]
    # A declined pay is Stripe's card error, kept as an attempt; a new card pays the invoice.
    with pytest.raises(stripe.CardError) as declined:
        sc.v1.invoices.pay(invoice.id)
    assert declined.value.code == "card_declined"
    invoice = sc.v1.invoices.retrieve(invoice.id)
    assert (invoice.attempt_count, invoice.next_payment_attempt) == (4, _month(1) + 5 * DAY)
    good = sc.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    paid = sc.v1.invoices.pay(invoice.id, {"payment_method": good.id, "expand": ["payments"]})
    assert (paid.status, paid.amount_remaining, paid.next_payment_attempt) == ("paid", 0, None)
    pi = sc.v1.payment_intents.retrieve(paid.payments.data[0].payment.payment_intent)
    assert (pi.status, pi.payment_method) == ("succeeded", good.id)
    # One PaymentIntent for every attempt; it finds its invoice through invoice_payments.
    found = sc.v1.invoice_payments.list({"payment": {"type": "payment_intent", "payment_intent": pi.id}}).data
    assert [(p.invoice, p.status, p.amount_paid) for p in found] == [(invoice.id, "paid", 5000)]
    assert sc.v1.subscriptions.retrieve(sub_id).status == "active"
    tail = [e["type"] for e in _events(sbx_app, mark)][-3:]
    assert tail == ["invoice.paid", "invoice.payment_succeeded", "customer.subscription.updated"]


def test_the_last_retry_failing_cancels_the_subscription(sbx_app, sc, client):
    clock, customer, price, session, _ = _subscribe(sc, client, setup_fee=False)
    sub_id = sc.v1.checkout.sessions.retrieve(session.id).subscription
    failing = sc.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer.id})
    sc.v1.subscriptions.update(sub_id, {"default_payment_method": failing.id})
    sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": _month(1) + 13 * DAY})
    assert sc.v1.subscriptions.retrieve(sub_id).status == "past_due"  # retried for two weeks
    sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": _month(1) + 15 * DAY})
    sub = sc.v1.subscriptions.retrieve(sub_id)
    assert (sub.status, sub.ended_at, sub.cancellation_details.reason) == (
        "canceled",
        _month(1) + 14 * DAY,
        "payment_failed",
    )
    invoices = sc.v1.invoices.list({"subscription": sub_id}).data
    assert [(i.status, i.attempt_count, i.next_payment_attempt) for i in invoices] == [
        ("open", 8, None),
        ("paid", 1, None),
    ]


def test_the_0341_card_pays_the_first_installment_at_checkout_and_fails_every_later_charge(sbx_app, sc, client):
    clock, customer, _, session, response = _subscribe(sc, client, card="4000 0000 0000 0341", setup_fee=False)
    assert response.status_code == 303
    session = sc.v1.checkout.sessions.retrieve(session.id)
    assert (session.status, session.payment_status) == ("complete", "paid")
    first = sc.v1.invoices.retrieve(session.invoice)
    assert (first.status, first.amount_paid) == ("paid", 5000)
    sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": _month(1) + 3600})
    sub = sc.v1.subscriptions.retrieve(session.subscription)
    renewal = sc.v1.invoices.retrieve(sub.latest_invoice)
    assert (sub.status, renewal.status, renewal.attempt_count) == ("past_due", "open", 1)
    with pytest.raises(stripe.CardError):
        sc.v1.invoices.pay(renewal.id)


def test_the_0341_card_is_declined_in_payment_mode_but_saved_in_setup_mode(sbx_app, sc, client):
    customer = sc.v1.customers.create({"email": "learner@example.test"})
    one_time = sc.v1.checkout.sessions.create(
        {
            "mode": "payment",
            "customer": customer.id,
            "line_items": [
                {"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 5000, "product_data": {"name": "X"}}}
            ],
            "success_url": "http://localhost/ok",
        }
    )
    declined = pay(client, one_time, "4000 0000 0000 0341")
    assert declined.status_code == 200 and "Your card was declined." in declined.get_data(as_text=True)
    setup = sc.v1.checkout.sessions.create(
        {"mode": "setup", "customer": customer.id, "currency": "usd", "success_url": "http://localhost/ok"}
    )
    assert pay(client, setup, "4000 0000 0000 0341").status_code == 303
    cards = sc.v1.payment_methods.list({"customer": customer.id, "type": "card"}).data
    assert [c.card.last4 for c in cards] == ["0341"]


def test_clocks_list_and_delete(sc):
    created = [sc.v1.test_helpers.test_clocks.create({"frozen_time": START}) for _ in range(3)]
    listed = [c.id for c in sc.v1.test_helpers.test_clocks.list({"limit": 2}).auto_paging_iter()]
    assert [c.id for c in reversed(created)] == [i for i in listed if i in {c.id for c in created}]
    deleted = sc.v1.test_helpers.test_clocks.delete(created[0].id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        sc.v1.test_helpers.test_clocks.retrieve(created[0].id)


def test_stripes_limits_on_advancing_and_on_phases(sbx_app, sc, client, expect_refusals):
    clock, _, price, session, _ = _subscribe(sc, client, setup_fee=False)
    sub_id = sc.v1.checkout.sessions.retrieve(session.id).subscription
    with pytest.raises(stripe.InvalidRequestError) as too_far:
        sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": _month(2) + 1})
    assert too_far.value.param == "frozen_time"
    with pytest.raises(stripe.InvalidRequestError) as back:
        sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": START})
    assert back.value.param == "frozen_time"
    schedule = sc.v1.subscription_schedules.create({"from_subscription": sub_id})
    # This API version has `duration`, not `iterations`: the SDK's definitions refuse it.
    with pytest.raises(stripe.InvalidRequestError) as old:
        sc.v1.subscription_schedules.update(
            schedule.id,
            {"phases": [{"items": [{"price": price.id}], "iterations": 3}]},  # type: ignore[typeddict-unknown-key]
        )
    assert (old.value.code, old.value.param) == ("parameter_unknown", "phases[0][iterations]")


def test_what_the_sandbox_does_not_model_is_refused_not_ignored(sc, client):
    _, customer, price, session, _ = _subscribe(sc, client, setup_fee=False)
    sub_id = sc.v1.checkout.sessions.retrieve(session.id).subscription
    with pytest.raises(stripe.InvalidRequestError) as trial:
        sc.v1.checkout.sessions.create(
            {
                "mode": "subscription",
                "customer": customer.id,
                "line_items": [{"price": price.id, "quantity": 1}],
                "subscription_data": {"trial_period_days": 7},
                "success_url": "http://localhost/ok",
            }
        )
    assert trial.value.param == "subscription_data[trial_period_days]"
    with pytest.raises(stripe.InvalidRequestError) as items:
        sc.v1.subscriptions.update(sub_id, {"items": [{"price": price.id}]})
    assert items.value.param == "items"
    with pytest.raises(stripe.InvalidRequestError) as recurring:
        sc.v1.checkout.sessions.create(
            {
                "mode": "payment",
                "line_items": [{"price": price.id, "quantity": 1}],
                "success_url": "http://localhost/ok",
            }
        )
    assert recurring.value.param == "line_items[0]"


def test_canceling_a_past_due_subscription_stops_its_retries(sc, client):
    clock, customer, _, session, _ = _subscribe(sc, client, setup_fee=False)
    sub_id = sc.v1.checkout.sessions.retrieve(session.id).subscription
    failing = sc.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer.id})
    sc.v1.subscriptions.update(sub_id, {"default_payment_method": failing.id})
    sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": _month(1) + 3600})
    canceled = sc.v1.subscriptions.cancel(sub_id)
    assert (canceled.status, canceled.canceled_at) == ("canceled", _month(1) + 3600)
    sc.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": _month(1) + 10 * DAY})
    invoice = sc.v1.invoices.retrieve(canceled.latest_invoice)
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
