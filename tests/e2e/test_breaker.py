"""The circuit breaker and the bulkhead around order's calls to payment
(docs/breaker.md), end to end: payment paused with SIGSTOP opens the breaker,
which then answers 503 at once, stores, charges and announces nothing, shows
OPEN on /actuator/health and /metrics, and closes by itself once payment is
back (SIGCONT); slow answers open it too; a decline is an answer, not a
failure; the bulkhead refuses payment calls beyond its places at once, so that
reads and probes keep answering while payment hangs.

Real processes and real HTTP. Timing is asserted only with wide margins: an
answer "at once" must come well within the call timeout the test sets."""

import http.client
import http.server
import json
import os
import signal
import threading
import time

import hc
from hc import wait_until

TIMEOUT_MS = 1500  # the order->payment call timeout of these tests
FAST_S = TIMEOUT_MS / 1000.0 / 2  # "at once": well within the call timeout
WAIT_S = 6  # how long the breaker stays open: ample for the checks made meanwhile

# A breaker that judges 4 calls and tries 2 after its wait: quick to drive.
SMALL_BREAKER = {
    "HC_PAYMENT_TIMEOUT_MS": str(TIMEOUT_MS),
    "HC_PAYMENT_CB_SLIDING_WINDOW_SIZE": "4",
    "HC_PAYMENT_CB_MINIMUM_NUMBER_OF_CALLS": "4",
    "HC_PAYMENT_CB_FAILURE_RATE_THRESHOLD": "50",
    "HC_PAYMENT_CB_WAIT_DURATION_IN_OPEN_STATE_MS": str(WAIT_S * 1000),
    "HC_PAYMENT_CB_PERMITTED_NUMBER_OF_CALLS_IN_HALF_OPEN_STATE": "2",
}

PAY_LATER = "payment is busy or unavailable; nothing was charged. Please pay a little later."
REFUND_LATER = ("the refund could not be made right now; the booking is unchanged."
                " Please try again a little later.")


# --------------------------------------------------------------------------- helpers


def timed(fn):
    """(result of fn(), seconds it took)."""
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


def breaker(s):
    """The payment breaker as order's /actuator/health shows it: (component, details)."""
    r = s.order.get("/actuator/health")
    comp = r.json["components"]["circuitBreakers"]
    return r, comp, comp["details"]["payment"]


def metric(s, metric_name, **labels):
    """The value of one series of order's /metrics (None when absent)."""
    for n, lab, v in s.metrics("order"):
        if n == metric_name and all(lab.get(k) == v2 for k, v2 in labels.items()):
            return v
    return None


def breaker_state(s):
    """The state whose resilience4j_circuitbreaker_state series is 1."""
    on = [lab["state"] for n, lab, v in s.metrics("order")
          if n == "resilience4j_circuitbreaker_state" and lab.get("name") == "payment" and v == 1]
    assert len(on) == 1, on
    return on[0]


def orders(s):
    return s.order.items("/orders?size=1000", "orders")


def assert_refused(r, message=PAY_LATER, max_retry_after=60):
    """A 503 payment_unavailable with the customer message and a Retry-After
    of 1..max_retry_after seconds."""
    assert r.status == 503, r
    assert r.json["error"] == "payment_unavailable", r
    assert r.json["message"] == message, r
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= max_retry_after, r.headers
    return retry


def paused(s, name):
    """Context: process `name` stopped with SIGSTOP, always continued after."""
    class Paused:
        def __enter__(self):
            s.procs[name].signal(signal.SIGSTOP)
            return self

        def __exit__(self, *exc):
            s.procs[name].signal(signal.SIGCONT)
            return False
    return Paused()


def in_threads(n, fn):
    """Runs fn(i) for i in range(n) on n threads at once; returns the results
    and the seconds each took."""
    out = [None] * n

    def go(i):
        out[i] = timed(lambda: fn(i))
    ts = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert all(not t.is_alive() for t in ts), "a request hung"
    return out


def events(s):
    """Every event on the bus, oldest first."""
    return hc.bus_events(s)


def no_charge_left(s, oids):
    """Every payment of these orders is refunded (or there is none)."""
    for oid in oids:
        pays = s.payment.items("/paymentHistories?orderId=%d" % oid, "paymentHistories")
        if any(p["status"] != "CANCELED" for p in pays):
            return False
    return True


