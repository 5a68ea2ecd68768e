"""The OpenAPI document: generated from the request models, and the API conforms to it.

schemathesis drives every operation through the WSGI app as a signed-in learner with
generated valid and invalid data: never a 5xx, only documented status codes, and
response bodies matching their declared schemas. SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
import schemathesis
from checkout_helpers import FAST_STRIPE, make_coupon, make_course
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from webapp.web.api import ROUTES
from webapp.web.api_schemas import CreatePaymentSession

MAX_EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def app_config() -> dict:
    return dict(FAST_STRIPE)


@pytest.fixture
def shop(app) -> dict[str, str]:
    make_coupon(app, "WELCOME10", value="10", is_public=True)
    return {
        "paid": make_course(app, "python-payments", price=4999, currency="usd", total_lectures=12),
        "free": make_course(app, "free-course", price=0, currency="usd", total_lectures=4),
    }


class TestDocument:
    def test_is_openapi_3_1_with_every_declared_route(self, client):
        response = client.get("/api/openapi.json")
        assert response.status_code == 200
        document = response.get_json()
        assert document["openapi"] == "3.1.0"
        operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
        assert operations == {(r.method, "/api" + r.path) for r in ROUTES}
        assert ("GET", "/api/payments/coupons/active") in operations

    def test_request_schemas_are_the_pydantic_models(self, client):
        document = client.get("/api/openapi.json").get_json()
        generated = CreatePaymentSession.model_json_schema(ref_template="#/components/schemas/{model}")
        assert document["components"]["schemas"]["CreatePaymentSession"] == generated
        assert generated["additionalProperties"] is False
        body = document["paths"]["/api/payments/sessions"]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CreatePaymentSession"}
        assert {"400", "401", "413", "415"} <= set(document["paths"]["/api/payments/sessions"]["post"]["responses"])


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_api_conforms_to_its_document(app, auth, shop, route):
    # One test per operation, driven by hand: schemathesis' lazy pytest loader does not
    # support this pytest version, and a fixture-built app per operation keeps runs apart.
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operation = schema["/api" + route.path][route.method]
    headers = auth.bearer("learner_1")
    for mode in GenerationMode:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def conforms(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        conforms()
