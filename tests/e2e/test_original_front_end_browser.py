"""The original design's front end, served from a second origin, buys a course through our API.

A tiny HTTP server on another port stands for the Next.js front end: its checkout page
calls `POST /api/payments/sessions` with the design's exact request (`fetch`, Bearer token
whose `azp` is the front end's origin, so chromium preflights every call), follows
`redirectUrl` to the sandbox's hosted page, pays, and Stripe sends the browser back to the
front end's own `/payment/success?session_id=cs_…`, whose script reads the session by its
Stripe id and the enrollment by course, as the design's success page does.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.conftest import LiveServer
from tests.support.auth import front_end_token
from tests.support.browser import shot
from tests.support.checkout import FAST_STRIPE
from tests.support.factories import make_course
from tests.support.harness import free_port
from tests.support.rows import enrollments

pytestmark = pytest.mark.browser

CHECKOUT_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Front end checkout</title></head>
<body><main id="out">checkout</main><button id="buy">Checkout</button>
<script>
const config = __CONFIG__;
// The design's checkout/page.tsx → paymentService.createSession, verbatim in shape.
document.getElementById("buy").addEventListener("click", async () => {
  const frontendUrl = config.frontendUrl;
  const response = await fetch(`${config.apiBaseUrl}/payments/sessions`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${config.token}` },
    body: JSON.stringify({
      courseId: config.courseId,
      couponCode: "",
      returnUrl: `${frontendUrl}/payment/success?session_id={CHECKOUT_SESSION_ID}`,
      cancelUrl: `${frontendUrl}/payment/cancel`,
      metadata: { totalAmount: 4999, itemCount: 1 },
    }),
  });
  const body = await response.json();
  sessionStorage.setItem("created", JSON.stringify({
    status: response.status, body, requestId: response.headers.get("X-Request-ID"),
  }));
  if (response.status === 201 && body.success) window.location.href = body.redirectUrl;
  else document.getElementById("out").textContent = "failed: " + JSON.stringify(body);
});
</script></body></html>"""

