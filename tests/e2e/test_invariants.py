"""The invariants of SYSTEM.md, end to end on real processes:
I1 no overbooking under concurrency, I2 money (charged exactly while booked,
refunded otherwise, never twice), I3 exactly one SMS per status change even when
events are delivered again, I4 nothing lost or applied twice when any process is
killed with SIGKILL, I5 fault isolation (bookings go on without reservation and
notification; without payment they fail fast with 503 and charge nothing)."""

import collections
import os
import sqlite3
import subprocess
import threading
import time

import pytest

import hc
from hc import wait_until
from test_crash import (Burst, group, verify_answered_bookings_survived,
                        verify_every_booking_processed_once)

pytestmark = pytest.mark.slow


def book_concurrently(client, bodies, threads=8):
    """POSTs every body to /orders from `threads` threads; returns the answers
    as a list of (status, json) in body order."""
    results = [None] * len(bodies)
    nxt = iter(range(len(bodies)))
    lock = threading.Lock()

    def run():
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                return
            r = client.post("/orders", bodies[i], timeout=30)
            results[i] = (r.status, r.json)

    ts = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(90)
    assert all(r is not None for r in results), "some bookings got no answer"
    return results


# --------------------------------------------------------------------------- I1, I2


def test_concurrent_bookings_never_overbook_and_refund_the_rest(services):
    """120 bookings race for a date that takes 5: exactly 5 hold a reservation,
    the other 115 end REJECTED with their payment refunded, nobody is charged
    twice, and availability says the date is full."""
    capacity, n = 5, 120
    date = hc.checkup_date(11)
    r = services.reservation.put("/centers/1/slots/%s" % date, {"capacity": capacity})
    assert r.status == 200, r

    bodies = [hc.booking(name="경쟁%d" % i, phone="010-5%03d-%04d" % (i, i), checkupDate=date,
                         cardNo=hc.card_number(1000 + i)) for i in range(n)]
    answers = book_concurrently(services.order, bodies)
    assert [s for s, _ in answers] == [201] * n, collections.Counter(s for s, _ in answers)
    oids = {j["id"] for _, j in answers}
    assert len(oids) == n

    def settled():
        od = {o["id"]: o for o in services.order.items("/orders?size=1000", "orders")}
        st = collections.Counter(od[o]["status"] for o in oids if o in od)
        return od if st.get("REQUESTED", 0) + st.get("REJECTED", 0) == n else None
    orders = wait_until(settled, timeout=60, what="every order REQUESTED or REJECTED")
    requested = {o for o in oids if orders[o]["status"] == "REQUESTED"}
    rejected = oids - requested
    assert len(requested) == capacity, (len(requested), len(rejected))

    # Reservations: exactly `capacity` active for the date, one record per order.
    res = group(services.reservation.items("/reservations?size=1000", "reservations"))
    assert set(res) == oids, set(res) ^ oids
    assert all(len(v) == 1 for v in res.values()), {o: len(v) for o, v in res.items() if len(v) != 1}
    active = {o for o, v in res.items() if v[0]["status"] in ("REQUESTED", "CONFIRMED")}
    assert active == requested
    assert all(res[o][0]["status"] == "REJECTED" and res[o][0]["reason"] for o in rejected)
    slot = services.reservation.get("/centers/1/slots/%s" % date)
    assert slot.status == 200, slot
    assert (slot.json["capacity"], slot.json["booked"], slot.json["remaining"]) == (capacity, capacity, 0)

    # Money (I2): one payment per order; charged while booked, refunded when rejected.
    def refunds_done():
        p = group(services.payment.items("/paymentHistories?size=1000", "paymentHistories"))
        return p if all(p.get(o) and p[o][0]["status"] == "CANCELED" for o in rejected) else None
    pays = wait_until(refunds_done, timeout=40, what="a refund for every rejected booking")
    assert set(pays) == oids
    for o in oids:
        assert len(pays[o]) == 1, pays[o]
        assert pays[o][0]["amount"] == orders[o]["amount"]
        assert pays[o][0]["status"] == ("APPROVED" if o in requested else "CANCELED"), pays[o]

    # The read model and SMS follow: one message per status reached.
    def views_done():
        mp = {m["orderId"]: m for m in services.notification.items("/mypages?size=1000", "mypages")}
        ok = all(mp.get(o, {}).get("status") == orders[o]["status"] for o in oids)
        return mp if ok else None
    wait_until(views_done, timeout=40, what="every mypage to follow its order")
    services.wait_idle(timeout=40)
    sms = group(services.notification.items("/notifications?size=1000", "notifications"))
    for o in oids:
        got = collections.Counter(x["orderStatus"] for x in sms.get(o, []))
        assert got == {"PAID": 1, orders[o]["status"]: 1}, (o, got)


# --------------------------------------------------------------------------- I5


def test_bookings_succeed_while_reservation_and_notification_are_down(services):
    """With the center side and notification stopped, bookings still answer 201
    PAID; once they are back, every booking is reserved and announced once."""
    services.stop("reservation")
    services.stop("notification")
    paid = {}
    for i in range(15):
        r = services.order.post("/orders", hc.booking(name="야간%d" % i, cardNo=hc.card_number(2000 + i)))
        assert r.status == 201 and r.json["status"] == "PAID", r
        paid[r.json["id"]] = r.json
    # Nothing can move them on while the consumers are away.
    for o in paid:
        assert services.order.get("/orders/%d" % o).json["status"] == "PAID"
    services.restart("reservation")
    services.restart("notification")
    verify_every_booking_processed_once(services, paid)


