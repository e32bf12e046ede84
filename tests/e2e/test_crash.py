"""Crash safety (I3, I4, I5): kill -9 a service during or after a burst of
bookings, restart it, and check that no event was lost or applied twice:
one reservation, one mypage, one SMS per status for every paid booking."""

import collections
import threading

import pytest

import hc
from hc import wait_until

pytestmark = pytest.mark.slow

N = 60
THREADS = 4
PRICES = {"basic": 50000, "prime": 150000}


class Burst:
    """N bookings POSTed to the order port from a few threads."""

    def __init__(self, system, n=N, threads=THREADS):
        self.system = system
        self.n = n
        self.results = [None] * n  # (status, json) or ("error", repr)
        self.done = 0
        self._next = 0
        self._cv = threading.Condition()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def body(self, i):
        return hc.booking(name="고객%d" % i, phone="010-%04d-%04d" % (1000 + i, i),
                          orderType="basic" if i % 3 else "prime",
                          checkupDate=hc.checkup_date(5 + i % 4),
                          cardNo=hc.card_number(i))

    def _run(self):
        while True:
            with self._cv:
                i = self._next
                if i >= self.n:
                    return
                self._next += 1
            try:
                r = self.system.order.post("/orders", self.body(i), timeout=15)
                res = (r.status, r.json)
            except Exception as e:  # noqa: BLE001 - recorded and asserted on later
                res = ("error", repr(e))
            with self._cv:
                self.results[i] = res
                self.done += 1
                self._cv.notify_all()

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def wait_done(self, k, timeout=30):
        """Waits until at least k bookings have been answered."""
        with self._cv:
            ok = self._cv.wait_for(lambda: self.done >= k, timeout=timeout)
        assert ok, "burst stalled at %d/%d answers" % (self.done, k)

    def join(self, timeout=60):
        self.wait_done(self.n, timeout)
        for t in self._threads:
            t.join(timeout)

    def paid(self):
        """{orderId: order json} of the bookings answered 201."""
        return {j["id"]: j for s, j in self.results if s == 201}


def group(items, key="orderId"):
    g = collections.defaultdict(list)
    for x in items:
        g[x[key]].append(x)
    return g


def every_item(client, path, collection):
    """Every item of a collection, page by page (a page holds at most 1000:
    a burst of 500 bookings already has more notifications than that)."""
    out, page = [], 0
    while True:
        r = client.get("%s%spage=%d&size=1000" % (path, "&" if "?" in path else "?", page))
        assert r.status == 200, "GET %s -> %r" % (path, r)
        out += (r.json.get("_embedded") or {}).get(collection, [])
        page += 1
        if page >= r.json["page"]["totalPages"]:
            return out


def verify_every_booking_processed_once(system, paid, others=(), timeout=40):
    """Polls until every paid booking ({orderId: order json}) is REQUESTED
    everywhere, then asserts exactly one reservation, one payment, one mypage
    and one SMS per status. `others` are orderIds of bookings that failed:
    they may have records, but hold no capacity and no charge."""
    oids = set(paid)
    others = set(others)
    s = system

    def all_reserved():
        res = group(every_item(s.reservation, "/reservations", "reservations"))
        return res if oids <= set(res) else None
    wait_until(all_reserved, timeout=timeout,
               what="a reservation for each of the %d paid orders" % len(oids))

    def all_mypages_requested():
        mp = {m["orderId"]: m for m in every_item(s.notification, "/mypages", "mypages")}
        return mp if all(mp.get(o, {}).get("status") == "REQUESTED"
                         and mp[o].get("reservationId") for o in oids) else None
    wait_until(all_mypages_requested, timeout=timeout, what="every mypage REQUESTED")

    def all_sms():
        n = group(every_item(s.notification, "/notifications", "notifications"))
        return n if all(len(n.get(o, [])) >= 2 for o in oids) else None
    wait_until(all_sms, timeout=timeout, what="2 SMS for every order")

    def all_orders_requested():
        od = {o["id"]: o for o in every_item(s.order, "/orders", "orders")}
        return od if all(od.get(o, {}).get("status") == "REQUESTED" for o in oids) else None
    wait_until(all_orders_requested, timeout=timeout, what="every order REQUESTED")

    s.wait_idle(timeout=timeout)

    # Exactly once, read after the system went idle.
    res = group(every_item(s.reservation, "/reservations", "reservations"))
    assert set(res) <= oids | others, "reservations for unknown orders: %s" % (set(res) - oids)
    for o in set(res) & others:
        assert all(r["status"] in ("CANCELED", "REJECTED") for r in res[o]), res[o]
    dup = {o: len(v) for o, v in res.items() if o in oids and len(v) != 1}
    assert not dup, "orders with more than one reservation: %s" % dup
    for o, order in paid.items():
        r = res[o][0]
        assert r["status"] == "REQUESTED", r
        assert r["checkupDate"] == order["checkupDate"] and r["centerId"] == order["centerId"], r

    mp = {m["orderId"]: m for m in every_item(s.notification, "/mypages", "mypages")}
    assert oids <= set(mp) <= oids | others, set(mp) ^ oids
    for o in set(mp) & others:
        assert mp[o]["status"] == "FAILED", mp[o]
        hist = [h["status"] for h in mp[o]["history"]]
        assert len(hist) == len(set(hist)), (o, hist)
    for o in oids:
        m = mp[o]
        assert m["id"] == o
        assert m["status"] == "REQUESTED"
        assert m["reservationId"] == res[o][0]["id"], (m, res[o])
        hist = [h["status"] for h in m["history"]]
        assert hist == ["PAID", "REQUESTED"], (o, hist)

    sms = group(every_item(s.notification, "/notifications", "notifications"))
    assert oids <= set(sms) <= oids | others, set(sms) ^ oids
    for o in set(sms) & others:
        statuses = collections.Counter(x["orderStatus"] for x in sms[o])
        assert max(statuses.values()) == 1, (o, statuses)
    for o in oids:
        statuses = collections.Counter(x["orderStatus"] for x in sms[o])
        assert statuses == {"PAID": 1, "REQUESTED": 1}, (o, statuses)

    pays = group(every_item(s.payment, "/paymentHistories", "paymentHistories"))
    for o in others:
        assert all(p["status"] != "APPROVED" for p in pays.get(o, [])), pays.get(o)
    for o, order in paid.items():
        assert len(pays.get(o, [])) == 1, (o, pays.get(o))
        p = pays[o][0]
        assert p["status"] == "APPROVED" and p["amount"] == order["amount"], p
        assert p["amount"] == PRICES[order["orderType"]]

    # The brief's per-order filters agree with the lists.
    for o in oids:
        assert len(s.reservation.items("/reservations?orderId=%d" % o, "reservations")) == 1
        n = s.notification.items("/notifications?orderId=%d" % o, "notifications")
        assert sorted(x["orderStatus"] for x in n) == ["PAID", "REQUESTED"], (o, n)


