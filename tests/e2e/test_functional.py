"""Functional requirements end to end, one or more tests each: catalog and
availability, booking validation and payment failures, capacity, the admin's
confirm/reject, cancellation, order status, mypage, SMS (log and HTTP
providers), idempotency, correlation, and the seed README's requests.

Real processes, real HTTP; fakes only where the outside world is needed (an
SMS API, a slow payment link) and then as real HTTP servers on free ports."""

import datetime
import http.client
import http.server
import json
import os
import re
import socket
import threading

import pytest

import hc
from hc import wait_until

SMS_KEY = "test-sms-key-7f3a"


# --------------------------------------------------------------------------- helpers


def day(n):
    """today (Asia/Seoul) + n days as YYYY-MM-DD."""
    return (hc.today_seoul() + datetime.timedelta(days=n)).isoformat()


def book(c, headers=None, **overrides):
    """POST /orders with a valid booking (overrides applied) on client c."""
    return c.post("/orders", hc.booking(**overrides), headers=headers)


def booked(c, **overrides):
    """Books and asserts 201; returns the order."""
    r = book(c, **overrides)
    assert r.status == 201, r
    return r.json


def get_json(c, path, status=200):
    r = c.get(path)
    assert r.status == status, "GET %s -> %r" % (path, r)
    return r.json


def wait_status(c, path, status, what=None, field="status"):
    """Waits until GET path answers 200 with json[field] == status; returns the json."""
    def check():
        r = c.get(path)
        return r.json if r.status == 200 and r.json.get(field) == status else None
    return wait_until(check, what=what or "%s %s=%s" % (path, field, status))


def wait_order(c, oid, status):
    return wait_status(c, "/orders/%d" % oid, status)


def wait_mypage(c, oid, status):
    return wait_status(c, "/mypages/%d" % oid, status)


def reservation_of(c, oid):
    rs = c.items("/reservations?orderId=%d" % oid, "reservations")
    assert len(rs) <= 1, rs
    return rs[0] if rs else None


def wait_reservation(c, oid, status="REQUESTED"):
    def check():
        r = reservation_of(c, oid)
        return r if r and r["status"] == status else None
    return wait_until(check, what="reservation of order %d %s" % (oid, status))


def payments_of(c, oid):
    return c.items("/paymentHistories?orderId=%d" % oid, "paymentHistories")


def sms_of(c, oid):
    return c.items("/notifications?orderId=%d&size=100" % oid, "notifications")


def wait_sms(c, oid, statuses, delivered=("QUEUED", "SENT")):
    """Waits until order oid has SMS for exactly these statuses; returns them."""
    want = sorted(statuses)

    def check():
        n = sms_of(c, oid)
        return n if sorted(x["orderStatus"] for x in n) == want else None
    msgs = wait_until(check, what="SMS %s for order %d" % (want, oid))
    for m in msgs:
        assert m["deliveryStatus"] in delivered, m
    return msgs


def slot(c, center, date):
    """The {date, capacity, booked, remaining} of one center day, via the range query."""
    r = c.get("/centers/%d/slots?from=%s&to=%s" % (center, date, date))
    assert r.status == 200, r
    items = r.json["_embedded"]["slots"]
    assert len(items) == 1 and items[0]["date"] == date, items
    return slot_fields(items[0], center)


def slot_fields(item, center):
    """A listed slot's {date, capacity, booked, remaining}, after checking that
    it is a resource of its own (centerId, _links.self to the single-day URL)."""
    item = dict(item)
    assert item.pop("centerId") == center, item
    links = item.pop("_links")
    assert links["self"]["href"].endswith("/centers/%d/slots/%s" % (center, item["date"])), links
    return item


def wait_slot(c, center, date, booked):
    return wait_until(lambda: (lambda s: s if s["booked"] == booked else None)(slot(c, center, date)),
                      what="slot %d/%s booked=%d" % (center, date, booked))


def events(system, oid=None):
    """The events on the bus (all, or those of order oid), oldest first."""
    return hc.bus_events(system, oid)


def event_types(system, oid):
    return [e["eventType"] for e in events(system, oid)]


def error(r, status, code):
    assert r.status == status, r
    assert isinstance(r.json, dict) and r.json.get("error") == code, r
    assert r.json.get("message"), r
    return r.json


def field_names(err):
    return {f["field"] for f in err.get("fields") or []}


def all_log_bytes(system):
    """Every byte written to any log file under the data dir (service logs and
    the gateway's)."""
    out = b""
    for root in (system.log_dir, system.run_dir):
        for dirpath, _, files in os.walk(root):
            for f in files:
                if f.endswith(".log") or "log" in dirpath:
                    try:
                        with open(os.path.join(dirpath, f), "rb") as fh:
                            out += fh.read()
                    except OSError:
                        pass
    return out


def assert_card_never_logged(system, card):
    blob = all_log_bytes(system)
    assert blob, "no log output at all"
    for form in (card, "-".join(card[i:i + 4] for i in range(0, len(card), 4)),
                 " ".join(card[i:i + 4] for i in range(0, len(card), 4))):
        assert form.encode() not in blob, "full card number %s in a log file" % form


HANGUL = re.compile("[\uac00-\ud7a3]")


# --------------------------------------------------------------------------- fake HTTP servers


class FakeServer:
    """A real HTTP server on 127.0.0.1 (free port) in background threads.

    handler(method, path, headers, body_bytes) -> (status, body_bytes); every
    request is recorded in .requests as (method, path, headers dict, body).
    """

    def __init__(self, handler):
        self.handler = handler
        self.requests = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                hdrs = {k.lower(): v for k, v in self.headers.items()}
                with outer._lock:
                    outer.requests.append((self.command, self.path, hdrs, body))
                try:
                    status, payload, ctype = outer.handler(self.command, self.path, hdrs, body)
                except Exception as e:  # noqa: BLE001 - a broken fake answers 599
                    status, payload, ctype = 599, repr(e).encode(), "text/plain"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout): fine
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        assert self.port not in hc.RESERVED_PORTS
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def fake_servers():
    """Factory of FakeServers, all stopped at teardown."""
    made = []

    def make(handler):
        s = FakeServer(handler)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


def forward(base, method, path, headers, body, timeout=10):
    """Forwards one request to base; returns (status, body bytes, content type)."""
    hdrs = {k: v for k, v in headers.items()
            if k in ("content-type", "traceparent", "idempotency-key")
            or k.startswith("x-hc-")}  # the caller's signature (order's, for a charge)
    r = hc.request(method, base + path, raw=body or None, headers=hdrs, timeout=timeout)
    return r.status, r.raw, r.headers.get("Content-Type") or "application/json"


# =========================================================================== 1. catalog


def test_packages_and_centers_catalog(system):
    g = system.gateway
    pk = get_json(g, "/packages")
    items = {p["code"]: p for p in pk["_embedded"]["packages"]}
    assert set(items) >= {"basic", "prime"}, items
    assert items["basic"]["price"] == 50000 and items["prime"]["price"] == 150000, items
    for p in items.values():
        assert isinstance(p["price"], int) and p["name"], p
        assert p["_links"]["self"]["href"].endswith("/packages/%s" % p["code"]), p
    assert pk["page"]["totalElements"] == len(items)
    assert get_json(g, "/packages/prime")["price"] == 150000

    centers = {c["id"]: c for c in get_json(g, "/centers")["_embedded"]["centers"]}
    assert 1 in centers, centers
    assert centers[1]["name"] == "Test Center" and centers[1]["dailyCapacity"] == 1000, centers
    assert centers[2]["dailyCapacity"] == 1000
    assert centers[1]["_links"]["self"]["href"].endswith("/centers/1")
    assert get_json(g, "/centers/1")["id"] == 1
    error(g.get("/centers/99"), 404, "not_found")


def test_default_center_without_configuration(make_system):
    """No HC_CENTERS at all: center 1 exists with the built-in capacity."""
    s = make_system(HC_CENTERS=None)
    s.start_services()
    centers = {c["id"]: c for c in s.reservation.items("/centers", "centers")}
    assert 1 in centers and centers[1]["dailyCapacity"] > 0, centers
    d = day(5)
    assert slot(s.reservation, 1, d)["capacity"] == centers[1]["dailyCapacity"]


