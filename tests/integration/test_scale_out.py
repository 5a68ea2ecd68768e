"""Two app processes (gunicorn, the production server) on one database: PostgreSQL, and one SQLite file.

The app keeps no state in its processes: the same webhook fired at both at once, several
times, makes one enrollment and one stored event.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.support.harness import free_port
from tests.support.webhooks import signed_headers

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_scale_out"


@pytest.fixture(params=["sqlite", "postgres"])
def two_processes(request, tmp_path):
    if request.param == "postgres":
        database_url = request.getfixturevalue("postgres_database").new_database(f"scale{os.getpid()}")
    else:
        database_url = f"sqlite:///{tmp_path / 'app.db'}"
    ports = [free_port(), free_port()]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "CLERK_", "APP_", "DATABASE_"))}
    env.update(
        DATABASE_URL=database_url,
        APP_URL=f"http://127.0.0.1:{ports[0]}",
        SECRET_KEY="scale-out-secret",
        INSTANCE_PATH=str(tmp_path / "instance"),
        STRIPE_WEBHOOK_SECRET=SECRET,
        STRIPE_SANDBOX_WEBHOOKS="off",
        STRIPE_SANDBOX_DATABASE_URL=f"sqlite:///{tmp_path / 'sandbox.db'}",
        CLERK_AUTHORIZED_PARTIES=",".join(f"http://127.0.0.1:{p}" for p in ports),
    )
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    subprocess.run(
        [*flask, "courses", "create", "--slug", "scaled", "--title", "Scaled", "--price", "5000", "--currency", "usd"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    for url in urls:
        for _ in range(100):
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
    yield urls, database_url, env
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


def test_same_webhook_at_two_processes_at_once_enrolls_once(two_processes):
    (a, b), database_url, env = two_processes
    browser = requests.Session()
    page = browser.get(f"{a}/dev/sign-in").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert (
        browser.post(
            f"{a}/dev/sign-in", data={"user_id": "scaled_user", "csrf_token": csrf}, allow_redirects=False
        ).status_code
        == 303
    )
    page = browser.get(f"{a}/checkout/scaled").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    started = browser.post(f"{a}/checkout/scaled", data={"coupon_code": "", "csrf_token": csrf}, allow_redirects=False)
    assert started.status_code == 303, started.text[:300]
    cs_id = started.headers["Location"].rsplit("/", 1)[-1]
    paid = browser.post(
        f"{a}/_sandbox/stripe/pay/{cs_id}",
        data={"action": "pay", "method": "card", "card_number": "4242424242424242"},
        allow_redirects=False,
    )
    assert paid.status_code == 303
    session = requests.get(
        f"{a}/_sandbox/stripe/v1/checkout/sessions/{cs_id}",
        headers={"Authorization": "Bearer sk_test_scale"},
        timeout=30,
    ).json()
    body = json.dumps(
        {
            "id": "evt_scale_out_1",
            "object": "event",
            "type": "checkout.session.completed",
            "livemode": False,
            "created": int(time.time()),
            "api_version": "2026-10-28.endive",
            "data": {"object": session},
        }
    )
    barrier = threading.Barrier(8)
    answers, spans = [], []

    def fire(url):
        barrier.wait()
        t0 = time.monotonic()
        answers.append(
            requests.post(
                f"{url}/webhooks/stripe", data=body, headers=signed_headers(body, SECRET), timeout=30
            ).status_code
        )
        spans.append((t0, time.monotonic()))

    threads = [threading.Thread(target=fire, args=(url,)) for url in (a, b) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [200] * 8
    assert max(s for s, _ in spans) < min(e for _, e in spans)  # control: they overlapped
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM enrollments")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM stripe_events")).scalar() == 1
        assert conn.execute(sa.text("SELECT status FROM payment_sessions")).scalar() == "COMPLETED"
    engine.dispose()
    # the learner's page on the other process shows the enrollment too
    success = browser.get(f"{b}/payment/success?session_id={cs_id}")
    assert success.status_code == 200 and 'data-session-status="COMPLETED"' in success.text
