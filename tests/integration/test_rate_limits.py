"""Rate limits: coupon validation, checkout creation and dev sign-in; never the webhook."""

from __future__ import annotations

import os
import uuid

import pytest

from webapp.services.courses import create_course


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}


@pytest.fixture
def limited(sqlite_app):
    with sqlite_app.app_context():
        create_course(slug="limited", title="Limited", price=5000, currency="usd")
    return sqlite_app


def _coupon(client):
    return client.post("/checkout/limited/coupon", data={"code": "NOPE"}, headers={"HX-Request": "true"})


def test_coupon_validation_is_limited_per_user_with_retry_after(limited):
    from tests.support.auth import Auth

    client = limited.test_client()
    Auth(limited, client).sign_in("greedy")
    statuses = [_coupon(client).status_code for _ in range(31)]
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429
    response = _coupon(client)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "going a little fast" in response.get_data(as_text=True)
    # another learner is not affected by the first one's limit
    other = limited.test_client()
    Auth(limited, other).sign_in("patient")
    assert _coupon(other).status_code == 200


def test_dev_sign_in_is_limited(limited):
    client = limited.test_client()
    statuses = [client.post("/dev/sign-in", data={"user_id": "x"}).status_code for _ in range(21)]
    assert statuses[-1] == 429 and set(statuses[:20]) == {303}


def test_webhook_is_never_limited(limited):
    client = limited.test_client()
    statuses = {
        client.post("/webhooks/stripe", data="{}", headers={"Stripe-Signature": "t=1,v1=x"}).status_code
        for _ in range(150)
    }
    assert statuses == {400}


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="TEST_REDIS_URL not set (CI sets it)")
def test_limits_are_shared_through_redis_across_processes(tmp_path):
    from tests.support.auth import Auth
    from tests.support.harness import clean_database, make_app, migrate_once

    prefix = uuid.uuid4().hex
    config = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": os.environ["TEST_REDIS_URL"],
        "RATELIMIT_KEY_PREFIX": prefix,
    }
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = make_app(url, tmp_path, **config)
    migrate_once(first)
    clean_database(first)
    with first.app_context():
        create_course(slug="limited", title="Limited", price=5000, currency="usd")
    second = make_app(url, tmp_path, **config)
    a, b = first.test_client(), second.test_client()
    Auth(first, a).sign_in("shared_user")
    Auth(second, b).sign_in("shared_user")
    for _ in range(15):
        assert _coupon(a).status_code == 200
        assert _coupon(b).status_code == 200
    assert _coupon(a).status_code == 429


def test_api_coupon_validation_is_limited_with_json_429(limited):
    from tests.support.auth import Auth

    with limited.app_context():
        from webapp.services.catalog import get_published_course

        course_id = get_published_course("limited").id
    client = limited.test_client()
    headers = Auth(limited, client).bearer("api_greedy")
    statuses = [
        client.post(
            "/api/payments/coupons/validate", json={"code": "NOPE", "courseId": course_id}, headers=headers
        ).status_code
        for _ in range(31)
    ]
    assert statuses[:30] == [200] * 30 and statuses[30] == 429
    response = client.post(
        "/api/payments/coupons/validate", json={"code": "NOPE", "courseId": course_id}, headers=headers
    )
    assert response.get_json()["code"] == "rate_limited" and int(response.headers["Retry-After"]) > 0