def test_slot_capacity_override_and_availability(system):
    g = system.gateway
    d1, d2, d3 = day(10), day(11), day(12)
    r = g.get("/centers/1/slots?from=%s&to=%s" % (d1, d3))
    assert r.status == 200, r
    slots = r.json["_embedded"]["slots"]
    assert [s["date"] for s in slots] == [d1, d2, d3]
    for s in slots:
        s = slot_fields(s, 1)
        assert s == {"date": s["date"], "capacity": 1000, "booked": 0, "remaining": 1000}, s

    r = g.put("/centers/1/slots/%s" % d2, {"capacity": 3})
    assert r.status == 200, r
    assert (r.json["date"], r.json["capacity"], r.json["booked"], r.json["remaining"]) == (d2, 3, 0, 3)
    assert slot(g, 1, d2) == {"date": d2, "capacity": 3, "booked": 0, "remaining": 3}
    assert slot(g, 1, d1)["capacity"] == 1000 and slot(g, 1, d3)["capacity"] == 1000
    assert slot(g, 2, d2)["capacity"] == 1000, "the override leaked to another center"

    # Bookings move booked/remaining; other days and centers stay.
    o1 = booked(g, checkupDate=d2)
    wait_slot(g, 1, d2, 1)
    assert slot(g, 1, d2) == {"date": d2, "capacity": 3, "booked": 1, "remaining": 2}
    booked(g, checkupDate=d2, centerId=2)
    wait_slot(g, 2, d2, 1)
    assert slot(g, 1, d2)["booked"] == 1
    assert slot(g, 1, d1)["booked"] == 0 and slot(g, 1, d3)["booked"] == 0
    # Lowering the capacity below the bookings keeps them and closes the day.
    r = g.put("/centers/1/slots/%s" % d2, {"capacity": 0})
    assert (r.status, r.json["booked"], r.json["remaining"]) == (200, 1, 0), r
    assert reservation_of(g, o1["id"])["status"] == "REQUESTED"
    # Raising the capacity keeps the bookings.
    r = g.put("/centers/1/slots/%s" % d2, {"capacity": 5})
    assert (r.status, r.json["booked"], r.json["remaining"]) == (200, 1, 4), r
    # A cancellation gives the place back.
    assert g.delete("/orders/%d" % o1["id"]).status == 200
    wait_slot(g, 1, d2, 0)
    assert slot(g, 1, d2)["remaining"] == 5

    # Bad capacity or date: 400, nothing changed.
    for body in ({"capacity": -1}, {"capacity": 100001}, {"capacity": "many"}, {"capacity": 1.5},
                 {}, {"capacity": None}):
        err = error(g.put("/centers/1/slots/%s" % d2, body), 400, "validation_failed")
        assert "capacity" in field_names(err), err
    error(g.put("/centers/1/slots/%s" % d2, raw=b"{oops", content_type="application/json"),
          400, "malformed_json")
    for bad in ("2026-13-01", "2026-02-30", "tomorrow", "20260101"):
        err = error(g.put("/centers/1/slots/%s" % bad, {"capacity": 1}), 400, "validation_failed")
        assert "date" in field_names(err), err
    error(g.put("/centers/99/slots/%s" % d2, {"capacity": 1}), 404, "not_found")
    assert slot(g, 1, d2) == {"date": d2, "capacity": 5, "booked": 0, "remaining": 5}

    # Bad dates are 400; a range ending before it starts has no days, and one
    # longer than 92 days is cut at 92 (as page sizes are capped).
    for q, f in (("from=x", "from"), ("to=2026-99-01", "to"), ("from=", "from")):
        err = error(g.get("/centers/1/slots?" + q), 400, "validation_failed")
        assert f in field_names(err), (q, err)
    assert get_json(g, "/centers/1/slots?from=%s&to=%s" % (d3, d1))["_embedded"]["slots"] == []
    long = get_json(g, "/centers/1/slots?from=%s&to=%s" % (d1, day(200)))
    assert len(long["_embedded"]["slots"]) == 92 and long["from"] == d1, long["to"]
    # The default range starts tomorrow.
    default = get_json(g, "/centers/1/slots")["_embedded"]["slots"]
    assert default[0]["date"] == day(1) and len(default) >= 7, default


def test_capacity_zero_closes_a_day(system):
    g = system.gateway
    d = day(13)
    assert g.put("/centers/1/slots/%s" % d, {"capacity": 0}).status == 200
    o = booked(g, checkupDate=d)
    wait_order(g, o["id"], "REJECTED")
    assert slot(g, 1, d) == {"date": d, "capacity": 0, "booked": 0, "remaining": 0}
    wait_until(lambda: payments_of(g, o["id"])[0]["status"] == "CANCELED", what="refund")


# =========================================================================== 2. booking validation


@pytest.mark.parametrize("field,value", [
    ("checkupDate", "past"),
    ("checkupDate", "today"),
    ("checkupDate", "beyond"),
    ("checkupDate", "2026-02-30"),
    ("checkupDate", "01/02/2027"),
    ("cardNo", "4111111111111113"),
    ("cardNo", "5500-0000-0000-0005"),  # Luhn fails (0004 would pass)
    ("orderType", "vip"),
    ("centerId", 99),
    ("phone", "010-1234"),
    ("phone", "+82 10 1234 5678"),
    ("phone", "031-123-4567"),
])
def test_field_level_400(system, field, value):
    value = {"past": day(-3), "today": day(0), "beyond": day(91)}.get(value, value)
    for c in (system.gateway, system.order):
        err = error(book(c, **{field: value}), 400, "validation_failed")
        assert field_names(err) == {field}, err
    assert hc.page_total(system.gateway.get("/orders")) == 0
    assert hc.page_total(system.gateway.get("/paymentHistories")) == 0


def test_horizon_edges_are_accepted(system):
    for d in (day(1), day(90)):
        o = booked(system.gateway, checkupDate=d)
        assert o["checkupDate"] == d


def test_card_and_phone_are_masked_everywhere(system):
    g = system.gateway
    card = hc.card_number(7, prefix="5", length=16)
    tp, trace_id = hc.traceparent()
    r = book(g, headers={"traceparent": tp}, cardNo=card, phone="010-9876-5432", name="김마스크")
    assert r.status == 201, r
    oid = r.json["id"]
    masked_card, masked_phone = "************" + card[-4:], "010-****-5432"

    def check(obj, where):
        text = json.dumps(obj, ensure_ascii=False)
        assert card not in text and card[:12] not in text, "%s shows the card: %s" % (where, text)
        assert "98765432" not in text and "9876" not in text, "%s shows the phone: %s" % (where, text)

    assert r.json["cardNo"] == masked_card and r.json["phone"] == masked_phone
    check(r.json, "POST /orders")
    wait_mypage(g, oid, "REQUESTED")
    # Confirm and cancel so every kind of answer and log line is produced.
    res = wait_reservation(g, oid)
    assert g.post("/reservations/%d/confirm" % res["id"]).status == 200
    wait_order(g, oid, "CONFIRMED")
    assert g.delete("/orders/%d" % oid).status == 200
    wait_sms(g, oid, ["PAID", "REQUESTED", "CONFIRMED", "CANCELED"])

    o = get_json(g, "/orders/%d" % oid)
    assert o["cardNo"] == masked_card and o["phone"] == masked_phone, o
    check(o, "GET /orders/{id}")
    check(get_json(g, "/orders?phone=010-9876-5432"), "GET /orders?phone=")
    for p in payments_of(g, oid):
        assert p["cardNo"] == masked_card, p
        check(p, "payment")
    check(get_json(g, "/paymentHistories/%d" % o["paymentId"]), "GET /paymentHistories/{id}")
    m = get_json(g, "/mypages/%d" % oid)
    assert m["phone"] == masked_phone, m
    check(m, "mypage")
    check(get_json(g, "/mypages?phone=01098765432"), "GET /mypages?phone=")
    for n in sms_of(g, oid):
        assert n["to"] == masked_phone, n
        check(n, "notification")
    check(get_json(g, "/reservations?orderId=%d" % oid), "reservations")
    check(get_json(g, "/cancellations?orderId=%d" % oid), "cancellations")
    system.wait_idle()
    assert_card_never_logged(system, card)
    assert_card_never_logged(system, hc.GOOD_CARD)


