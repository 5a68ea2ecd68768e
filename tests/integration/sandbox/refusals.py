"""Every test fails if the sandbox refused a request for its parameters, unless it says so.

Refusals are what the sandbox's validation against the SDK's definitions (stripe.params)
answers; the app's own requests must never get one. The sandbox tests load these fixtures
through their conftest; any other run can load them as a plugin:

    pytest -p tests.integration.sandbox.refusals tests/integration
"""

from __future__ import annotations

import pytest

from webapp.sandbox.core import REFUSALS


@pytest.fixture
def expect_refusals() -> None:
    """Requested by tests that send refused requests on purpose."""


@pytest.fixture(autouse=True)
def no_unexpected_refusals(request):
    start = len(REFUSALS)
    yield
    refused = REFUSALS[start:]
    if refused and "expect_refusals" not in request.fixturenames:
        pytest.fail(f"requests refused by the SDK's parameter definitions: {refused}")
