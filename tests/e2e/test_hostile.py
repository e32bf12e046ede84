"""Hostile callers: what an attacker or a customer in a hurry tried, and what
must hold. Payments only for real bookings at their real price; every refund
keeps the cancel rules; links never reflect the caller's Host; one
Idempotency-Key, one request; inputs with control characters, non-canonical
ids or oversized pages. Each refusal changes nothing."""

import json
import subprocess
import threading

import hc
from hc import wait_until
from test_functional import (book, booked, day, error, fake_servers, field_names, forward,  # noqa: F401
                             get_json, payments_of, sms_of, wait_mypage, wait_order)
from test_one_history import check_bookings


def count_orders(c):
    return hc.page_total(c.get("/orders"))


# --------------------------------------------------------------------------- payments


def test_a_charge_is_made_only_by_booking(services):
    """Regression: anyone could POST /paymentHistories for an orderId not booked
    yet; when that id was booked, the 1 KRW payment made it PAID (a 150,000 KRW
    package for 1 KRW), and a pre-created DECLINED payment made the real
    booking fail with 402. Now only order, signing its call, can charge."""
    s = services
    forged = [{"orderId": 1, "amount": 1, "payMethod": "cash"},
              {"orderId": 2, "amount": 150000, "payMethod": "card", "cardNo": hc.DECLINED_CARD}]
    for body in forged:
        error(s.payment.post("/paymentHistories", body), 403, "forbidden")
        # Claiming to be order without the key, or with a stale signature.
        bad = s.signed("order", "POST", "/paymentHistories", body)
        bad["X-HC-Signature"] = "0" * 64
        error(s.payment.post("/paymentHistories", body, headers=bad), 403, "forbidden")
        stale = s.signed("order", "POST", "/paymentHistories", {"orderId": 99, "amount": 1})
        error(s.payment.post("/paymentHistories", body, headers=stale), 403, "forbidden")
    assert hc.page_total(s.payment.get("/paymentHistories")) == 0
    o1 = booked(s.order, orderType="prime")
    o2 = booked(s.order, orderType="prime")
    assert (o1["id"], o2["id"]) == (1, 2)
    for o in (o1, o2):
        pays = payments_of(s.payment, o["id"])
        assert [(p["amount"], p["status"]) for p in pays] == [(150000, "APPROVED")], pays
    check_bookings(s, [1, 2])


def test_order_accepts_only_an_approval_of_its_booking_at_its_price(make_system, fake_servers):  # noqa: F811
    """Order checks payment's answer: an approval for another amount (or
    another order) is not taken as this booking's payment; the booking fails
    and what payment holds for it is refunded."""
    s = make_system()

    def handler(method, path, headers, body):
        st, payload, ct = forward(s.base("payment"), method, path, headers, body)
        if method == "POST" and path == "/paymentHistories" and st in (200, 201):
            answer = json.loads(payload)
            answer["amount"] = 1
            payload = json.dumps(answer).encode()
        return st, payload, ct
    fake = fake_servers(handler)
    s.env["HC_PAYMENT_URL"] = fake.url
    s.start_services()
    r = book(s.order, orderType="prime")
    error(r, 503, "payment_unavailable")
    o = s.order.items("/orders", "orders")[0]
    assert o["status"] == "FAILED", o
    wait_until(lambda: [p["status"] for p in payments_of(s.payment, o["id"])] == ["CANCELED"],
               what="the charge of order %d refunded" % o["id"])
    check_bookings(s, [o["id"]])


