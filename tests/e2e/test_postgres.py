"""PostgreSQL storage (HC_DB=postgres, HC_<SERVICE>_DB_URL) on a real server:
the whole booking flow and /actuator/health's database, capacity under a
burst with two reservation instances on one schema, the server restarted in
the middle of a burst, and a polyglot mix (notification on PostgreSQL, the
others on SQLite). One server per session (conftest.py pg_server), a
database per test."""

import collections
import os
import subprocess
import threading

import pytest

import hc
from hc import wait_until
from test_crash import Burst, group, verify_answered_bookings_survived
from test_invariants import book_concurrently

SERVICES = ("order", "payment", "reservation", "notification")


def pg_env(pg_server, db, **extra):
    env = {"HC_DB": "postgres", "HC_DB_URL": pg_server.url(db)}
    env.update(extra)
    return env


def health_db(system, name):
    r = system.client(name).get("/actuator/health")
    return r.json["components"]["db"]


def settle_one(s, oid, status):
    def done():
        o = s.order.get("/orders/%d" % oid).json
        m = s.notification.get("/mypages/%d" % oid)
        return o["status"] == status and m.status == 200 and m.json["status"] == status
    wait_until(done, timeout=30, what="order %d %s in order and mypage" % (oid, status))


def book_confirm_cancel(s):
    """One booking through its whole life: PAID -> REQUESTED -> CONFIRMED ->
    CANCELED, each status in mypage with one SMS, the payment refunded."""
    r = s.order.post("/orders", hc.booking(name="홍길동", checkupDate=hc.checkup_date(9)))
    assert r.status == 201, r
    oid = r.json["id"]
    settle_one(s, oid, "REQUESTED")
    res = s.reservation.items("/reservations?orderId=%d" % oid, "reservations")
    assert len(res) == 1 and res[0]["status"] == "REQUESTED", res
    r = s.reservation.patch("/reservations/%d" % res[0]["id"], {"status": "CONFIRMED"})
    assert r.status == 200, r
    settle_one(s, oid, "CONFIRMED")
    r = s.order.delete("/orders/%d" % oid)
    assert r.status == 200, r
    settle_one(s, oid, "CANCELED")
    s.wait_idle(timeout=30)
    pays = s.payment.items("/paymentHistories?orderId=%d" % oid, "paymentHistories")
    assert [p["status"] for p in pays] == ["CANCELED"], pays
    m = s.notification.get("/mypages/%d" % oid).json
    assert m["name"] == "홍길동"
    assert [h["status"] for h in m["history"]] == ["PAID", "REQUESTED", "CONFIRMED", "CANCELED"]
    sms = s.notification.items("/notifications?orderId=%d" % oid, "notifications")
    assert collections.Counter(x["orderStatus"] for x in sms) == \
        {"PAID": 1, "REQUESTED": 1, "CONFIRMED": 1, "CANCELED": 1}, sms
    return oid


def test_postgres_booking_flow_health_check_and_masked_password(make_system, pg_server, pg_db):
    """Every service on PostgreSQL (a schema each, named after it): a booking
    lives through confirm and cancel, /actuator/health names PostgreSQL, the
    password of the URL shows nowhere, `healthcenter check` reaches every
    schema, and no service database file is made in the data directory."""
    url = pg_server.url(pg_db, password="s3cretpw")  # trust authentication ignores it
    s = make_system(HC_DB="postgres", HC_DB_URL=url)
    s.start_services()
    for name in SERVICES:
        db = health_db(s, name)
        assert db == {"status": "UP", "details": {"database": "PostgreSQL"}}, (name, db)
    book_confirm_cancel(s)

    schemas = pg_server.psql("SELECT string_agg(schema_name, ',' ORDER BY schema_name)"
                             " FROM information_schema.schemata WHERE schema_name IN"
                             " ('order', 'payment', 'reservation', 'notification')", db=pg_db)
    assert schemas == "notification,order,payment,reservation"
    assert pg_server.psql('SELECT COUNT(*) FROM "order".orders', db=pg_db) == "1"
    # the last migration: whose a reservation is (phone)
    assert pg_server.psql('SELECT MAX(version) FROM reservation.schema_version', db=pg_db) == "4"
    for name in SERVICES:
        assert not os.path.exists(os.path.join(s.data_dir, "%s.db" % name)), name

    env = dict(s.env)
    cfg = subprocess.run([s.bin, "config"], env=env, capture_output=True, text=True, timeout=30)
    assert cfg.returncode == 0, cfg.stderr
    assert "s3cretpw" not in cfg.stdout
    assert "HC_DB_URL='postgresql://***@127.0.0.1:%d/%s'" % (pg_server.port, pg_db) in cfg.stdout
    chk = subprocess.run([s.bin, "check"], env=env, capture_output=True, text=True, timeout=60)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    for name in SERVICES:
        assert "schema %s: reachable" % name in chk.stdout, chk.stdout
    for proc in s.all_procs:
        with open(proc.log_path, encoding="utf-8", errors="replace") as f:
            assert "s3cretpw" not in f.read(), proc.log_path