def test_declined_card_fails_without_charge_or_reservation(system):
    g = system.gateway
    r = book(g, cardNo=hc.DECLINED_CARD, phone="010-2222-3333")
    error(r, 402, "payment_declined")
    assert hc.DECLINED_CARD not in r.text
    order = r.json.get("order")
    assert order and order["status"] == "FAILED" and order["cardNo"].endswith("0002"), r
    oid = order["id"]
    assert get_json(g, "/orders/%d" % oid)["status"] == "FAILED"
    pays = payments_of(g, oid)
    assert all(p["status"] != "APPROVED" for p in pays), pays
    wait_mypage(g, oid, "FAILED")
    system.wait_idle()
    assert reservation_of(g, oid) is None
    assert hc.page_total(g.get("/reservations")) == 0
    assert [p["status"] for p in payments_of(g, oid)] in ([], ["DECLINED"])
    assert "PaymentApproved" not in event_types(system, oid)
    # A later booking with a good card works normally.
    o = booked(g)
    wait_order(g, o["id"], "REQUESTED")
    assert_card_never_logged(system, hc.DECLINED_CARD)


def test_payment_unreachable_is_503_and_nothing_charged(make_system):
    s = make_system()
    s.start_services()
    s.stop("payment")
    r = book(s.order, headers={"Idempotency-Key": "b-503"})
    error(r, 503, "payment_unavailable")
    assert re.fullmatch(r"\d+", r.headers.get("Retry-After") or ""), r.headers
    assert "later" in r.json["message"], r
    orders = s.order.items("/orders", "orders")
    assert len(orders) == 1 and orders[0]["status"] == "FAILED", orders
    oid = orders[0]["id"]
    s.restart("payment")
    s.wait_idle()
    assert payments_of(s.payment, oid) == [] or \
        [p["status"] for p in payments_of(s.payment, oid)] == ["CANCELED"]
    assert reservation_of(s.reservation, oid) is None
    # Payment is back: the retry with the same key goes through (a 503 is not
    # replayed: nothing was done).
    r = book(s.order, headers={"Idempotency-Key": "b-503"})
    assert r.status == 201 and r.json["id"] != oid, r
    wait_order(s.order, r.json["id"], "REQUESTED")


def book_failing_with_503(s, d):
    """Books day d on a fresh system whose payment link fails: expects 503
    payment_unavailable with Retry-After and returns the id of the one order,
    FAILED."""
    r = book(s.order, checkupDate=d)
    error(r, 503, "payment_unavailable")
    assert r.headers.get("Retry-After"), r.headers
    orders = s.order.items("/orders", "orders")
    assert len(orders) == 1 and orders[0]["status"] == "FAILED", orders
    return orders[0]["id"]


class DyingKeepAliveProxy:
    """A keep-alive HTTP proxy to payment on a free port. The first request
    that arrives on an already used connection is forwarded (so payment
    charges), and then the proxy stops listening and drops that connection
    without an answer: libcurl retries the request on a fresh connection,
    which is refused."""

    def __init__(self, target):
        self.target = target
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.died = threading.Event()
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        f = conn.makefile("rb")
        served = 0
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                method, path, _ = line.decode().split(" ", 2)
                headers = {}
                while True:
                    h = f.readline().decode()
                    if h in ("\r\n", ""):
                        break
                    k, v = h.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
                body = f.read(int(headers.get("content-length") or 0))
                st, payload, ct = forward(self.target, method, path, headers, body)
                if served and not self.died.is_set():
                    self.died.set()
                    self._stop_listening()
                    conn.close()
                    return
                served += 1
                conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                             % (st, ct.encode(), len(payload)) + payload)
        except OSError:
            return

    def _stop_listening(self):
        # shutdown() makes Linux refuse new connections at once, even while
        # the accept thread is blocked on the socket (close() alone would not).
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()

    def close(self):
        self._stop_listening()
        for c in self.conns:
            c.close()


def test_refused_retry_after_a_kept_alive_charge_is_compensated(make_system):
    """Regression: payment charged on a kept-alive connection that then died;
    libcurl retried on a fresh connection, was refused, and order took the
    refusal as "payment never acted": the order FAILED with no compensation,
    so the charge and the reserved place stayed. Now that outcome counts as
    unknown: refunded and released."""
    s = make_system()
    proxy = DyingKeepAliveProxy("http://127.0.0.1:%d" % s.ports["payment"])
    # Both bookings on one kept-alive connection to order: one order thread,
    # so its charges share one kept-alive connection to payment.
    conn = http.client.HTTPConnection("127.0.0.1", s.ports["order"], timeout=10)

    def book_kept_alive(**overrides):
        conn.request("POST", "/orders", body=json.dumps(hc.booking(**overrides)).encode(),
                     headers={"Content-Type": "application/json",
                              "Authorization": "Bearer " + hc.customer_token()})
        resp = conn.getresponse()
        payload = resp.read()
        return hc.Response(resp.status, resp.msg, json.loads(payload), payload)

    try:
        s.env["HC_PAYMENT_URL"] = proxy.url
        s.start_services()
        d = day(22)
        first = book_kept_alive(checkupDate=d)
        assert first.status == 201, first
        r = book_kept_alive(checkupDate=d)
        assert proxy.died.is_set(), "the second charge did not go over the kept-alive connection"
        error(r, 503, "payment_unavailable")
        oid = [o for o in s.order.items("/orders", "orders") if o["id"] != first.json["id"]][0]["id"]
        assert get_json(s.order, "/orders/%d" % oid)["status"] == "FAILED"
        # Payment did charge it; the compensation refunds it and frees the place.
        wait_until(lambda: [p["status"] for p in payments_of(s.payment, oid)] == ["CANCELED"],
                   what="the charge of order %d refunded" % oid)
        s.wait_idle()
        res = reservation_of(s.reservation, oid)
        assert res is None or res["status"] == "CANCELED", res
        assert slot(s.reservation, 1, d)["booked"] == 1
        wait_mypage(s.notification, oid, "FAILED")
    finally:
        conn.close()
        proxy.close()


def test_payment_too_slow_is_503_and_the_late_charge_is_refused(make_system, fake_servers):
    """The payment link hangs; order gives up after HC_PAYMENT_TIMEOUT_MS, fails
    the order and voids the orderId; the charge that arrives later is refused."""
    release = threading.Event()
    seen = {}
    s = make_system(HC_PAYMENT_TIMEOUT_MS="400")

    def handler(method, path, headers, body):
        if method == "POST" and path == "/paymentHistories":
            while not (release.is_set() or fake.stopping.is_set()):
                release.wait(0.05)  # hold the charge until the test lets it through
            st, payload, ct = forward(s.base("payment"), method, path, headers, body)
            seen["late_status"] = st
            return st, payload, ct
        return forward(s.base("payment"), method, path, headers, body)

    fake = fake_servers(handler)
    s.env["HC_PAYMENT_URL"] = fake.url
    s.start_services()
    d = day(20)
    oid = book_failing_with_503(s, d)
    # OrderFailed voided the orderId at payment before the charge arrives.
    wait_until(lambda: [p["status"] for p in payments_of(s.payment, oid)] == ["CANCELED"],
               what="payment voided for order %d" % oid)
    release.set()
    wait_until(lambda: "late_status" in seen, what="the late charge reaches payment")
    assert seen["late_status"] == 409, seen
    s.wait_idle()
    assert [p["status"] for p in payments_of(s.payment, oid)] == ["CANCELED"]
    assert reservation_of(s.reservation, oid) is None
    assert slot(s.reservation, 1, d)["booked"] == 0
    wait_mypage(s.notification, oid, "FAILED")


def test_payment_unknown_outcome_is_compensated(make_system, fake_servers):
    """Payment approves but its answer comes too late: order answers 503 and
    fails; the compensation refunds the charge and releases the place."""
    s = make_system(HC_PAYMENT_TIMEOUT_MS="400")
    done = threading.Event()

    def handler(method, path, headers, body):
        st, payload, ct = forward(s.base("payment"), method, path, headers, body)
        if method == "POST" and path == "/paymentHistories":
            done.set()
            fake.stopping.wait(2.0)  # answer after the order's timeout
        return st, payload, ct

    fake = fake_servers(handler)
    s.env["HC_PAYMENT_URL"] = fake.url
    s.start_services()
    d = day(21)
    oid = book_failing_with_503(s, d)
    assert done.is_set()
    wait_until(lambda: [p["status"] for p in payments_of(s.payment, oid)] == ["CANCELED"],
               what="the approved charge refunded")
    s.wait_idle()
    res = reservation_of(s.reservation, oid)
    assert res is None or res["status"] == "CANCELED", res
    assert slot(s.reservation, 1, d)["booked"] == 0
    m = wait_mypage(s.notification, oid, "FAILED")
    assert m["refunded"] is True, m
    types = event_types(s, oid)
    assert types.count("PaymentApproved") == 1 and types.count("PaymentCanceled") == 1, types
    assert "OrderFailed" in types and "Ordered" not in types, types