# --------------------------------------------------------------------------- the breaker


def test_paused_payment_opens_the_breaker_which_answers_at_once_and_closes_by_itself(make_system):
    s = make_system(**SMALL_BREAKER)
    s.start_services()
    first = s.order.post("/orders", hc.booking(cardNo=hc.card_number(1)))
    assert first.status == 201, first
    oid0 = first.json["id"]
    r, comp, cb = breaker(s)
    assert r.status == 200 and r.json["status"] == "UP", r
    assert comp["status"] == "UP" and cb["state"] == "CLOSED", comp
    assert cb["failureRate"] == "-1.0%" and cb["failureRateThreshold"] == "50.0%", cb
    assert breaker_state(s) == "closed"

    with paused(s, "payment"):
        # 1. Calls fail slowly (the call timeout) until the window judges them.
        slow = in_threads(4, lambda i: s.order.post(
            "/orders", hc.booking(cardNo=hc.card_number(10 + i)), timeout=30))
        for r, took in slow:
            assert_refused(r)
            assert took >= TIMEOUT_MS / 1000.0 * 0.9, "failed before the call timeout: %.2fs" % took
        failed_ids = {o["id"] for o in orders(s)} - {oid0}
        assert len(failed_ids) == 4, orders(s)
        r, comp, cb = breaker(s)
        assert cb["state"] == "OPEN" and comp["status"] == "CIRCUIT_OPEN", comp
        # The window of 4 holds the first booking's answer and the first three
        # timeouts: 75 % opened it; the fourth ended in OPEN and is not counted.
        assert cb["failureRate"] == "75.0%" and cb["bufferedCalls"] == 4, cb
        assert cb["failedCalls"] == 3 and cb["slowFailedCalls"] == 3, cb
        # /metrics shows the same window; read now, while the breaker is open
        # for certain (after WAIT_S a request moves it to HALF_OPEN, which
        # starts a new window).
        assert breaker_state(s) == "open"
        assert metric(s, "resilience4j_circuitbreaker_failure_rate", name="payment") == 75.0
        assert metric(s, "resilience4j_circuitbreaker_buffered_calls", name="payment",
                      kind="failed") == 3
        # An open breaker is not a sick order: ready and UP.
        assert r.status == 200 and r.json["status"] == "UP", r
        assert s.order.get("/health/ready").status == 200

        # 2. Open: refused at once, nothing stored, nothing charged, no event.
        refused = 0
        for i in range(5):
            headers = {"Idempotency-Key": "cb-retry"} if i == 0 else None
            r, took = timed(lambda: s.order.post(
                "/orders", hc.booking(cardNo=hc.card_number(20 + i)), headers=headers))
            assert_refused(r, max_retry_after=WAIT_S)
            assert took < FAST_S, "an open breaker took %.2fs to refuse" % took
            assert "order" not in r.json, r
            refused += 1
        assert {o["id"] for o in orders(s)} == failed_ids | {oid0}
        # A refund is refused the same way; the booking is unchanged.
        r, took = timed(lambda: s.order.delete("/orders/%d" % oid0))
        assert_refused(r, REFUND_LATER, max_retry_after=WAIT_S)
        assert took < FAST_S, took
        refused += 1
        assert s.order.get("/orders/%d" % oid0).json["status"] in ("PAID", "REQUESTED")
        # Every refusal above was the breaker's (counted as not permitted); the
        # state itself may have moved on to HALF_OPEN by now on a slow machine.
        _, comp, cb = breaker(s)
        assert cb["notPermittedCalls"] >= refused, cb
        assert metric(s, "resilience4j_circuitbreaker_not_permitted_calls_total",
                      name="payment") >= refused

    # 3. Payment is back. After the wait the breaker tries again (HALF_OPEN)
    # and its trial calls close it: bookings succeed, with no one resetting it.
    seen = []

    def booked():
        r = s.order.post("/orders", hc.booking(cardNo=hc.card_number(40 + len(seen))))
        seen.append(r.status)
        if r.status == 503:
            assert_refused(r, max_retry_after=WAIT_S)
        return r if r.status == 201 else None
    trial = wait_until(booked, timeout=30, what="a booking after SIGCONT")
    assert set(seen[:-1]) <= {503}, seen
    second = s.order.post("/orders", hc.booking(cardNo=hc.card_number(99)))
    assert second.status == 201, second
    r, comp, cb = breaker(s)
    assert cb["state"] == "CLOSED" and comp["status"] == "UP", comp
    assert breaker_state(s) == "closed"
    # A refused booking's key was not kept: it books now.
    again = s.order.post("/orders", hc.booking(cardNo=hc.card_number(20)),
                         headers={"Idempotency-Key": "cb-retry"})
    assert again.status == 201 and "Idempotent-Replayed" not in again.headers, again
    cancel = s.order.delete("/orders/%d" % oid0)
    assert cancel.status == 200 and cancel.json["status"] == "CANCELED", cancel

    # Nothing stored for the refused: the orders are exactly those answered.
    answered = {oid0, trial.json["id"], second.json["id"], again.json["id"]} | failed_ids
    assert {o["id"] for o in orders(s)} == answered
    s.wait_idle()
    # Every event and every payment belongs to one of them; the ones that
    # timed out while payment was paused keep no charge.
    for e in events(s):
        assert int(e["orderId"]) in answered, e
    for p in s.payment.items("/paymentHistories?size=1000", "paymentHistories"):
        assert p["orderId"] in answered, p
    wait_until(lambda: no_charge_left(s, failed_ids | {oid0}),
               what="no charge left for the failed and the canceled bookings")