def test_every_refund_keeps_the_cancel_rules(make_system):
    """Regression: POST /paymentHistories/{id}/cancel refunded and canceled a
    booking after its cancel deadline, which DELETE /orders/{id} refuses with
    409. Now a refund asked at payment is the order's cancel, with its rules."""
    s = make_system()
    s.start_services()
    late = booked(s.order, checkupDate=day(3))
    ok = booked(s.order, checkupDate=day(40), phone="010-5555-0001")
    again = booked(s.order, checkupDate=day(40), phone="010-5555-0002")
    for o in (late, ok, again):
        wait_order(s.order, o["id"], "REQUESTED")
    # The checkup day of `late` has come: too late to cancel.
    s.stop("order")
    s.env["HC_CLOCK_OFFSET_SECONDS"] = str(3 * 86400)
    s.restart("order")
    for call in (lambda: s.payment.post("/paymentHistories/%d/cancel" % late["paymentId"]),
                 lambda: s.payment.patch("/paymentHistories/%d" % late["paymentId"],
                                         {"status": "CANCELED", "reason": "환불해 주세요"})):
        error(call(), 409, "cancel_deadline_passed")
    assert payments_of(s.payment, late["id"])[0]["status"] == "APPROVED"
    assert get_json(s.order, "/orders/%d" % late["id"])["status"] == "REQUESTED"
    # In time, a refund at payment cancels the booking through order.
    r = s.payment.post("/paymentHistories/%d/cancel" % ok["paymentId"], {"reason": "일정 변경"})
    assert r.status == 200 and r.json["status"] == "CANCELED", r
    assert get_json(s.order, "/orders/%d" % ok["id"])["status"] == "CANCELED"
    r = s.payment.patch("/paymentHistories/%d" % again["paymentId"], {"status": "CANCELED"},
                        headers={"Idempotency-Key": "refund-again"})
    assert r.status == 200 and r.json["status"] == "CANCELED", r
    # Asked again: the payment is refunded already, the same answer.
    r2 = s.payment.post("/paymentHistories/%d/cancel" % again["paymentId"])
    assert r2.status == 200 and r2.json["status"] == "CANCELED", r2
    check_bookings(s, [late["id"], ok["id"], again["id"]])
    for o in (ok, again):
        assert [n["orderStatus"] for n in sms_of(s.notification, o["id"])].count("CANCELED") == 1