# =========================================================================== 3. capacity


def test_capacity_two_of_four_bookings(system):
    g = system.gateway
    d = day(30)
    assert g.put("/centers/1/slots/%s" % d, {"capacity": 2}).status == 200
    results = [None] * 4

    def go(i):
        results[i] = book(g, checkupDate=d, phone="010-5555-%04d" % i,
                          cardNo=hc.card_number(100 + i))
    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(r is not None and r.status == 201 for r in results), results
    oids = [r.json["id"] for r in results]

    def settled():
        sts = [get_json(g, "/orders/%d" % o)["status"] for o in oids]
        return sts if all(x in ("REQUESTED", "REJECTED") for x in sts) else None
    statuses = wait_until(settled, what="4 bookings settled")
    assert sorted(statuses) == ["REJECTED", "REJECTED", "REQUESTED", "REQUESTED"], statuses
    system.wait_idle()
    res = g.items("/reservations?date=%s&size=50" % d, "reservations")
    assert sorted(r["status"] for r in res) == ["REJECTED", "REJECTED", "REQUESTED", "REQUESTED"], res
    assert slot(g, 1, d) == {"date": d, "capacity": 2, "booked": 2, "remaining": 0}
    for oid, st in zip(oids, statuses):
        pays = payments_of(g, oid)
        assert len(pays) == 1, pays
        m = wait_mypage(g, oid, st)
        if st == "REJECTED":
            wait_until(lambda oid=oid: payments_of(g, oid)[0]["status"] == "CANCELED",
                       what="refund of rejected order %d" % oid)
            assert reservation_of(g, oid)["reason"], "rejected without a reason"
            assert get_json(g, "/orders/%d" % oid).get("reason")
            assert [h["status"] for h in m["history"]] == ["PAID", "REJECTED"], m
            wait_until(lambda oid=oid: get_json(g, "/mypages/%d" % oid)["refunded"] is True,
                       what="mypage refunded")
            wait_sms(g, oid, ["PAID", "REJECTED"])
        else:
            assert pays[0]["status"] == "APPROVED", pays
            assert [h["status"] for h in m["history"]] == ["PAID", "REQUESTED"], m
            wait_sms(g, oid, ["PAID", "REQUESTED"])
    # No more place: a fifth booking is rejected and refunded too.
    o5 = booked(g, checkupDate=d)
    wait_order(g, o5["id"], "REJECTED")
    assert slot(g, 1, d)["booked"] == 2


# =========================================================================== 4. admin


def test_admin_filters(system):
    g = system.gateway
    d1, d2 = day(40), day(41)
    a = booked(g, checkupDate=d1, centerId=1)
    b = booked(g, checkupDate=d1, centerId=2)
    c = booked(g, checkupDate=d2, centerId=1)
    for o in (a, b, c):
        wait_reservation(g, o["id"])
    ra = reservation_of(g, a["id"])
    assert g.post("/reservations/%d/confirm" % ra["id"]).status == 200

    def oids(q):
        return sorted(r["orderId"] for r in g.items("/reservations?" + q, "reservations"))
    assert oids("status=REQUESTED") == sorted([b["id"], c["id"]])
    assert oids("status=CONFIRMED") == [a["id"]]
    assert oids("status=confirmed") == [a["id"]]
    assert oids("centerId=2") == [b["id"]]
    assert oids("date=%s" % d1) == sorted([a["id"], b["id"]])
    assert oids("centerId=1&date=%s" % d1) == [a["id"]]
    assert oids("status=REQUESTED&centerId=1&date=%s" % d2) == [c["id"]]
    assert oids("status=REJECTED") == []
    assert oids("orderId=%d" % b["id"]) == [b["id"]]
    for q, f in (("status=DONE", "status"), ("centerId=x", "centerId"), ("date=2026-13-40", "date")):
        err = error(g.get("/reservations?" + q), 400, "validation_failed")
        assert f in field_names(err), err
    assert get_json(g, "/reservations/%d" % ra["id"])["status"] == "CONFIRMED"
    error(g.get("/reservations/999999"), 404, "not_found")


def test_admin_confirm_both_ways(system):
    g = system.gateway
    o1, o2 = booked(g), booked(g)
    r1, r2 = wait_reservation(g, o1["id"]), wait_reservation(g, o2["id"])
    p = g.patch("/reservations/%d" % r1["id"], {"status": "CONFIRMED"})
    assert p.status == 200 and p.json["status"] == "CONFIRMED", p
    p = g.post("/reservations/%d/confirm" % r2["id"])
    assert p.status == 200 and p.json["status"] == "CONFIRMED", p
    for o in (o1, o2):
        wait_order(g, o["id"], "CONFIRMED")
        m = wait_mypage(g, o["id"], "CONFIRMED")
        assert [h["status"] for h in m["history"]] == ["PAID", "REQUESTED", "CONFIRMED"], m
        wait_sms(g, o["id"], ["PAID", "REQUESTED", "CONFIRMED"])
        assert payments_of(g, o["id"])[0]["status"] == "APPROVED"
    # A confirmed booking still holds its place.
    assert slot(g, 1, o1["checkupDate"])["booked"] == 2


def test_admin_reject_both_ways_refunds(system):
    g = system.gateway
    o1, o2 = booked(g), booked(g)
    r1, r2 = wait_reservation(g, o1["id"]), wait_reservation(g, o2["id"])
    # A rejection needs a reason.
    err = error(g.patch("/reservations/%d" % r1["id"], {"status": "REJECTED"}), 400,
                "validation_failed")
    assert "reason" in field_names(err)
    error(g.post("/reservations/%d/reject" % r1["id"], {}), 400, "validation_failed")
    error(g.patch("/reservations/%d" % r1["id"], {"status": "CANCELED"}), 400, "validation_failed")
    assert get_json(g, "/reservations/%d" % r1["id"])["status"] == "REQUESTED"

    p = g.patch("/reservations/%d" % r1["id"], {"status": "REJECTED", "reason": "검진 장비 점검"})
    assert p.status == 200 and p.json["status"] == "REJECTED" and p.json["reason"] == "검진 장비 점검", p
    p = g.post("/reservations/%d/reject" % r2["id"], {"reason": "의사 부재"})
    assert p.status == 200 and p.json["status"] == "REJECTED", p
    for o, why in ((o1, "검진 장비 점검"), (o2, "의사 부재")):
        oo = wait_order(g, o["id"], "REJECTED")
        assert why in (oo.get("reason") or ""), oo
        wait_until(lambda o=o: [x["status"] for x in payments_of(g, o["id"])] == ["CANCELED"],
                   what="refund of order %d" % o["id"])
        m = wait_mypage(g, o["id"], "REJECTED")
        assert [h["status"] for h in m["history"]] == ["PAID", "REQUESTED", "REJECTED"], m
        wait_sms(g, o["id"], ["PAID", "REQUESTED", "REJECTED"])
    assert slot(g, 1, o1["checkupDate"])["booked"] == 0
    system.wait_idle()
    for o in (o1, o2):
        assert event_types(system, o["id"]).count("PaymentCanceled") == 1


def test_admin_invalid_transitions_are_409_and_change_nothing(system):
    g = system.gateway
    rej, can, con = booked(g), booked(g), booked(g)
    r_rej, r_can, r_con = (wait_reservation(g, o["id"]) for o in (rej, can, con))
    assert g.post("/reservations/%d/reject" % r_rej["id"], {"reason": "full"}).status == 200
    assert g.delete("/orders/%d" % can["id"]).status == 200
    wait_reservation(g, can["id"], "CANCELED")
    assert g.post("/reservations/%d/confirm" % r_con["id"]).status == 200
    wait_order(g, rej["id"], "REJECTED")
    wait_order(g, con["id"], "CONFIRMED")
    system.wait_idle()
    before_events = len(events(system))
    before = {r["id"]: get_json(g, "/reservations/%d" % r["id"]) for r in (r_rej, r_can, r_con)}

    # Confirm a rejected one; reject or confirm a canceled one.
    for call in (lambda: g.patch("/reservations/%d" % r_rej["id"], {"status": "CONFIRMED"}),
                 lambda: g.post("/reservations/%d/confirm" % r_rej["id"]),
                 lambda: g.post("/reservations/%d/reject" % r_rej["id"], {"reason": "again"}),
                 lambda: g.post("/reservations/%d/reject" % r_can["id"], {"reason": "late"}),
                 lambda: g.patch("/reservations/%d" % r_can["id"],
                                 {"status": "REJECTED", "reason": "late"}),
                 lambda: g.post("/reservations/%d/confirm" % r_can["id"])):
        r = call()
        error(r, 409, "invalid_state")
    # Confirming twice is an idempotent repeat: the reservation as it is, no new event.
    for call in (lambda: g.post("/reservations/%d/confirm" % r_con["id"]),
                 lambda: g.patch("/reservations/%d" % r_con["id"], {"status": "CONFIRMED"})):
        r = call()
        assert r.status == 200, r
        assert r.json["status"] == "CONFIRMED" and r.json["updatedAt"] == before[r_con["id"]]["updatedAt"]
    error(g.post("/reservations/999999/confirm"), 404, "not_found")

    system.wait_idle()
    assert len(events(system)) == before_events, "a refused change emitted an event"
    for rid, was in before.items():
        assert get_json(g, "/reservations/%d" % rid) == was
    assert get_json(g, "/orders/%d" % rej["id"])["status"] == "REJECTED"
    assert get_json(g, "/orders/%d" % can["id"])["status"] == "CANCELED"
    assert get_json(g, "/orders/%d" % con["id"])["status"] == "CONFIRMED"
    assert len(sms_of(g, con["id"])) == 3