class DelayingProxy:
    """A real HTTP proxy to payment on a free port that holds every POST for
    delay seconds before forwarding it (a slow payment that still answers)."""

    def __init__(self, target, delay):
        outer = self
        self.target = target

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "POST":
                    time.sleep(delay)  # the injected slowness, not a wait for a result
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() in ("content-type", "traceparent")
                        or k.lower().startswith("x-hc-")}
                r = hc.request(self.command, outer.target + self.path, raw=body or None,
                               headers=hdrs, timeout=30)
                self.send_response(r.status)
                self.send_header("Content-Type", r.headers.get("Content-Type") or "application/json")
                self.send_header("Content-Length", str(len(r.raw)))
                self.end_headers()
                self.wfile.write(r.raw)

            do_GET = do_POST = _any

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def test_slow_answers_open_the_breaker_without_any_failure(make_system):
    env = dict(SMALL_BREAKER, HC_PAYMENT_TIMEOUT_MS="5000",
               HC_PAYMENT_CB_SLOW_CALL_DURATION_THRESHOLD_MS="200",
               HC_PAYMENT_CB_SLOW_CALL_RATE_THRESHOLD="50",
               HC_PAYMENT_CB_WAIT_DURATION_IN_OPEN_STATE_MS="60000")
    s = make_system(**env)
    proxy = DelayingProxy(s.base("payment"), 0.4)
    try:
        s.env["HC_PAYMENT_URL"] = proxy.url
        s.start_services()
        for i in range(4):
            r, took = timed(lambda: s.order.post("/orders", hc.booking(cardNo=hc.card_number(i))))
            assert r.status == 201, r  # answered, only slowly
            assert took >= 0.4, took
        _, comp, cb = breaker(s)
        assert cb["state"] == "OPEN", comp
        assert cb["failedCalls"] == 0 and cb["slowCalls"] == 4, cb
        assert cb["slowCallRate"] == "100.0%" and cb["failureRate"] == "0.0%", cb
        r, took = timed(lambda: s.order.post("/orders", hc.booking(cardNo=hc.card_number(9))))
        retry = assert_refused(r)
        assert 50 <= retry <= 60, r.headers  # the 60 s wait, less what has passed
        assert took < 0.4, "refused after %.2fs: it called the slow payment" % took
        assert len(orders(s)) == 4
    finally:
        proxy.close()


def test_a_declined_card_is_an_answer_not_a_failure(make_system):
    s = make_system(**SMALL_BREAKER)
    s.start_services()
    for i in range(6):
        r = s.order.post("/orders", hc.booking(cardNo=hc.DECLINED_CARD, phone="010-3333-%04d" % i))
        assert r.status == 402, r
    _, comp, cb = breaker(s)
    assert cb["state"] == "CLOSED" and cb["bufferedCalls"] == 4, cb
    assert cb["failedCalls"] == 0 and cb["failureRate"] == "0.0%", cb
    assert s.order.post("/orders", hc.booking()).status == 201


