"""Refunds: partial, full, and more than remains — refused as Stripe refuses it."""

from __future__ import annotations

import pytest
import stripe

from tests.support.sandbox import new_checkout, pay
from webapp.payments.gateway import PaymentRejected
from webapp.sandbox import get_sandbox


def _paid_intent(gateway, client, amount: int = 2000) -> str:
    session = new_checkout(gateway, amount=amount)
    assert pay(client, session).status_code == 303
    return gateway.retrieve_checkout_session(session.id).payment_intent_id


def _charge_refunded_events(app, charge_id: str) -> list[dict]:
    rows = get_sandbox(app).recent_events(limit=100)
    return [
        evt["data"]["object"]
        for evt, _ in reversed(rows)
        if evt["type"] == "charge.refunded" and evt["data"]["object"]["id"] == charge_id
    ]


def test_partial_refund_then_the_rest(sbx_app, gateway, client):
    pi = _paid_intent(gateway, client)
    first = gateway.create_refund(
        payment_intent_id=pi,
        amount=500,
        reason_metadata={"reason": "late start", "refund_id": "r1"},
        idempotency_key="refund-1",
    )
    assert first.id.startswith("re_")
    assert (first.amount, first.currency, first.status, first.payment_intent_id) == (500, "usd", "succeeded", pi)
    assert first.metadata == {"reason": "late start", "refund_id": "r1"}
    assert first.charge_id == gateway.retrieve_payment_intent(pi).latest_charge
    assert gateway.retrieve_refund(first.id) == first

    rest = gateway.create_refund(payment_intent_id=pi, amount=1500, reason_metadata={}, idempotency_key="refund-2")
    assert rest.amount == 1500
    assert [r.id for r in gateway.list_refunds(pi)] == [rest.id, first.id]

    charges = _charge_refunded_events(sbx_app, first.charge_id)
    assert [(c["amount_refunded"], c["refunded"]) for c in charges] == [(500, False), (2000, True)]
    assert charges[-1]["payment_intent"] == pi
    # A charge's refunds are an includable list, as at Stripe: absent unless expanded.
    assert "refunds" not in charges[-1]
    charge = gateway.stripe_client.v1.charges.retrieve(first.charge_id, params={"expand": ["refunds"]})
    assert [r.id for r in charge.refunds.data] == [rest.id, first.id]
    types = [
        e["type"] for e, _ in get_sandbox(sbx_app).recent_events(limit=100) if e["data"]["object"]["id"] == rest.id
    ]
    assert sorted(types) == ["refund.created", "refund.updated"]

    with pytest.raises(PaymentRejected) as info:
        gateway.create_refund(payment_intent_id=pi, amount=1, reason_metadata={}, idempotency_key="refund-3")
    assert info.value.code == "charge_already_refunded"


def test_refund_above_the_charge_is_refused_like_stripe(gateway, client):
    pi = _paid_intent(gateway, client, amount=1000)
    with pytest.raises(PaymentRejected) as info:
        gateway.create_refund(payment_intent_id=pi, amount=1001, reason_metadata={}, idempotency_key="too-much")
    assert info.value.code == "amount_too_large"
    assert info.value.param == "amount"
    assert "Refund amount ($10.01) is greater than unrefunded amount on charge ($10.00)" in str(info.value)

    with pytest.raises(stripe.InvalidRequestError) as sdk_info:
        gateway.stripe_client.v1.refunds.create(params={"payment_intent": pi, "amount": 5000})
    assert sdk_info.value.http_status == 400
    # Nothing was refunded by the refused attempts.
    assert gateway.list_refunds(pi) == []


def test_refund_is_idempotent_on_double_submit(gateway, client):
    pi = _paid_intent(gateway, client)
    one = gateway.create_refund(payment_intent_id=pi, amount=700, reason_metadata={}, idempotency_key="dbl")
    two = gateway.create_refund(payment_intent_id=pi, amount=700, reason_metadata={}, idempotency_key="dbl")
    assert one == two
    assert len(gateway.list_refunds(pi)) == 1


def test_unpaid_intent_cannot_be_refunded(gateway, client):
    session = new_checkout(gateway)
    pay(client, session, "4000000000000002")
    pi = gateway.retrieve_checkout_session(session.id).payment_intent_id
    with pytest.raises(PaymentRejected) as info:
        gateway.create_refund(payment_intent_id=pi, amount=100, reason_metadata={}, idempotency_key="unpaid")
    assert info.value.code == "charge_not_refundable"


def test_concurrent_refunds_never_exceed_the_charge(sbx_app, gateway, client):
    """Sandbox transactions are serialised: racing refunds cannot over-refund."""
    from concurrent.futures import ThreadPoolExecutor

    from webapp.payments.gateway import get_gateway

    pi = _paid_intent(gateway, client, amount=2000)

    def refund(i: int) -> str:
        with sbx_app.app_context():
            try:
                get_gateway().create_refund(
                    payment_intent_id=pi, amount=600, reason_metadata={}, idempotency_key=f"race-{i}"
                )
                return "ok"
            except PaymentRejected as exc:
                return exc.code or "rejected"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(refund, range(8)))
    assert outcomes.count("ok") == 3
    assert set(outcomes) == {"ok", "amount_too_large"}
    assert sum(r.amount for r in gateway.list_refunds(pi)) == 1800