# =========================================================================== 5. cancel


@pytest.mark.parametrize("how", ["DELETE", "PATCH"])
def test_cancel_refunds_releases_and_records(system, how):
    g = system.gateway
    d = day(45)
    o = booked(g, checkupDate=d)
    oid = o["id"]
    res = wait_reservation(g, oid)
    wait_slot(g, 1, d, 1)
    wait_order(g, oid, "REQUESTED")  # order knows the center has it: REQUESTED is in its history
    if how == "DELETE":
        r = g.delete("/orders/%d" % oid)
    else:
        r = g.patch("/orders/%d" % oid, {"status": "CANCELED"})
    assert r.status == 200, r
    assert r.json["status"] == "CANCELED" and r.json["id"] == oid, r
    # The refund is synchronous: already done when the answer arrives.
    pays = payments_of(g, oid)
    assert [p["status"] for p in pays] == ["CANCELED"], pays
    assert get_json(g, "/orders/%d" % oid)["status"] == "CANCELED"
    wait_reservation(g, oid, "CANCELED")
    wait_slot(g, 1, d, 0)
    canc = g.items("/cancellations?orderId=%d" % oid, "cancellations")
    assert len(canc) == 1, canc
    assert canc[0]["orderId"] == oid and canc[0]["reservationId"] == res["id"], canc
    assert canc[0]["checkupDate"] == d and canc[0]["centerId"] == 1, canc
    assert get_json(g, "/cancellations/%d" % canc[0]["id"])["orderId"] == oid
    m = wait_mypage(g, oid, "CANCELED")
    assert [h["status"] for h in m["history"]] == ["PAID", "REQUESTED", "CANCELED"], m
    wait_sms(g, oid, ["PAID", "REQUESTED", "CANCELED"])
    system.wait_idle()
    assert len(sms_of(g, oid)) == 3
    # The record stays, with its canceled status (the seed's "deleted").
    assert g.get("/orders/%d" % oid).status == 200
    assert g.items("/cancellations?orderId=%d" % (oid + 1000), "cancellations") == []


def test_cancel_answers_200_when_the_refund_event_completes_it_first(system):
    """Regression: the refund's PaymentCanceled may reach the order policy (which
    completes a cancel the customer asked for) before the DELETE handler records
    CANCELED itself; the customer must still get 200, not 409 "already CANCELED"."""
    g = system.gateway
    oids = []
    for i in range(12):
        o = booked(g, phone="010-6060-%04d" % i)
        wait_order(g, o["id"], "REQUESTED")
        oids.append(o["id"])
    for i, oid in enumerate(oids):
        r = g.delete("/orders/%d" % oid, headers={"Idempotency-Key": "race-%d" % i})
        assert r.status == 200 and r.json["status"] == "CANCELED", (oid, r)
        again = g.delete("/orders/%d" % oid, headers={"Idempotency-Key": "race-%d" % i})
        assert again.status == 200 and again.json["id"] == oid, again
    system.wait_idle()
    for oid in oids:
        types = event_types(system, oid)
        assert types.count("OrderCanceled") == 1 and types.count("PaymentCanceled") == 1, types
        assert get_json(g, "/orders/%d" % oid)["status"] == "CANCELED"
    assert slot(g, 1, hc.checkup_date(7))["booked"] == 0


def test_cancel_while_the_center_side_is_down(make_system):
    """Bookings and cancels go on with reservation down; once it is back it
    catches up: the place taken by the paid booking is released again."""
    s = make_system()
    s.start_services()
    d = day(48)
    s.stop("reservation")
    o = booked(s.order, checkupDate=d)
    r = s.order.delete("/orders/%d" % o["id"])
    assert r.status == 200 and r.json["status"] == "CANCELED", r
    assert [p["status"] for p in payments_of(s.payment, o["id"])] == ["CANCELED"]
    s.restart("reservation")
    s.wait_idle()
    canc = s.reservation.items("/cancellations?orderId=%d" % o["id"], "cancellations")
    assert len(canc) == 1 and canc[0]["checkupDate"] == d, canc
    res = reservation_of(s.reservation, o["id"])
    assert res is None or res["status"] == "CANCELED", res
    assert slot(s.reservation, 1, d)["booked"] == 0
    assert get_json(s.order, "/orders/%d" % o["id"])["status"] == "CANCELED"
    assert get_json(s.notification, "/mypages/%d" % o["id"])["status"] == "CANCELED"


def test_cancel_of_a_final_booking_is_409(system):
    g = system.gateway
    can, rej = booked(g), booked(g)
    assert g.delete("/orders/%d" % can["id"]).status == 200
    r_rej = wait_reservation(g, rej["id"])
    assert g.post("/reservations/%d/reject" % r_rej["id"], {"reason": "x"}).status == 200
    wait_order(g, rej["id"], "REJECTED")
    fail = book(g, cardNo=hc.DECLINED_CARD).json["order"]
    system.wait_idle()
    for o, st in ((can, "CANCELED"), (rej, "REJECTED"), (fail, "FAILED")):
        for call in (lambda: g.delete("/orders/%d" % o["id"]),
                     lambda: g.patch("/orders/%d" % o["id"], {"status": "CANCELED"})):
            err = error(call(), 409, "invalid_state")
            assert st in err["message"], err
        assert get_json(g, "/orders/%d" % o["id"])["status"] == st
    assert g.items("/cancellations?orderId=%d" % rej["id"], "cancellations") == []
    assert len(g.items("/cancellations?orderId=%d" % can["id"], "cancellations")) == 1
    error(g.delete("/orders/999999"), 404, "not_found")
    err = error(g.patch("/orders/%d" % rej["id"], {"status": "CONFIRMED"}), 400, "validation_failed")
    assert "status" in field_names(err)


def test_cancel_deadline_by_cutoff_days(make_system):
    s = make_system(HC_CANCEL_CUTOFF_DAYS="2")
    s.start_all()
    g = s.gateway
    late = booked(g, checkupDate=day(1))
    ok = booked(g, checkupDate=day(3))
    wait_order(g, late["id"], "REQUESTED")
    err = error(g.delete("/orders/%d" % late["id"]), 409, "cancel_deadline_passed")
    assert "2" in err["message"]
    error(g.patch("/orders/%d" % late["id"], {"status": "CANCELED"}), 409, "cancel_deadline_passed")
    assert get_json(g, "/orders/%d" % late["id"])["status"] == "REQUESTED"
    assert payments_of(g, late["id"])[0]["status"] == "APPROVED"
    assert g.delete("/orders/%d" % ok["id"]).status == 200


def test_cancel_deadline_when_time_passes(make_system):
    """A booking made in time can no longer be canceled once the clock reaches
    the checkup's eve (HC_CLOCK_OFFSET_SECONDS moves the order service's clock)."""
    s = make_system()
    s.start_services()
    d = day(3)
    early = booked(s.order, checkupDate=d)
    o = booked(s.order, checkupDate=d)
    wait_order(s.order, o["id"], "REQUESTED")
    wait_order(s.order, early["id"], "REQUESTED")
    # The day before the checkup: still in time (default cutoff: end of that day).
    s.stop("order")
    s.env["HC_CLOCK_OFFSET_SECONDS"] = str(2 * 86400)
    s.restart("order")
    assert s.order.delete("/orders/%d" % early["id"]).status == 200
    # The checkup day itself: too late.
    s.stop("order")
    s.env["HC_CLOCK_OFFSET_SECONDS"] = str(3 * 86400)
    s.restart("order")
    error(s.order.delete("/orders/%d" % o["id"]), 409, "cancel_deadline_passed")
    assert get_json(s.order, "/orders/%d" % o["id"])["status"] == "REQUESTED"
    assert payments_of(s.payment, o["id"])[0]["status"] == "APPROVED"