def test_payment_down_fails_fast_with_503_and_charges_nothing(make_system):
    """Payment stopped: bookings answer 503 with Retry-After at once (not after
    the payment timeout), the orders end FAILED, and nothing is charged or
    reserved, then or after payment comes back."""
    services = make_system(HC_PAYMENT_TIMEOUT_MS="8000")
    services.start_services()
    services.stop("payment")
    failed = []
    for i in range(5):
        t0 = time.monotonic()
        r = services.order.post("/orders", hc.booking(cardNo=hc.card_number(3000 + i)))
        took = time.monotonic() - t0
        assert r.status == 503, r
        assert r.json["error"] == "payment_unavailable", r
        assert int(r.headers["Retry-After"]) > 0, r.headers
        assert took < 5.0, "503 took %.1fs: it waited for the payment timeout" % took
        failed.append(r.json)

    orders = services.order.items("/orders?size=100", "orders")
    assert len(orders) == 5
    assert all(o["status"] == "FAILED" for o in orders), orders

    services.restart("payment")
    r = services.order.post("/orders", hc.booking(cardNo=hc.card_number(3999)))
    assert r.status == 201, r
    ok = r.json["id"]
    verify_every_booking_processed_once(services, {ok: r.json},
                                        others={o["id"] for o in orders})
    pays = services.payment.items("/paymentHistories?size=100", "paymentHistories")
    assert [p["orderId"] for p in pays] == [ok], pays
    res = services.reservation.items("/reservations?size=100", "reservations")
    assert [x["orderId"] for x in res] == [ok], res


# --------------------------------------------------------------------------- I4


def test_kill9_each_service_in_turn_during_a_burst(make_system):
    """Every service is killed with SIGKILL and restarted while bookings flow.
    A booking answered 201 is never lost and ends with one reservation, one
    payment, one mypage and one SMS per status; one cut by a kill ends FAILED
    with no charge and no capacity held."""
    services = make_system(HC_PENDING_RECOVERY_MS="3000", HC_PAYMENT_TIMEOUT_MS="1000")
    services.start_services()
    answered = {}
    # One burst per victim: while payment is down bookings fail in a few ms,
    # so one long burst would be over before the later kills.
    for victim in ("payment", "reservation", "notification", "order"):
        burst = Burst(services, n=30).start()
        burst.wait_done(10, timeout=60)
        services.kill9(victim)
        services.restart(victim)
        burst.join(timeout=120)
        answered.update(burst.paid())
    # The system takes bookings again after every kill.
    r = services.order.post("/orders", hc.booking(cardNo=hc.card_number(4999)))
    assert r.status == 201, r
    answered[r.json["id"]] = r.json
    verify_answered_bookings_survived(services, answered)


# --------------------------------------------------------------------------- I3


def forget_offsets(system, service):
    """Makes service's consumer group forget where it is, while the service
    is stopped: on the embedded log its row of offsets.db goes; on Kafka the
    group's committed offsets are reset to the topic's beginning (Kafka's
    consumer-groups tool, scripts/kafka.sh groups)."""
    if system.env.get("HC_BUS") == "kafka":
        group = system.env.get("HC_KAFKA_GROUP_PREFIX", "") + service
        r = subprocess.run([os.path.join(hc.repo_root(), "scripts", "kafka.sh"), "groups",
                            "--bootstrap-server", system.env["HC_KAFKA_BROKERS"],
                            "--group", group, "--topic", system.env["HC_TOPIC"],
                            "--reset-offsets", "--to-earliest", "--execute"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and group in r.stdout, (r.stdout, r.stderr)
        return
    offsets = os.path.join(system.data_dir, "bus", "offsets.db")
    db = sqlite3.connect(offsets, timeout=10)
    with db:
        gone = db.execute("DELETE FROM consumer_offsets WHERE grp = ?", (service,)).rowcount
    db.close()
    assert gone == 1


def test_redelivered_events_send_no_second_sms(services):
    """A booking goes PAID -> REQUESTED -> CONFIRMED -> CANCELED: one SMS per
    status, history in order. Then the notification service loses its offset
    (as after a power cut) and reads the whole log again: nothing changes."""
    r = services.order.post("/orders", hc.booking(checkupDate=hc.checkup_date(20)))
    assert r.status == 201, r
    oid = r.json["id"]

    def reservation():
        items = services.reservation.items("/reservations?orderId=%d" % oid, "reservations")
        return items[0] if items and items[0]["status"] == "REQUESTED" else None
    rid = wait_until(reservation, what="reservation of order %d" % oid)["id"]
    c = services.reservation.post("/reservations/%d/confirm" % rid)
    assert c.status == 200 and c.json["status"] == "CONFIRMED", c
    wait_until(lambda: services.order.get("/orders/%d" % oid).json["status"] == "CONFIRMED",
               what="order CONFIRMED")
    d = services.order.delete("/orders/%d" % oid)
    assert d.status == 200 and d.json["status"] == "CANCELED", d

    expected = ["PAID", "REQUESTED", "CONFIRMED", "CANCELED"]

    def announced():
        m = services.notification.get("/mypages/%d" % oid).json
        return m if [h["status"] for h in m.get("history", [])] == expected else None
    before = wait_until(announced, what="mypage history %s" % expected)
    services.wait_idle()
    sms = services.notification.items("/notifications?orderId=%d" % oid, "notifications")
    assert sorted(x["orderStatus"] for x in sms) == sorted(expected), sms

    # Forget the notification group's offset: on restart it consumes every
    # event again from the start of the log.
    services.stop("notification")
    forget_offsets(services, "notification")
    services.restart("notification")
    services.wait_idle()
    after = services.notification.get("/mypages/%d" % oid).json
    assert after["history"] == before["history"]
    assert after["status"] == "CANCELED"
    again = services.notification.items("/notifications?orderId=%d" % oid, "notifications")
    assert sorted(x["id"] for x in again) == sorted(x["id"] for x in sms), again