SUCCESS_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Payment success</title></head>
<body><main id="out" data-state="loading">loading</main>
<script>
const config = __CONFIG__;
// The design's payment/success/page.tsx: getSessionByStripeId, then the enrollment.
(async () => {
  const headers = { Authorization: `Bearer ${config.token}` };
  const sessionId = new URLSearchParams(window.location.search).get("session_id");
  const found = await fetch(`${config.apiBaseUrl}/payments/sessions/stripe/${sessionId}`, { headers });
  const result = await found.json();
  const enrolled = await fetch(`${config.apiBaseUrl}/enrollments/course/${result.session.courseId}`, { headers });
  const enrollment = await enrolled.json();
  window.__read = { sessionStatus: found.status, result, enrollmentStatus: enrolled.status, enrollment };
  const out = document.getElementById("out");
  out.dataset.state = "done";
  out.dataset.sessionStatus = result.session.status;
  out.dataset.enrollmentId = enrollment.id;
  out.textContent = `Payment ${result.session.status}; enrolled (${enrollment.status}) in ${enrollment.course.title}`;
})().catch((error) => {
  const out = document.getElementById("out");
  out.dataset.state = "error";
  out.textContent = String(error);
});
</script></body></html>"""


class FrontEnd:
    """A static front end on its own port: `/checkout`, `/payment/success`, `/payment/cancel`."""

    def __init__(self, port: int, config: dict):
        self.url = f"http://127.0.0.1:{port}"
        self.config = config
        self.hits: list[str] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                front.hits.append(self.path)
                path = self.path.split("?", 1)[0]
                pages = {"/checkout": CHECKOUT_PAGE, "/payment/success": SUCCESS_PAGE}
                html = pages.get(path, "<!doctype html><main id='out'>payment cancelled</main>")
                body = html.replace("__CONFIG__", json.dumps(front.config)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def front_port() -> int:
    return free_port()


@pytest.fixture
def app_config(front_port) -> dict:
    front = f"http://127.0.0.1:{front_port}"
    # As an operator configures it: FRONTEND_URL only (authorized parties default to it).
    return {**FAST_STRIPE, "FRONTEND_URLS": [front], "FRONTEND_URL": front, "CLERK_AUTHORIZED_PARTIES": []}


@pytest.fixture
def api_requests(live_app) -> list[tuple[str, str, str | None]]:
    """(method, path, Origin) of every request the app serves, preflights included."""
    seen: list[tuple[str, str, str | None]] = []
    inner = live_app.wsgi_app

    def recording(environ, start_response):
        seen.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), environ.get("HTTP_ORIGIN")))
        return inner(environ, start_response)

    live_app.wsgi_app = recording
    return seen


@pytest.fixture
def served(live_app, live_port, api_requests):
    server = LiveServer(live_app, live_port)
    yield server
    server.stop()


def test_the_design_front_end_buys_a_course_from_another_origin(
    live_app, served, api_requests, front_port, page, output_dir
):
    course_id = make_course(live_app, "python-payments", price=4999, title="Python for Payments", total_lectures=12)
    front_url = f"http://127.0.0.1:{front_port}"
    with live_app.app_context():
        token = front_end_token(live_app, "spa_learner", front_url)
    front = FrontEnd(
        front_port,
        {"apiBaseUrl": f"{served.url}/api", "token": token, "courseId": course_id, "frontendUrl": front_url},
    )
    try:
        page.goto(f"{front_url}/checkout")
        page.click("#buy")
        page.wait_for_url(re.compile(r".*/_sandbox/stripe/pay/cs_test_.*"))
        shot(page, output_dir, "front-end-1-sandbox-page")

        page.fill("#card_number", "4242 4242 4242 4242")
        page.get_by_role("button", name=re.compile("Pay")).click()
        page.wait_for_url(re.compile(re.escape(front_url) + r"/payment/success\?session_id=cs_test_.*"))
        page.wait_for_selector("#out[data-state=done], #out[data-state=error]")
        shot(page, output_dir, "front-end-2-success")

        out = page.locator("#out")
        assert out.get_attribute("data-state") == "done", out.inner_text()
        assert out.get_attribute("data-session-status") == "COMPLETED"
        read = page.evaluate("window.__read")
        # The create call's answer, kept by the checkout page in its origin's sessionStorage.
        created = json.loads(page.evaluate("sessionStorage.getItem('created')"))
    finally:
        front.stop()

    # The create call: 201, the design's answer, a request id the cross-origin page could read.
    assert created["status"] == 201 and created["body"]["success"] is True and created["body"]["reused"] is False
    assert created["requestId"]
    session = created["body"]["session"]
    assert (session["couponCode"], session["finalAmount"]) == (None, 4999)
    assert session["metadata"] == {"totalAmount": 4999, "itemCount": 1}

    # The success page's reads: {success, session} by Stripe id, then the enrollment.
    assert read["sessionStatus"] == 200 and read["result"]["success"] is True
    assert read["result"]["session"]["id"] == session["id"]
    assert read["result"]["session"]["stripeSessionId"] in page.url
    assert read["enrollmentStatus"] == 200
    (enrollment,) = enrollments(live_app, user_id="spa_learner")
    assert read["enrollment"]["id"] == enrollment.id == read["result"]["session"]["enrollmentId"]
    assert read["enrollment"]["paymentId"] == session["id"] and read["enrollment"]["enrollmentSource"] == "PAID"
    assert out.get_attribute("data-enrollment-id") == enrollment.id

    # Chromium preflighted every authenticated call from the front end's origin.
    from_front = [(method, path) for method, path, origin in api_requests if origin == front_url]
    for call in ("/api/payments/sessions", f"/api/payments/sessions/stripe/{session['stripeSessionId']}"):
        assert ("OPTIONS", call) in from_front, from_front
    assert ("POST", "/api/payments/sessions") in from_front
    assert ("GET", f"/api/enrollments/course/{course_id}") in from_front
    assert "/payment/success?session_id=" + session["stripeSessionId"] in front.hits