# --------------------------------------------------------------------------- the bulkhead


def test_bulkhead_refuses_extra_payment_calls_so_reads_keep_answering(make_system):
    """Order serves at most 8 connections. Payment hangs (SIGSTOP) and 8
    bookings arrive at once: without a bulkhead they would hold all 8
    connections until the payment timeout and every read and probe would be
    turned away. With 3 places, 5 are refused at once and their connections
    are free again: GET /orders/{id}, /health/ready and /metrics answer in
    milliseconds while 3 bookings still wait for payment."""
    s = make_system(HC_HTTP_MAX_CONNECTIONS="8", HC_PAYMENT_BULKHEAD_MAX_CONCURRENT_CALLS="3",
                    HC_PAYMENT_TIMEOUT_MS="20000", HC_PENDING_RECOVERY_MS="60000")
    s.start_services()
    first = s.order.post("/orders", hc.booking(cardNo=hc.card_number(1)))
    assert first.status == 201, first
    oid0 = first.json["id"]
    assert metric(s, "resilience4j_bulkhead_max_allowed_concurrent_calls", name="payment") == 3
    assert metric(s, "resilience4j_bulkhead_available_concurrent_calls", name="payment") == 3

    results = [None] * 8
    with paused(s, "payment"):
        def book(i):
            # A connection the server turned away on accept (a previous
            # client's slot not yet freed) never reached a handler: retry it.
            deadline = time.monotonic() + 10
            while True:
                try:
                    results[i] = timed(lambda: s.order.post(
                        "/orders", hc.booking(cardNo=hc.card_number(10 + i)), timeout=60))
                    return
                except (OSError, http.client.HTTPException):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)  # pacing between attempts
        threads = [threading.Thread(target=book, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        # The five beyond the bulkhead come back at once, while three wait.
        done = wait_until(lambda: (lambda d: d if len(d) >= 5 else None)(
            [r for r in results if r is not None]), timeout=15, what="5 bookings refused")
        assert len(done) == 5, results
        for r, took in done:
            assert r.status == 503, r
            assert_refused(r, max_retry_after=1)
            assert took < 5.0, "the bulkhead took %.2fs to refuse" % took
        # Reads and probes answer promptly while three bookings hold payment.
        for _ in range(5):
            for path in ("/orders/%d" % oid0, "/health/ready", "/health/live", "/metrics",
                         "/actuator/health"):
                r, took = timed(lambda: s.order.get(path, timeout=10))
                assert r.status == 200, (path, r)
                assert took < 1.0, "%s took %.2fs while payment hung" % (path, took)
        assert metric(s, "resilience4j_bulkhead_available_concurrent_calls", name="payment") == 0
        assert metric(s, "hc_bulkhead_rejected_calls_total", name="payment") == 5
        # One more booking, and a refund, are refused at once too.
        r, took = timed(lambda: s.order.post("/orders", hc.booking(cardNo=hc.card_number(30))))
        assert_refused(r, max_retry_after=1)
        r, took = timed(lambda: s.order.delete("/orders/%d" % oid0))
        assert_refused(r, REFUND_LATER, max_retry_after=1)
        assert took < 1.0, took
        # The refused stored nothing: the first booking and the three waiting.
        assert len(orders(s)) == 4
        assert all(results[i] is None or results[i][0].status == 503 for i in range(8))
    # Payment is back: the three waiting bookings complete, the places free up.
    wait_until(lambda: all(r is not None for r in results), timeout=30,
               what="the waiting bookings answered")
    assert sorted(r.status for r, _ in results) == [201] * 3 + [503] * 5, results
    wait_until(lambda: metric(s, "resilience4j_bulkhead_available_concurrent_calls",
                              name="payment") == 3, what="bulkhead places back")
    r = s.order.post("/orders", hc.booking(cardNo=hc.card_number(40)))
    assert r.status == 201, r
    _, comp, cb = breaker(s)
    assert cb["state"] == "CLOSED" and cb["failedCalls"] == 0, cb  # refusals are not failures
