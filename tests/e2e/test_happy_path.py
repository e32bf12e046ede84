"""The booking saga end to end through the gateway: order -> payment ->
reservation -> order/mypage/SMS, with masking, UTF-8 and trace correlation."""

import re

import hc
from hc import wait_until


def book(system, **overrides):
    tp, trace_id = hc.traceparent()
    body = hc.booking(**overrides)
    r = system.gateway.post("/orders", body, headers={"traceparent": tp})
    return r, body, trace_id


def test_booking_reaches_requested_everywhere(system):
    r, body, trace_id = book(system)
    status, headers, order = r
    assert status == 201, r
    assert headers.get("Location"), "201 without Location"
    assert re.search(r"/orders/%s$" % order["id"], headers["Location"]), headers["Location"]
    assert "4111111111111111" not in r.text, "full card number in the answer"

    oid = order["id"]
    assert isinstance(oid, int) and oid > 0
    assert order["status"] == "PAID"
    assert order["name"] == "홍길동"
    assert order["orderType"] == "basic"
    assert order["checkupDate"] == body["checkupDate"]
    assert order["centerId"] == 1
    assert order["payMethod"] == "card"
    assert order["amount"] == 50000
    assert order["cardNo"].endswith("1111")
    assert order["cardNo"] != hc.GOOD_CARD and "41111111" not in order["cardNo"]
    assert order["phone"] == "010-****-5678"
    assert order.get("paymentId"), "PAID order without paymentId"
    assert order["_links"]["self"]["href"].endswith("/orders/%d" % oid)

    # The read model catches up: mypage id == orderId, REQUESTED with a reservation.
    def mypage_requested():
        m = system.gateway.get("/mypages/%d" % oid)
        if m.status == 200 and m.json.get("status") == "REQUESTED" and m.json.get("reservationId"):
            return m.json
        return None
    mypage = wait_until(mypage_requested, what="mypage %d REQUESTED with reservationId" % oid)
    assert mypage["id"] == oid and mypage["orderId"] == oid
    assert mypage["name"] == "홍길동"
    assert mypage["phone"] == "010-****-5678"
    assert mypage["orderType"] == "basic"
    assert mypage["checkupDate"] == body["checkupDate"]
    assert mypage["amount"] == 50000
    assert mypage["paymentId"] == order["paymentId"]
    history = [h["status"] for h in mypage["history"]]
    assert history == ["PAID", "REQUESTED"], history

    # The same mypage through the seed's search shape.
    s = system.gateway.get("/mypages/search/findByOrderId?orderId=%d" % oid)
    assert s.status == 200, s
    found = s.json
    if "_embedded" in found:
        found = found["_embedded"]["mypages"][0]
    assert found["orderId"] == oid

    # Order follows the reservation (the seed's updateStatus policy).
    def order_requested():
        o = system.gateway.get("/orders/%d" % oid)
        return o.json if o.status == 200 and o.json["status"] == "REQUESTED" else None
    o = wait_until(order_requested, what="order %d REQUESTED" % oid)
    assert o["name"] == "홍길동"
    assert o["phone"] == "010-****-5678"
    assert o["cardNo"].endswith("1111") and "4111111111111111" not in str(o)

    pays = system.gateway.items("/paymentHistories?orderId=%d" % oid, "paymentHistories")
    assert len(pays) == 1, pays
    p = pays[0]
    assert p["orderId"] == oid
    assert p["status"] == "APPROVED"
    assert p["amount"] == 50000
    assert p["id"] == order["paymentId"]
    assert p["cardNo"].endswith("1111") and p["cardNo"] != hc.GOOD_CARD

    res = system.gateway.items("/reservations?orderId=%d" % oid, "reservations")
    assert len(res) == 1, res
    assert res[0]["status"] == "REQUESTED"
    assert res[0]["orderId"] == oid
    assert res[0]["centerId"] == 1
    assert res[0]["checkupDate"] == body["checkupDate"]
    assert res[0]["id"] == mypage["reservationId"]

    # Exactly one SMS per announced status (PAID, REQUESTED), also once idle.
    def two_sms():
        n = system.gateway.items("/notifications?orderId=%d" % oid, "notifications")
        return n if len(n) >= 2 else None
    sms = wait_until(two_sms, what="2 notifications for order %d" % oid)
    assert sorted(x["orderStatus"] for x in sms) == ["PAID", "REQUESTED"], sms
    system.wait_idle()
    for _ in range(3):
        sms = system.gateway.items("/notifications?orderId=%d" % oid, "notifications")
        assert len(sms) == 2, sms
    for x in sms:
        assert x["orderId"] == oid
        assert "5678" in x["to"] and "1234" not in x["to"], x["to"]
        assert x["text"], x
        assert x["deliveryStatus"] in ("QUEUED", "SENT"), x
        assert "4111111111111111" not in str(x)

    # Nothing else happened: one order, one payment, one reservation.
    assert hc.page_total(system.gateway.get("/orders")) == 1
    assert hc.page_total(system.gateway.get("/paymentHistories")) == 1
    assert hc.page_total(system.gateway.get("/reservations")) == 1


def test_trace_id_follows_the_booking_through_every_service_log(system):
    r, _, trace_id = book(system)
    assert r.status == 201, r
    oid = str(r.json["id"])
    wait_until(lambda: system.gateway.get("/mypages/%s" % oid).json.get("status") == "REQUESTED",
               what="mypage REQUESTED")
    wait_until(lambda: len(system.gateway.items("/notifications?orderId=%s" % oid,
                                                "notifications")) >= 2,
               what="2 notifications")

    def lines_for(service):
        return [ln for ln in system.log_lines(service)
                if hc.line_order(ln) == oid and trace_id in (hc.line_trace(ln) or "")]

    for service in hc.SERVICES:
        wait_until(lambda service=service: lines_for(service), timeout=10,
                   what="a %s log line with orderId %s and trace %s" % (service, oid, trace_id))
    # And no log line ever carries the full card number.
    for ln in system.log_lines():
        assert "4111111111111111" not in str(ln), ln


def test_utf8_name_round_trips(system):
    name = "김철수 Ünïcødé 😀"
    r, _, _ = book(system, name=name, phone="011 987 6543", orderType="prime")
    assert r.status == 201, r
    oid = r.json["id"]
    assert r.json["name"] == name
    assert r.json["amount"] == 150000
    assert r.json["phone"].endswith("6543") and "987" not in r.json["phone"], r.json["phone"]
    assert system.gateway.get("/orders/%d" % oid).json["name"] == name
    # The view may exist before Ordered fills the name in (PaymentApproved can
    # arrive first), so wait for the name, then compare it.
    def mypage():
        g = system.gateway.get("/mypages/%d" % oid)
        return g.json if g.status == 200 and g.json.get("name") is not None else None
    m = wait_until(mypage, what="mypage %d with a name" % oid)
    assert m["name"] == name


def test_declined_card_is_402_and_nothing_reaches_the_center(system):
    r, _, _ = book(system, cardNo=hc.DECLINED_CARD)
    assert r.status == 402, r
    assert r.json["error"] == "payment_declined" and r.json["message"], r
    assert hc.DECLINED_CARD not in r.text
    orders = system.gateway.items("/orders", "orders")
    assert len(orders) == 1 and orders[0]["status"] == "FAILED", orders
    oid = orders[0]["id"]
    pays = system.gateway.items("/paymentHistories?orderId=%d" % oid, "paymentHistories")
    assert [p["status"] for p in pays] in ([], ["DECLINED"]), pays
    system.wait_idle()
    assert system.gateway.items("/reservations", "reservations") == []