def test_cancel_with_payment_down_is_503_and_changes_nothing(make_system):
    s = make_system()
    s.start_services()
    d = day(46)
    o = booked(s.order, checkupDate=d)
    oid = o["id"]
    wait_order(s.order, oid, "REQUESTED")
    wait_mypage(s.notification, oid, "REQUESTED")
    s.stop("payment")
    for call in (lambda: s.order.delete("/orders/%d" % oid, headers={"Idempotency-Key": "c-503"}),
                 lambda: s.order.delete("/orders/%d" % oid),
                 lambda: s.order.patch("/orders/%d" % oid, {"status": "CANCELED"})):
        r = call()
        error(r, 503, "payment_unavailable")
        assert r.headers.get("Retry-After"), r.headers
    assert get_json(s.order, "/orders/%d" % oid)["status"] == "REQUESTED"
    s.restart("payment")
    s.wait_idle()
    assert [p["status"] for p in payments_of(s.payment, oid)] == ["APPROVED"]
    assert reservation_of(s.reservation, oid)["status"] == "REQUESTED"
    assert slot(s.reservation, 1, d)["booked"] == 1
    assert get_json(s.notification, "/mypages/%d" % oid)["status"] == "REQUESTED"
    assert "OrderCanceled" not in event_types(s, oid)
    # Payment is back: the cancel now works, also with the key of a failed try.
    r = s.order.delete("/orders/%d" % oid, headers={"Idempotency-Key": "c-503"})
    assert r.status == 200 and r.json["status"] == "CANCELED", r
    wait_slot(s.reservation, 1, d, 0)


# =========================================================================== 6. order status


def test_order_status_follows_events_and_phone_filter(system):
    g = system.gateway
    a1 = booked(g, phone="010-1111-0001")
    a2 = booked(g, phone="01011110001", orderType="prime")
    b1 = booked(g, phone="010-2222-0002")
    assert a1["status"] == "PAID"
    wait_order(g, a1["id"], "REQUESTED")
    r = wait_reservation(g, a1["id"])
    g.post("/reservations/%d/confirm" % r["id"])
    wait_order(g, a1["id"], "CONFIRMED")
    r2 = wait_reservation(g, a2["id"])
    g.post("/reservations/%d/reject" % r2["id"], {"reason": "no"})
    wait_order(g, a2["id"], "REJECTED")
    wait_order(g, b1["id"], "REQUESTED")
    g.delete("/orders/%d" % b1["id"])
    assert get_json(g, "/orders/%d" % b1["id"])["status"] == "CANCELED"

    for q in ("010-1111-0001", "01011110001", "010%201111%200001"):
        page = get_json(g, "/orders?phone=%s" % q)
        ids = sorted(o["id"] for o in page["_embedded"]["orders"])
        assert ids == sorted([a1["id"], a2["id"]]), (q, page)
        assert page["page"]["totalElements"] == 2
        for o in page["_embedded"]["orders"]:
            assert o["phone"] == "010-****-0001", o
    assert [o["id"] for o in g.items("/orders?phone=010-2222-0002", "orders")] == [b1["id"]]
    assert g.items("/orders?phone=010-3333-0003", "orders") == []
    err = error(g.get("/orders?phone=12345"), 400, "validation_failed")
    assert "phone" in field_names(err)
    assert hc.page_total(g.get("/orders")) == 3


def test_order_follows_a_refund_made_at_payment(system):
    """A refund made directly at payment (an operator's PATCH, the seed's
    cancel-by-update) emits PaymentCanceled: the booking is no longer paid, so
    order cancels it and the place is released; nobody holds an unpaid place."""
    g = system.gateway
    d = day(47)
    o = booked(g, checkupDate=d)
    oid = o["id"]
    wait_order(g, oid, "REQUESTED")
    wait_slot(g, 1, d, 1)
    r = g.patch("/paymentHistories/%d" % o["paymentId"], {"status": "CANCELED", "reason": "카드사 취소"})
    assert r.status == 200 and r.json["status"] == "CANCELED", r
    oo = wait_order(g, oid, "CANCELED")
    assert oo.get("reason"), oo
    wait_reservation(g, oid, "CANCELED")
    wait_slot(g, 1, d, 0)
    m = wait_mypage(g, oid, "CANCELED")
    assert m["refunded"] is True
    wait_sms(g, oid, ["PAID", "REQUESTED", "CANCELED"])
    system.wait_idle()
    types = event_types(system, oid)
    assert types.count("OrderCanceled") == 1 and types.count("PaymentCanceled") == 1, types
    # The order is final now: a customer cancel is a 409, and no second refund.
    error(g.delete("/orders/%d" % oid), 409, "invalid_state")
    # A refund after a rejection changes nothing more (the order is already final).
    o2 = booked(g, checkupDate=d)
    res = wait_reservation(g, o2["id"])
    g.post("/reservations/%d/reject" % res["id"], {"reason": "x"})
    wait_until(lambda: payments_of(g, o2["id"])[0]["status"] == "CANCELED", what="refund")
    system.wait_idle()
    assert get_json(g, "/orders/%d" % o2["id"])["status"] == "REJECTED"
    assert "OrderCanceled" not in event_types(system, o2["id"])


# =========================================================================== 7. mypage


def test_mypage_views_search_filter_and_paging(system):
    g = system.gateway
    d = day(50)
    oids = [booked(g, phone="010-7777-000%d" % (i % 2), checkupDate=d, name="고객%d" % i)["id"]
            for i in range(5)]
    for oid in oids:
        wait_mypage(g, oid, "REQUESTED")
    r = wait_reservation(g, oids[0])
    g.patch("/reservations/%d" % r["id"], {"status": "CONFIRMED"})
    m = wait_mypage(g, oids[0], "CONFIRMED")
    assert m["id"] == oids[0] and m["orderId"] == oids[0]
    assert m["name"] == "고객0" and m["phone"] == "010-****-0000"
    assert m["orderType"] == "basic" and m["checkupDate"] == d and m["centerId"] == 1
    assert m["amount"] == 50000 and m["paymentId"] and m["reservationId"] == r["id"]
    assert m["updatedAt"] and m["_links"]["self"]["href"].endswith("/mypages/%d" % oids[0])
    hist = m["history"]
    assert [h["status"] for h in hist] == ["PAID", "REQUESTED", "CONFIRMED"], hist
    ats = [h["at"] for h in hist]
    for at in ats:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", at), at
    assert ats == sorted(ats), ats

    found = get_json(g, "/mypages/search/findByOrderId?orderId=%d" % oids[0])
    if "_embedded" in found:
        found = found["_embedded"]["mypages"][0]
    assert found["orderId"] == oids[0] and found["status"] == "CONFIRMED"
    error(g.get("/mypages/search/findByOrderId?orderId=999999"), 404, "not_found")
    error(g.get("/mypages/search/findByOrderId"), 400, "validation_failed")
    error(g.get("/mypages/search/findByOrderId?orderId=abc"), 400, "validation_failed")
    error(g.get("/mypages/999999"), 404, "not_found")

    allp = get_json(g, "/mypages")
    assert allp["page"]["totalElements"] == 5
    assert sorted(x["orderId"] for x in allp["_embedded"]["mypages"]) == sorted(oids)
    evens = g.items("/mypages?phone=010-7777-0000", "mypages")
    assert sorted(x["orderId"] for x in evens) == sorted(oids[0::2]), evens
    assert all(x["phone"] == "010-****-0000" for x in evens)
    assert g.items("/mypages?phone=01077770001", "mypages") and \
        sorted(x["orderId"] for x in g.items("/mypages?phone=01077770001", "mypages")) == sorted(oids[1::2])
    error(g.get("/mypages?phone=abc"), 400, "validation_failed")

    seen = []
    for page in range(3):
        p = get_json(g, "/mypages?size=2&page=%d" % page)
        assert p["page"] == {"size": 2, "totalElements": 5, "totalPages": 3, "number": page}, p["page"]
        seen += [x["orderId"] for x in p["_embedded"]["mypages"]]
    assert sorted(seen) == sorted(oids) and len(seen) == 5
    p = get_json(g, "/mypages?size=2&page=3")
    assert p["_embedded"]["mypages"] == [] and p["page"]["totalElements"] == 5
    error(g.get("/mypages?size=0"), 400, "validation_failed")
    error(g.get("/mypages?page=-1"), 400, "validation_failed")


