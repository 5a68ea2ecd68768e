"""Requests are validated against the SDK's parameter definitions (stripe.params), nested."""

from __future__ import annotations

import pytest

from webapp.sandbox import get_sandbox

from .api_helpers import CHECKOUT, call, error_of

pytestmark = pytest.mark.usefixtures("expect_refusals")


@pytest.fixture
def sandbox_url(tmp_path) -> str:
    """Validation does not depend on the storage: SQLite only."""
    return f"sqlite:///{tmp_path / 'stripe-sandbox.db'}"


def _refused(client, method, path, pairs):
    status, body, headers = call(client, method, path, pairs)
    assert status == 400, body
    error = error_of(body)
    assert error["type"] == "invalid_request_error"
    assert headers.get("Request-Id", "").startswith("req_")
    return error


def test_an_unknown_top_level_parameter_is_refused_in_stripes_words(client):
    error = _refused(client, "POST", "/v1/customers", [("email", "a@example.test"), ("bogus_param", "1")])
    assert error["code"] == "parameter_unknown"
    assert error["param"] == "bogus_param"
    assert error["message"] == "Received unknown parameter: bogus_param"


def test_an_unknown_nested_parameter_is_named_with_its_full_path(client):
    error = _refused(client, "POST", "/v1/checkout/sessions", [*CHECKOUT, ("line_items[0][price_data][bogus]", "x")])
    assert error["code"] == "parameter_unknown"
    assert error["param"] == "line_items[0][price_data][bogus]"


def test_a_missing_required_nested_parameter_is_refused(client):
    error = _refused(client, "POST", "/v1/checkout/sessions", [*CHECKOUT, ("automatic_tax[liability][type]", "self")])
    assert error["code"] == "parameter_missing"
    assert error["param"] == "automatic_tax[enabled]"


def test_a_non_integer_for_an_integer_parameter_is_refused(client):
    pairs = [p for p in CHECKOUT if "unit_amount" not in p[0]] + [("line_items[0][price_data][unit_amount]", "12.5")]
    error = _refused(client, "POST", "/v1/checkout/sessions", pairs)
    assert error["code"] == "parameter_invalid_integer"
    assert error["param"] == "line_items[0][price_data][unit_amount]"


def test_enum_values_come_from_the_declared_literals(client):
    pairs = [p for p in CHECKOUT if p[0] != "mode"] + [("mode", "subscribe")]
    error = _refused(client, "POST", "/v1/checkout/sessions", pairs)
    assert error["param"] == "mode"
    assert "payment" in error["message"] and "setup" in error["message"] and "subscription" in error["message"]
    error = _refused(client, "POST", "/v1/refunds", [("payment_intent", "pi_x"), ("reason", "because")])
    assert error["param"] == "reason"


def test_a_hash_where_a_string_is_declared_is_refused(client):
    error = _refused(client, "POST", "/v1/customers", [("email[x]", "a@example.test")])
    assert error["param"] == "email"


def test_a_boolean_parameter_takes_only_true_or_false(client):
    error = _refused(client, "POST", "/v1/checkout/sessions", [*CHECKOUT, ("automatic_tax[enabled]", "yes")])
    assert error["param"] == "automatic_tax[enabled]"


def test_metadata_may_be_unset_with_an_empty_string(client):
    status, body, _ = call(client, "POST", "/v1/customers", [("metadata", "")])
    assert status == 200, body
    assert body["metadata"] == {}


def test_expand_may_name_only_expandable_fields(client):
    status, session, _ = call(client, "POST", "/v1/checkout/sessions", CHECKOUT)
    assert status == 200, session
    path = f"/v1/checkout/sessions/{session['id']}"
    status, body, _ = call(
        client, "GET", path, [("expand[]", "payment_intent.latest_charge"), ("expand[]", "line_items")]
    )
    assert status == 200, body
    assert body["line_items"]["object"] == "list"
    error = _refused(client, "GET", path, [("expand[]", "customer_email")])
    assert error["message"] == "This property cannot be expanded (customer_email)."
    error = _refused(client, "GET", path, [("expand[]", "payment_intent.amount")])
    assert error["param"] == "expand"
    error = _refused(client, "GET", "/v1/checkout/sessions", [("expand[]", "payment_intent")])
    assert error["param"] == "expand"
    status, body, _ = call(client, "GET", "/v1/checkout/sessions", [("expand[]", "data.payment_intent")])
    assert status == 200, body


@pytest.mark.parametrize("limit", ["0", "101", "-1"])
def test_list_limit_outside_1_to_100_is_refused(client, limit):
    error = _refused(client, "GET", "/v1/refunds", [("limit", limit)])
    assert error["param"] == "limit"
    assert error["code"] == "parameter_invalid_integer"


def test_list_limit_of_1_and_100_are_accepted(client):
    for limit in ("1", "100"):
        status, body, _ = call(client, "GET", "/v1/events", [("limit", limit)])
        assert status == 200 and body["object"] == "list"


def test_a_refused_request_changes_nothing_and_is_recorded(sbx_app, client):
    sandbox = get_sandbox(sbx_app)
    before = len(sandbox.refusals)
    _refused(client, "POST", "/v1/customers", [("email", "x@example.test"), ("nope", "1")])
    status, listed, _ = call(client, "GET", "/v1/events", [("type", "customer.created")])
    assert status == 200 and listed["data"] == []
    assert sandbox.refusals[before:] == [
        {
            "method": "POST",
            "path": "/v1/customers",
            "param": "nope",
            "code": "parameter_unknown",
            "message": "Received unknown parameter: nope",
        }
    ]


def test_the_sdk_surfaces_the_refusal_as_invalid_request_error(gateway):
    import stripe

    with pytest.raises(stripe.InvalidRequestError) as info:
        gateway.stripe_client.v1.customers.create(params={"email": "a@example.test", "bogus_param": "1"})
    assert info.value.code == "parameter_unknown"
    assert info.value.param == "bogus_param"