def test_refunds_asked_at_payment_never_wait_on_themselves(make_system):
    """Regression: a refund asked at payment waits on order's cancel, which
    calls payment back for the refund. On a pool of server threads that call
    back could land on a payment thread that was itself waiting (a kept-alive
    connection belongs to one thread; a busy thread leaves its other
    connections waiting), so some refunds hung until order's 3 s timeout and
    answered 503 although nothing was wrong. Now every connection has its own
    thread: many customers refunding at once all get their refund."""
    s = make_system()
    s.start_services()
    failed, done = [], []

    def customer(k):
        for i in range(12):
            o = booked(s.order, checkupDate=day(40), phone="010-6%03d-%04d" % (k, i))
            r = s.payment.post("/paymentHistories/%d/cancel" % o["paymentId"])
            (done if r.status == 200 and r.json["status"] == "CANCELED" else failed).append(
                (o["id"], r))

    threads = [threading.Thread(target=customer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failed, failed
    assert len(done) == 72
    for oid, _ in done:
        assert get_json(s.order, "/orders/%d" % oid)["status"] == "CANCELED"
    check_bookings(s, [oid for oid, _ in done])


# --------------------------------------------------------------------------- links


def test_links_never_reflect_the_callers_host(system):
    """Regression: `Host: evil.example` through the gateway gave
    `Location: http://evil.example/orders/N`, and the services trusted
    X-Forwarded-Host when called directly. Links come from HC_PUBLIC_URL."""
    base = system.public_url
    r = system.gateway.post("/orders", hc.booking(), headers={"Host": "evil.example"})
    assert r.status == 201, r
    assert r.headers["Location"] == base + "/orders/%d" % r.json["id"], r.headers["Location"]
    assert r.json["_links"]["self"]["href"].startswith(base + "/"), r.json["_links"]
    for name, path in (("order", "/orders"), ("payment", "/paymentHistories"),
                       ("notification", "/mypages"), ("reservation", "/centers/1")):
        got = system.client(name).get(path, headers={"X-Forwarded-Host": "evil.example",
                                                     "X-Forwarded-Proto": "https",
                                                     "Host": "evil.example:81"})
        assert got.status == 200, got
        assert "evil" not in got.text, (name, got.text[:300])
        assert got.json["_links"]["self"]["href"].startswith(base + "/"), got.json["_links"]


def test_links_use_the_configured_public_url(make_system):
    s = make_system(HC_PUBLIC_URL="https://book.example.com/hc/")
    s.start_services()
    r = book(s.order)
    assert r.headers["Location"] == "https://book.example.com/hc/orders/%d" % r.json["id"], r
    # A public URL that could break out of a link is refused at start.
    bad = subprocess.run([s.bin, "order"], env=dict(s.env, HC_PUBLIC_URL="http://x\"><script>"),
                         capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2 and "HC_PUBLIC_URL" in bad.stderr, bad


# --------------------------------------------------------------------------- idempotency


def test_one_idempotency_key_one_request(services):
    """Regression: the same Idempotency-Key with a different body silently
    returned the first order. Now: 422 naming the key, nothing changed; the
    same request however its JSON is spaced or ordered replays the answer."""
    s = services
    body = hc.booking(phone="010-3333-0001")
    first = s.order.post("/orders", body, headers={"Idempotency-Key": "k-1"})
    assert first.status == 201, first
    other = hc.booking(phone="010-3333-0001", orderType="prime")
    err = error(s.order.post("/orders", other, headers={"Idempotency-Key": "k-1"}), 422,
                "idempotency_key_reused")
    assert field_names(err) == {"Idempotency-Key"}, err
    # The same body with its keys in another order and other spacing is the same request.
    raw = json.dumps(dict(reversed(list(body.items()))), ensure_ascii=False, indent=2).encode()
    again = s.order.post("/orders", raw=raw, content_type="application/json",
                         headers={"Idempotency-Key": "k-1"})
    assert again.status == 201 and again.json["id"] == first.json["id"], again
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert count_orders(s.order) == 1
    assert len(payments_of(s.payment, first.json["id"])) == 1


# --------------------------------------------------------------------------- inputs


def test_names_with_control_characters_or_only_spaces_are_refused(system):
    """Regression: BEL, ESC and newline in `name` reached the SMS text, and a
    name of only spaces was accepted."""
    g = system.gateway
    for name in ("김\u0007철수", "\u001b[31mKim", "Kim\nLee", "Kim\r\n", "   ", "\u3000",
                 "a\u202eb", "tab\there"):
        err = error(g.post("/orders", hc.booking(name=name)), 400, "validation_failed")
        assert field_names(err) == {"name"}, (name, err)
    assert count_orders(g) == 0
    o = booked(g, name="  홍 길동  ")
    assert o["name"] == "홍 길동", o
    wait_mypage(g, o["id"], "REQUESTED")
    for n in sms_of(g, o["id"]):
        assert "홍 길동님" in n["text"], n
        assert not any(ord(ch) < 32 for ch in n["text"]), n


def test_ids_are_canonical_integers(system):
    """Regression: /orders/01 and /orders/+1 answered order 1."""
    g = system.gateway
    o = booked(g)
    assert g.get("/orders/1").status == 200
    for path in ("/orders/01", "/orders/+1", "/orders/1.0", "/orders/%201", "/orders/0x1",
                 "/mypages/01", "/paymentHistories/+1", "/reservations/01"):
        error(g.get(path), 404, "not_found")
    for path in ("/paymentHistories?orderId=01", "/reservations?orderId=+1",
                 "/cancellations?orderId=1.0", "/notifications?orderId=01",
                 "/mypages/search/findByOrderId?orderId=01"):
        err = error(g.get(path), 400, "validation_failed")
        assert field_names(err) == {"orderId"}, (path, err)
    assert get_json(g, "/orders/%d" % o["id"])["id"] == o["id"]


def test_page_size_above_the_maximum_is_capped(system):
    """Regression: the docs say sizes above 1000 are capped, but a size too big
    for an integer answered 400."""
    for path in ("/orders", "/paymentHistories", "/reservations", "/mypages", "/notifications",
                 "/cancellations", "/centers"):
        for size in ("1001", "99999999999999999999", "000000000000000000000002000"):
            r = system.gateway.get("%s?size=%s" % (path, size))
            assert r.status == 200 and r.json["page"]["size"] == 1000, (path, size, r)
        assert system.gateway.get("%s?size=0" % path).status == 400


def test_misspelt_query_parameters_and_fields_are_refused(system):
    """A filter or field the API does not know is a 400 naming it, not silently
    ignored (`?phon=` listed every order; `cardno` was dropped, so the
    booking failed for a missing cardNo instead)."""
    g = system.gateway
    booked(g)
    for path, name in (("/orders?phon=010-1234-5678", "phon"), ("/mypages?orderid=1", "orderid"),
                       ("/reservations?state=REQUESTED", "state"), ("/orders/1?x=1", "x"),
                       ("/packages?page=0", "page"), ("/centers/1/slots?days=3", "days")):
        err = error(g.get(path), 400, "validation_failed")
        assert field_names(err) == {name}, (path, err)
    for name in hc.SERVICES:
        err = error(system.client(name).get("/health/ready?verbose=1"), 400, "validation_failed")
        assert field_names(err) == {"verbose"}
    body = hc.booking(cardNo=..., cardno=hc.GOOD_CARD)
    err = error(g.post("/orders", body), 400, "validation_failed")
    assert field_names(err) == {"cardno", "cardNo"}, err
    err = error(g.put("/centers/1/slots/%s" % day(5), {"capacity": 3, "note": "x"}), 400,
                "validation_failed")
    assert field_names(err) == {"note"}, err
    assert count_orders(g) == 1