def verify_answered_bookings_survived(services, answered, timeout=40):
    """After kills that may have cut requests: waits until no order is PENDING
    (the recovery fails those), then checks that every booking answered 201
    ({orderId: json}) still exists and is processed exactly once, and that
    the FAILED ones hold no charge and no capacity."""
    def settled():
        orders = {o["id"]: o for o in services.order.items("/orders?size=1000", "orders")}
        return orders if all(o["status"] != "PENDING" for o in orders.values()) else None
    orders = wait_until(settled, timeout=timeout, what="no PENDING order left after the kill")
    missing = set(answered) - set(orders)
    assert not missing, "orders answered 201 but lost by the kill: %s" % missing
    paid = {o: j for o, j in orders.items() if j["status"] != "FAILED"}
    failed = set(orders) - set(paid)
    assert set(answered) <= set(paid), "answered 201 but then FAILED: %s" % (set(answered) - set(paid))
    verify_every_booking_processed_once(services, paid, others=failed)


def assert_all_paid(burst):
    bad = [(i, r) for i, r in enumerate(burst.results) if r is None or r[0] != 201]
    assert not bad, "bookings not accepted (%d of %d): %s" % (len(bad), burst.n, bad[:5])
    for s, j in burst.results:
        assert j["status"] == "PAID", j


@pytest.mark.parametrize("victim", ["reservation", "notification"])
def test_kill9_consumer_mid_burst(services, victim):
    """Bookings go on while a consumer is down (I5); after its restart nothing
    is lost or applied twice (I4), every status gets exactly one SMS (I3)."""
    burst = Burst(services).start()
    burst.wait_done(N // 3)
    services.kill9(victim)
    assert not services.live(victim)
    burst.wait_done(2 * N // 3)  # these were booked with the victim dead
    services.restart(victim)
    burst.join()
    assert_all_paid(burst)
    assert len(burst.paid()) == N
    verify_every_booking_processed_once(services, burst.paid())


def test_kill9_consumer_twice_while_events_flow(services):
    """Two kills in a row, the second while the restarted consumer catches up."""
    burst = Burst(services).start()
    burst.wait_done(N // 4)
    services.kill9("reservation")
    burst.wait_done(N // 2)
    services.restart("reservation")
    services.kill9("reservation")
    services.kill9("notification")
    services.restart("notification")
    services.restart("reservation")
    burst.join()
    assert_all_paid(burst)
    verify_every_booking_processed_once(services, burst.paid())


def test_kill9_order_after_burst_keeps_data(services):
    burst = Burst(services).start()
    burst.join()
    assert_all_paid(burst)
    before = burst.paid()
    services.kill9("order")
    assert not services.live("order")
    services.restart("order")

    listed = services.order.get("/orders?size=1000")
    assert listed.status == 200 and hc.page_total(listed) == N, listed
    for o, j in before.items():
        r = services.order.get("/orders/%d" % o)
        assert r.status == 200, r
        for k in ("id", "name", "phone", "orderType", "checkupDate", "centerId", "amount",
                  "paymentId", "cardNo", "createdAt"):
            assert r.json[k] == j[k], (k, r.json, j)

    # Events the order service had not yet published before the kill flow now.
    verify_every_booking_processed_once(services, before)

    # And it takes new bookings with fresh ids.
    r = services.order.post("/orders", hc.booking(cardNo=hc.card_number(9999)))
    assert r.status == 201, r
    assert r.json["id"] not in before
    assert hc.page_total(services.order.get("/orders")) == N + 1


def test_kill9_order_mid_burst_loses_no_paid_booking(make_system):
    """Orders answered 201 before the kill survive it and are processed; a
    request cut by the kill may fail, but then its order ends FAILED with no
    charge and no capacity held (I2), once the PENDING recovery has run."""
    services = make_system(HC_PENDING_RECOVERY_MS="3000", HC_PAYMENT_TIMEOUT_MS="1000")
    services.start_services()
    burst = Burst(services).start()
    burst.wait_done(N // 3)
    services.kill9("order")
    services.restart("order")
    burst.join()
    answered = burst.paid()
    assert len(answered) >= N // 3
    verify_answered_bookings_survived(services, answered)