# =========================================================================== 8. SMS


def test_one_korean_sms_per_status(system):
    g = system.gateway
    o = booked(g, name="이영희")
    oid = o["id"]
    r = wait_reservation(g, oid)
    g.post("/reservations/%d/confirm" % r["id"])
    wait_order(g, oid, "CONFIRMED")
    wait_sms(g, oid, ["PAID", "REQUESTED", "CONFIRMED"])
    g.delete("/orders/%d" % oid)
    wait_mypage(g, oid, "CANCELED")
    system.wait_idle()
    # OrderCanceled and ReservationCanceled both announce CANCELED: one SMS.
    msgs = wait_until(lambda: (lambda n: n if all(x["deliveryStatus"] == "SENT" for x in n)
                               and len(n) == 4 else None)(sms_of(g, oid)),
                      what="4 SMS SENT")
    assert sorted(x["orderStatus"] for x in msgs) == ["CANCELED", "CONFIRMED", "PAID", "REQUESTED"]
    for x in msgs:
        assert HANGUL.search(x["text"]), x
        assert "이영희" in x["text"], x
        assert x["provider"] == "log" and x["to"] == "010-****-5678", x
    texts = {x["orderStatus"]: x["text"] for x in msgs}
    assert "결제" in texts["PAID"] and "확정" in texts["CONFIRMED"] and "취소" in texts["CANCELED"], texts
    assert len(set(texts.values())) == 4
    # The log provider writes each message to the notification log.
    lines = [ln for ln in system.log_lines("notification")
             if "SMS to" in str(ln.get("msg")) and hc.line_order(ln) == str(oid)]
    assert len(lines) == 4, lines
    for _ in range(3):
        assert len(sms_of(g, oid)) == 4


def test_http_sms_provider_retries_until_the_api_recovers(make_system, fake_servers):
    state = {"fail": True}
    accepted = []

    def handler(method, path, headers, body):
        if state["fail"]:
            return 500, b'{"error":"down"}', "application/json"
        accepted.append((headers, json.loads(body)))
        return 200, b'{"ok":true}', "application/json"

    api = fake_servers(handler)
    s = make_system(HC_SMS_PROVIDER="http", HC_SMS_URL=api.url + "/v1/sms",
                    HC_SMS_API_KEY=SMS_KEY, HC_SMS_TIMEOUT_MS="1000")
    s.start_all()
    g = s.gateway
    o = booked(g, phone="010-4444-5555")
    oid = o["id"]
    # The mypage moves on while the SMS API is down, even through an admin confirm.
    r = wait_reservation(g, oid)
    assert g.post("/reservations/%d/confirm" % r["id"]).status == 200
    wait_mypage(g, oid, "CONFIRMED")

    def all_failed():
        n = sms_of(g, oid)
        return n if len(n) == 3 and all(x["deliveryStatus"] in ("FAILED", "QUEUED") for x in n) \
            and all(x["attempts"] >= 1 for x in n) and any(x["deliveryStatus"] == "FAILED" for x in n) \
            else None
    msgs = wait_until(all_failed, what="3 SMS attempted and failing")
    for x in msgs:
        assert x["provider"] == "http", x
        if x["deliveryStatus"] == "FAILED":
            assert "500" in x.get("lastError", ""), x
    assert len(api.requests) >= 3
    assert accepted == []

    state["fail"] = False

    def all_sent():
        n = sms_of(g, oid)
        return n if len(n) == 3 and all(x["deliveryStatus"] == "SENT" for x in n) else None
    msgs = wait_until(all_sent, timeout=20, what="3 SMS SENT after the API recovered")
    assert sorted(x["orderStatus"] for x in msgs) == ["CONFIRMED", "PAID", "REQUESTED"]
    assert len(accepted) == 3, accepted
    ids = {x["id"] for x in msgs}
    assert {b["notificationId"] for _, b in accepted} == ids
    for headers, body in accepted:
        assert headers.get("authorization") == "Bearer " + SMS_KEY, headers
        assert body["to"] == "01044445555", body
        assert body["orderId"] == oid
        assert HANGUL.search(body["text"]), body
    assert all(p == "/v1/sms" for _, p, _, _ in [(m, p, h, b) for m, p, h, b in api.requests])
    s.wait_idle()
    assert len(sms_of(g, oid)) == 3 and len(accepted) == 3
    # The key never reaches the logs.
    assert SMS_KEY.encode() not in all_log_bytes(s)


def sms_pending(system):
    samples = [v for n, _, v in system.metrics("notification") if n == "hc_sms_pending"]
    return samples[0] if samples else None


def test_http_sms_gives_up_after_max_attempts_without_blocking(make_system, fake_servers):
    api = fake_servers(lambda m, p, h, b: (503, b"busy", "text/plain"))
    s = make_system(HC_SMS_PROVIDER="http", HC_SMS_URL=api.url, HC_SMS_API_KEY=SMS_KEY,
                    HC_SMS_MAX_ATTEMPTS="2")
    s.start_services()
    o = booked(s.order)
    oid = o["id"]
    wait_mypage(s.notification, oid, "REQUESTED")

    def failed_for_good():
        n = sms_of(s.notification, oid)
        return n if len(n) == 2 and all(x["deliveryStatus"] == "FAILED" and x["attempts"] == 2
                                        for x in n) and sms_pending(s) == 0 else None
    msgs = wait_until(failed_for_good, what="2 SMS FAILED for good after 2 attempts")
    for x in msgs:
        assert "503" in x["lastError"], x
    assert len(api.requests) == 4, [r[:2] for r in api.requests]
    # The rest of the system carried on: cancel works and reaches mypage.
    assert s.order.delete("/orders/%d" % oid).status == 200
    wait_mypage(s.notification, oid, "CANCELED")


# =========================================================================== 9. idempotency


