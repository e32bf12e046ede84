"""Graceful stop of one service (SIGTERM): it stops taking connections at once,
reports OUT_OF_SERVICE on the connections it still has, finishes the requests
in flight with their real answer, publishes what its outbox holds, and exits 0.
"""
import http.client
import json
import signal
import threading

import hc
from hc import booking
from test_functional import day, fake_servers, forward, wait_mypage, wait_order  # noqa: F401
from test_one_history import check_bookings


def test_sigterm_finishes_a_booking_waiting_on_payment(make_system, fake_servers):
    """Regression: SIGTERM stopped the HTTP server at once, cutting the booking
    that was waiting on payment: its client got no answer although the order was
    about to be PAID. Now the booking gets its 201, the order's events are on
    the bus before the process exits, and new connections are refused from the
    moment the signal arrives."""
    charging, release = threading.Event(), threading.Event()

    def handler(method, path, headers, body):
        if method == "POST" and path == "/paymentHistories":
            charging.set()
            while not (release.is_set() or fake.stopping.is_set()):
                release.wait(0.05)  # hold the charge until the service is draining
        return forward(s.base("payment"), method, path, headers, body)

    fake = fake_servers(handler)
    s = make_system(HC_SHUTDOWN_GRACE_MS="20000")
    s.env["HC_PAYMENT_URL"] = fake.url
    s.start_services()
    # A kept-alive connection opened before the signal, to watch readiness.
    probe = http.client.HTTPConnection("127.0.0.1", s.ports["order"], timeout=10)
    probe.request("GET", "/health/ready")
    first = probe.getresponse()
    first.read()
    assert first.status == 200

    answer = {}

    def book():
        answer["r"] = s.order.post("/orders", booking(checkupDate=day(20)), timeout=30)

    t = threading.Thread(target=book)
    t.start()
    assert charging.wait(10), "the booking never reached payment"
    order = s.procs["order"]
    order.signal(signal.SIGTERM)

    # Readiness on the open connection: OUT_OF_SERVICE, and the connection closes.
    errors = []

    def out_of_service():
        try:
            probe.request("GET", "/actuator/health")
            r = probe.getresponse()
            body = json.loads(r.read())
        except Exception as e:
            errors.append(repr(e))
            raise
        return r, body

    # The signal is handled asynchronously: poll on the same connection until
    # the service reports it (UP answers keep the connection open).
    r, body = hc.wait_until(lambda: (lambda rb: rb if rb[1]["status"] != "UP" else None)(out_of_service()),
                            what="order to report the signal on its open connection %r" % errors)
    assert r.status == 503 and body["status"] == "OUT_OF_SERVICE", body
    assert body["components"]["readiness"]["status"] == "OUT_OF_SERVICE", body
    assert (r.getheader("Connection") or "").lower() == "close", r.getheaders()
    probe.close()
    # No new connections while draining.
    try:
        hc.request("GET", s.base("order") + "/health/live", timeout=2)
        raise AssertionError("order accepted a new connection while draining")
    except (ConnectionRefusedError, ConnectionResetError):
        pass
    assert order.alive(), "order exited with a booking in flight"

    release.set()
    t.join(30)
    r = answer["r"]
    assert r.status == 201 and r.json["status"] == "PAID", r
    assert order.wait(20) == 0, hc.tail(order.log_path, 30)
    oid = r.json["id"]
    # Order's outbox reached the bus before it exited: mypage shows the booking
    # although order is down. (Order may or may not have taken reservation's
    # answer before it exited, so the booking is PAID or already REQUESTED.)
    def on_mypage():
        r = s.notification.get("/mypages/%d" % oid)
        return r.json if r.status == 200 and r.json["status"] in ("PAID", "REQUESTED") else None
    hc.wait_until(on_mypage, what="mypage of order %d while order is down" % oid)
    s.restart("order")
    wait_order(s.order, oid, "REQUESTED")
    wait_mypage(s.notification, oid, "REQUESTED")
    check_bookings(s, [oid])


def test_sigterm_without_requests_exits_at_once(make_system):
    """An idle service stops without waiting for the grace period."""
    s = make_system(HC_SHUTDOWN_GRACE_MS="600000")
    s.start_services()
    proc = s.procs["payment"]
    proc.signal(signal.SIGTERM)
    assert proc.wait(10) == 0, hc.tail(proc.log_path, 30)