def test_postgres_two_reservation_instances_never_overbook(make_system, request, pg_server,
                                                            pg_db, hc_bin):
    """120 bookings race for a date that takes 5 while two reservation
    processes apply the same events to one schema: exactly 5 hold a place,
    every other booking is rejected and refunded, one reservation per order."""
    s = make_system(**pg_env(pg_server, pg_db))
    s.start_services()
    # The second instance: the same data directory (the event log), its own port.
    env2 = {k: v for k, v in s.env.items() if k.startswith("HC_") and not k.endswith("_PORT")}
    env2["HC_ORDER_URL"] = s.base("order")
    s2 = hc.System(s.data_dir, hc_bin, env2)
    s2.log_dir = os.path.join(s.data_dir, "logs2")
    os.makedirs(s2.log_dir, exist_ok=True)
    request.node._hc_systems.append(s2)
    s2.start("reservation")
    assert health_db(s2, "reservation")["details"]["database"] == "PostgreSQL"

    capacity, n = 5, 120
    date = hc.checkup_date(11)
    r = s2.reservation.put("/centers/1/slots/%s" % date, {"capacity": capacity})
    assert r.status == 200, r
    bodies = [hc.booking(name="경쟁%d" % i, phone="010-6%03d-%04d" % (i, i), checkupDate=date,
                         cardNo=hc.card_number(3000 + i)) for i in range(n)]
    answers = book_concurrently(s.order, bodies)
    assert [st for st, _ in answers] == [201] * n, collections.Counter(st for st, _ in answers)
    oids = {j["id"] for _, j in answers}

    def settled():
        od = {o["id"]: o for o in s.order.items("/orders?size=1000", "orders")}
        st = collections.Counter(od[o]["status"] for o in oids if o in od)
        return od if st.get("REQUESTED", 0) + st.get("REJECTED", 0) == n else None
    orders = wait_until(settled, timeout=60, what="every order REQUESTED or REJECTED")
    requested = {o for o in oids if orders[o]["status"] == "REQUESTED"}
    assert len(requested) == capacity, len(requested)

    res = group(s.reservation.items("/reservations?size=1000", "reservations"))
    assert set(res) == oids
    assert all(len(v) == 1 for v in res.values())
    active = {o for o, v in res.items() if v[0]["status"] in ("REQUESTED", "CONFIRMED")}
    assert active == requested
    for inst in (s, s2):
        slot = inst.reservation.get("/centers/1/slots/%s" % date).json
        assert (slot["capacity"], slot["booked"], slot["remaining"]) == (capacity, capacity, 0)

    def refunds_done():
        p = group(s.payment.items("/paymentHistories?size=1000", "paymentHistories"))
        return p if all(p.get(o) and p[o][0]["status"] == "CANCELED"
                        for o in oids - requested) else None
    pays = wait_until(refunds_done, timeout=40, what="a refund for every rejected booking")
    for o in oids:
        assert len(pays[o]) == 1, pays[o]
        assert pays[o][0]["status"] == ("APPROVED" if o in requested else "CANCELED")
    s.wait_idle(timeout=40)


def test_postgres_restarted_mid_burst(make_system, pg_server, pg_db):
    """PostgreSQL stops in the middle of a burst of bookings and comes back:
    while it is gone the services answer 503 (storage_unavailable or pay
    later) and report not ready, never a 500; once it is back they recover
    without a restart, and every booking answered 201 is processed exactly
    once, the failed ones hold no charge and no capacity."""
    s = make_system(**pg_env(pg_server, pg_db))
    s.start_services()
    burst = Burst(s, n=300, threads=4)
    burst.start()
    burst.wait_done(30, timeout=60)
    pg_server.stop()
    try:
        wait_until(lambda: not s.ready("order"), timeout=20, what="order not ready without db")
        down = health_db(s, "order")
        assert down["status"] == "DOWN" and down["details"]["database"] == "PostgreSQL", down
        r = s.order.post("/orders", hc.booking(checkupDate=hc.checkup_date(6)))
        assert r.status == 503 and r.headers.get("Retry-After"), r
    finally:
        pg_server.start()
    s.wait_ready(SERVICES, timeout=30)
    burst.join(timeout=120)
    statuses = collections.Counter(r[0] for r in burst.results)
    assert set(statuses) <= {201, 503}, statuses
    assert statuses[201] >= 30, statuses
    for st, j in burst.results:
        if st == 503:
            assert j["error"] in ("storage_unavailable", "payment_unavailable"), j
    for proc in s.all_procs:
        assert proc.alive(), "%s exited" % proc.name
    answered = {j["id"]: j for st, j in burst.results if st == 201}
    verify_answered_bookings_survived(s, answered, timeout=60)
    # And it takes new bookings as before.
    r = s.order.post("/orders", hc.booking(checkupDate=hc.checkup_date(7)))
    assert r.status == 201, r


def test_polyglot_notification_on_postgres_others_on_sqlite(make_system, pg_server, pg_db):
    """HC_DB stays sqlite and HC_NOTIFICATION_DB_URL puts notification alone on
    PostgreSQL: the booking flow works end to end, each service names its own
    database in /actuator/health, and the files are only SQLite's."""
    # HC_DB and HC_DB_URL unset: also on the distributed pass (HC_TEST_STACK).
    s = make_system(HC_DB=None, HC_DB_URL=None, HC_NOTIFICATION_DB_URL=pg_server.url(pg_db))
    s.start_all()
    kinds = {name: health_db(s, name)["details"]["database"] for name in SERVICES}
    assert kinds == {"order": "SQLite", "payment": "SQLite", "reservation": "SQLite",
                     "notification": "PostgreSQL"}, kinds
    oid = book_confirm_cancel(s)
    assert pg_server.psql("SELECT status FROM notification.mypage WHERE order_id = %d" % oid,
                          db=pg_db) == "CANCELED"
    assert not os.path.exists(os.path.join(s.data_dir, "notification.db"))
    for name in ("order", "payment", "reservation"):
        assert os.path.exists(os.path.join(s.data_dir, "%s.db" % name)), name
    # Through the gateway too: the mypage as the customer sees it.
    assert s.gateway.get("/mypages/%d" % oid).status in (200, 401, 403)