def test_idempotent_booking_and_cancel(system):
    g = system.gateway
    body = hc.booking(phone="010-8888-9999")
    r1 = g.post("/orders", body, headers={"Idempotency-Key": "book-1"})
    assert r1.status == 201, r1
    r2 = g.post("/orders", body, headers={"Idempotency-Key": "book-1"})
    assert r2.status == 201, r2
    assert r2.json["id"] == r1.json["id"] and r2.json["paymentId"] == r1.json["paymentId"]
    assert r2.headers.get("Location") == r1.headers.get("Location")
    oid = r1.json["id"]
    # Through the service directly, too: the key is the service's, not the gateway's.
    r3 = system.order.post("/orders", body, headers={"Idempotency-Key": "book-1"})
    assert r3.status == 201 and r3.json["id"] == oid, r3
    assert hc.page_total(g.get("/orders")) == 1
    assert len(payments_of(g, oid)) == 1
    wait_order(g, oid, "REQUESTED")
    system.wait_idle()
    assert event_types(system, oid).count("PaymentApproved") == 1
    assert len(g.items("/reservations", "reservations")) == 1
    # Another key is another booking.
    r4 = g.post("/orders", body, headers={"Idempotency-Key": "book-2"})
    assert r4.status == 201 and r4.json["id"] != oid
    # A declined booking replays its 402.
    bad = hc.booking(cardNo=hc.DECLINED_CARD)
    d1 = g.post("/orders", bad, headers={"Idempotency-Key": "book-3"})
    d2 = g.post("/orders", bad, headers={"Idempotency-Key": "book-3"})
    assert d1.status == d2.status == 402 and d1.json == d2.json, (d1, d2)
    assert hc.page_total(g.get("/orders")) == 3
    error(g.post("/orders", body, headers={"Idempotency-Key": "k" * 201}), 400, "validation_failed")

    # Concurrent retries with one key never make a second booking or charge.
    answers = [None] * 5

    def go(i):
        answers[i] = g.post("/orders", body, headers={"Idempotency-Key": "book-c"})
    threads = [threading.Thread(target=go, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ok = [a for a in answers if a.status == 201]
    assert ok and all(a.status in (201, 409) for a in answers), answers
    assert len({a.json["id"] for a in ok}) == 1, answers
    for a in answers:
        if a.status == 409:
            assert a.json["error"] == "in_progress" and a.json["message"], a
    assert hc.page_total(g.get("/orders")) == 4
    assert len(payments_of(g, ok[0].json["id"])) == 1

    c1 = g.delete("/orders/%d" % oid, headers={"Idempotency-Key": "cancel-1"})
    assert c1.status == 200 and c1.json["status"] == "CANCELED", c1
    c2 = g.delete("/orders/%d" % oid, headers={"Idempotency-Key": "cancel-1"})
    assert c2.status == 200 and c2.json == c1.json, (c1, c2)
    c3 = g.patch("/orders/%d" % oid, {"status": "CANCELED"}, headers={"Idempotency-Key": "cancel-1"})
    assert c3.status == 200 and c3.json["id"] == oid, c3
    # Without the key, a second cancel is a 409.
    error(g.delete("/orders/%d" % oid), 409, "invalid_state")
    pays = payments_of(g, oid)
    assert [p["status"] for p in pays] == ["CANCELED"], pays
    wait_mypage(g, oid, "CANCELED")
    system.wait_idle()
    types = event_types(system, oid)
    assert types.count("PaymentCanceled") == 1 and types.count("OrderCanceled") == 1, types
    assert len(g.items("/cancellations?orderId=%d" % oid, "cancellations")) == 1


# =========================================================================== 10. correlation


def test_trace_and_order_id_in_every_service_log_and_event(system):
    g = system.gateway
    tp, trace_id = hc.traceparent()
    r = book(g, headers={"traceparent": tp})
    assert r.status == 201, r
    oid = r.json["id"]
    wait_mypage(g, oid, "REQUESTED")
    wait_sms(g, oid, ["PAID", "REQUESTED"])

    for service in hc.SERVICES:
        wait_until(lambda service=service: [
            ln for ln in system.log_lines(service)
            if hc.line_order(ln) == str(oid) and trace_id in (hc.line_trace(ln) or "")],
            what="a %s log line with order %d and trace %s" % (service, oid, trace_id))
    system.wait_idle()
    evs = events(system, oid)
    types = [e["eventType"] for e in evs]
    for t in ("Ordered", "PaymentApproved", "ReservationAccepted"):
        assert types.count(t) == 1, types
    for e in evs:
        assert e["orderId"] == oid, e
        assert trace_id in e.get("traceparent", ""), e
        assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", e["traceparent"]), e
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                            e["eventId"]), e
        assert e["source"] in hc.SERVICES and e["occurredAt"].endswith("Z"), e
    assert {e["source"] for e in evs} == {"order", "payment", "reservation"}
    # The answer carries the trace back.
    assert trace_id in (r.headers.get("traceparent") or ""), r.headers
    # A later admin action on the booking starts its own trace but names the order.
    tp2, trace2 = hc.traceparent()
    res = reservation_of(g, oid)
    assert g.post("/reservations/%d/confirm" % res["id"], headers={"traceparent": tp2}).status == 200
    wait_until(lambda: [e for e in events(system, oid) if e["eventType"] == "ReservationConfirmed"
                        and trace2 in e["traceparent"]], what="ReservationConfirmed on trace 2")


# =========================================================================== seed compatibility


def test_seed_readme_requests(system):
    """The README's httpie calls (form fields arrive as JSON strings), with the
    fields our validation needs added, against the services' own ports and the
    gateway, as the customer they book for (SYSTEM.md: with a customer's
    bearer token); the center's admin confirms."""
    phone = "010-1234-5678"
    for base, name in ((system.order, "woo"), (system.gateway, "jung")):
        base = base.as_customer(phone)
        # http localhost:8081/orders orderType=basic name=woo (+ required fields)
        r = base.post("/orders", {"orderType": "basic" if name == "woo" else "prime", "name": name,
                                  "phone": "01012345678", "checkupDate": day(9),
                                  "centerId": "1", "cardNo": hc.GOOD_CARD})
        assert r.status == 201, r
        o = r.json
        assert o["name"] == name and o["orderType"] in ("basic", "prime") and o["status"] == "PAID"
        assert o["cardNo"] == "************1111", o
        assert o["_links"]["self"]["href"] == system.public_url + "/orders/%d" % o["id"], o
        assert o["_links"]["order"]["href"] == o["_links"]["self"]["href"]
        assert r.headers["Location"].endswith("/orders/%d" % o["id"])
        oid = o["id"]
        # http localhost:8081/orders/3
        got = get_json(base, "/orders/%d" % oid)
        for k in ("name", "orderType", "cardNo"):
            assert got[k] == o[k], k
        assert got["_links"]["self"]["href"].endswith("/orders/%d" % oid)
        # http localhost:8083/paymentHistories orderId=1 price=50000 payMethod=card: the
        # booking already paid (POST /orders charges); a charge made directly is refused,
        # and the payment is there to read.
        direct = {"orderId": str(oid), "price": str(o["amount"]), "payMethod": "card",
                  "cardNo": hc.GOOD_CARD}
        error(system.payment.as_customer(phone).post("/paymentHistories", direct), 403,
              "forbidden")
        error(system.payment.post("/paymentHistories", direct), 403, "forbidden")
        pay = get_json(system.payment.as_customer(phone), "/paymentHistories/%d" % o["paymentId"])
        assert pay["id"] == o["paymentId"] and pay["orderId"] == oid
        assert pay["cardNo"] == "************1111" and pay["status"] == "APPROVED"
        assert pay["_links"]["self"]["href"].endswith("/paymentHistories/%d" % o["paymentId"])
        assert len(payments_of(system.payment, oid)) == 1
        # http localhost:8082/reservations orderId=1 status="confirmed"
        wait_reservation(system.gateway, oid)
        c = system.reservation.as_admin((1,)).post("/reservations", {"orderId": str(oid),
                                                                     "status": "confirmed"})
        assert c.status == 200 and c.json["status"] == "CONFIRMED", c
        # http localhost:8084/mypages/1
        m = wait_status(system.notification.as_customer(phone), "/mypages/%d" % oid, "CONFIRMED")
        assert m["name"] == name and m["orderId"] == oid and m["reservationId"] == c.json["id"]
        assert m["_links"]["self"]["href"] == system.public_url + "/mypages/%d" % oid
        assert m["_links"]["mypage"]["href"] == m["_links"]["self"]["href"]
        assert wait_order(base, oid, "CONFIRMED")["name"] == name

    # The seed's Order has `Long cardNo`: a card number sent as a JSON number works
    # (and is masked); a cash booking needs no card at all.
    customer = system.order.as_customer(phone)
    r = customer.post("/orders", {"orderType": "prime", "name": "jung", "phone": "010-1234-5678",
                                  "checkupDate": day(9), "cardNo": int(hc.GOOD_CARD)})
    assert r.status == 201 and r.json["cardNo"] == "************1111", r
    assert r.json["amount"] == 150000
    r = customer.post("/orders", {"orderType": "prime", "name": "jung", "phone": "010-1234-5678",
                                  "checkupDate": day(9), "payMethod": "cash"})
    assert r.status == 201 and r.json["cardNo"] is None and r.json["payMethod"] == "cash", r
    err = error(system.order.post("/orders", hc.booking(cardNo=4111111111111112)), 400,
                "validation_failed")
    assert field_names(err) == {"cardNo"}, err
    wait_order(system.order, r.json["id"], "REQUESTED")

    # The README's 'payMethod=cash' charge for an order id of its own: payments are
    # made by booking, so it is refused and nothing is stored for order 777.
    error(system.payment.post("/paymentHistories", {"orderId": "777", "price": "50000",
                                                    "payMethod": "cash"}), 403, "forbidden")
    assert payments_of(system.payment, 777) == []

    # Collections in the Spring Data REST shape.
    for c, path, coll in ((system.order, "/orders", "orders"),
                          (system.payment, "/paymentHistories", "paymentHistories"),
                          (system.notification, "/mypages", "mypages")):
        page = get_json(c, path)
        assert isinstance(page["_embedded"][coll], list) and page["_links"]["self"]["href"], page
        assert set(page["page"]) == {"size", "totalElements", "totalPages", "number"}
        for item in page["_embedded"][coll]:
            assert item["_links"]["self"]["href"].startswith(system.public_url + "/"), item
    mps = [m for m in get_json(system.notification, "/mypages")["_embedded"]["mypages"]
           if m["orderId"] != 777]
    assert len(mps) >= 3, mps
    for m in mps:
        assert {"name", "orderId", "reservationId", "status", "_links"} <= set(m), m
