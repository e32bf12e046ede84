"""Integrity end to end (invariant I9, and a full disk): a full disk answers 503
storage_unavailable and not-ready, changes nothing, and recovers by itself; a
flipped byte in the log, an offset past its end and a corrupt service database
stop with a clear reason, a metric and not-ready, and `healthcenter check`
names them; an event that cannot be applied is parked in dead_letters and
`healthcenter dead-letters retry` applies it once fixed.

Real processes, real files: the bytes are changed on disk with the system
stopped (or through SQLite while it runs, as an operator would)."""

import errno
import json
import os
import sqlite3
import subprocess
import time
import uuid
import zlib

import pytest

import hc
from hc import wait_until

TOPIC = "healthcenter"


# --------------------------------------------------------------------------- helpers


def booked(c, **overrides):
    """Books on client c and asserts 201; returns the order id."""
    r = c.post("/orders", hc.booking(**overrides))
    assert r.status == 201, r
    return r.json["id"]


def wait_order(c, oid, status):
    def check():
        r = c.get("/orders/%d" % oid)
        return r.status == 200 and r.json["status"] == status
    wait_until(check, what="order %d %s" % (oid, status))


def wait_mypage(c, oid, status):
    def check():
        r = c.get("/mypages/%d" % oid)
        return r.status == 200 and r.json["status"] == status
    wait_until(check, what="mypage %d %s" % (oid, status))


def readiness(system, name):
    """(status code, json) of GET /health/ready."""
    r = hc.request("GET", system.base(name) + "/health/ready", timeout=5.0)
    return r.status, r.json


def wait_not_ready(system, name, *reason_parts, timeout=15.0):
    """Waits until name answers 503 DOWN on both readiness paths with a reason
    containing every part; returns the reason."""
    def check():
        st, body = readiness(system, name)
        if st != 503 or not body or body.get("status") != "DOWN":
            return None
        reason = body.get("reason") or ""
        return reason if all(p in reason for p in reason_parts) else None
    reason = wait_until(check, timeout=timeout,
                        what="%s /health/ready 503 with reason %r" % (name, reason_parts))
    r = hc.request("GET", system.base(name) + "/actuator/health", timeout=5.0)
    assert r.status == 503 and r.json["status"] == "DOWN" and r.json.get("reason"), r
    assert system.live(name), "%s must stay live while not ready" % name
    return reason


def wait_ready_again(system, name, timeout=15.0):
    wait_until(lambda: readiness(system, name) == (200, {"status": "UP"}), timeout=timeout,
               what="%s /health/ready 200 UP again" % name)


def metric(system, service, name, **labels):
    """The value of one sample of /metrics (None when absent)."""
    for n, l, v in system.metrics(service):
        if n == name and all(l.get(k) == want for k, want in labels.items()):
            return v
    return None


def run_cli(system, *args, timeout=60):
    """Runs the healthcenter binary with the system's environment."""
    return subprocess.run([system.bin, *args], env=system.env, capture_output=True, text=True,
                          timeout=timeout)


def data_path(system, *parts):
    return os.path.join(system.env["HC_DATA_DIR"], *parts)


sql = hc.sqlite_sql


def checkpoint(path):
    """Moves everything in path's WAL into the main file (the system is stopped)."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        con.close()


def log_events(system):
    """[(pos, value)] of the topic, in order."""
    return sql(data_path(system, "bus", "events.db"),
               "SELECT pos, value FROM events WHERE topic = ? ORDER BY pos", (TOPIC,))


def log_lines_containing(system, service, text):
    return [l for l in system.log_lines(service) if text in str(l.get("msg", ""))]


# --------------------------------------------------------------------------- A. disk full


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail("cannot mount a %s tmpfs at %s (this test needs root, as CI has): %s"
                    % (size, path, (r.stderr or r.stdout).strip()), pytrace=False)


def unmount(path):
    def try_umount():
        return subprocess.run(["umount", path], capture_output=True).returncode == 0
    try:
        wait_until(try_umount, timeout=10, what="umount %s" % path)
    except hc.WaitTimeout:
        subprocess.run(["umount", "-l", path], capture_output=True)


def fill(path):
    """Writes a filler file at path until the filesystem is full."""
    chunk = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):
            block = chunk[:size]
            while True:
                try:
                    f.write(block)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    st = os.statvfs(os.path.dirname(path))
    assert st.f_bavail == 0, "the filesystem still has %d blocks free" % st.f_bavail


def assert_storage_unavailable(r):
    assert r.status == 503, r
    assert r.headers.get("Retry-After") == "5", r.headers
    assert r.json and r.json.get("error") == "storage_unavailable", r
    assert "nothing was changed" in r.json.get("message", ""), r
    assert r.json.get("fields") == [], r


def snapshot(c, oid, phone):
    """Everything stored about one booking, as the API shows it."""
    return {
        "order": c.get("/orders/%d" % oid).json,
        "orders": c.get("/orders?phone=%s" % phone).json["page"]["totalElements"],
        "mypage": c.get("/mypages/%d" % oid).json,
        "payments": c.items("/paymentHistories?orderId=%d" % oid, "paymentHistories"),
        "reservations": c.items("/reservations?orderId=%d" % oid, "reservations"),
        "sms": c.items("/notifications?orderId=%d" % oid, "notifications"),
    }


@pytest.mark.embedded_only  # fills a tmpfs under the SQLite files and the embedded log
def test_full_disk_answers_503_changes_nothing_and_recovers_by_itself(make_system, tmp_path):
    mnt = str(tmp_path / "tmpfs")
    mount_tmpfs(mnt, "32m")
    s = None
    try:
        s = make_system(HC_DATA_DIR=mnt)
        s.start_all()
        g = s.gateway
        phone = "010-4444-5555"
        oid = booked(g, phone=phone)
        wait_order(g, oid, "REQUESTED")
        wait_mypage(g, oid, "REQUESTED")
        rid = g.items("/reservations?orderId=%d" % oid, "reservations")[0]["id"]
        s.wait_idle()
        before = snapshot(g, oid, phone)

        filler = os.path.join(mnt, "filler")
        fill(filler)

        # The first write to fail finds out, and answers 503 at once: nothing
        # is stored.
        assert_storage_unavailable(g.post("/orders", hc.booking(phone=phone)))
        reason = wait_not_ready(s, "order", "storage is full")
        assert "order.db" in reason, reason
        # From then on every booking is refused at once, with the error shape.
        assert_storage_unavailable(g.post("/orders", hc.booking(phone=phone)))
        assert_storage_unavailable(s.order.post("/orders", hc.booking(phone=phone)))

        # An admin's confirm needs order, the booking's owner, to decide: 503
        # while order cannot write, nothing changed.
        r = g.post("/reservations/%d/confirm" % rid)
        assert r.status == 503 and r.headers.get("Retry-After"), r
        # A capacity change hits the reservation service's own storage the same way.
        slot_path = "/centers/1/slots/%s" % hc.checkup_date(20)
        assert_storage_unavailable(g.put(slot_path, {"capacity": 3}))
        wait_not_ready(s, "reservation", "storage is full", "reservation.db")
        assert_storage_unavailable(g.put(slot_path, {"capacity": 3}))
        # Reads still work, and nothing stored was lost or changed.
        assert snapshot(g, oid, phone) == before

        # Space returns; no request arrives, yet readiness comes back (probe).
        os.unlink(filler)
        wait_ready_again(s, "order")
        wait_ready_again(s, "reservation")
        assert snapshot(g, oid, phone) == before
        oid2 = booked(g, phone=phone)
        wait_order(g, oid2, "REQUESTED")
        r = g.post("/reservations/%d/confirm" % rid)
        assert r.status == 200, r
        wait_order(g, oid, "CONFIRMED")
        wait_mypage(g, oid2, "REQUESTED")
    finally:
        if s is not None:
            s.stop_all()
        unmount(mnt)


# --------------------------------------------------------------------------- B. the log


@pytest.mark.embedded_only  # corrupts a record of the embedded log (its checksum)
def test_flipped_byte_in_the_log_stalls_consumers_until_repaired(make_system):
    s = make_system()
    # Reservation and notification have not run: their groups are behind.
    s.start("payment", "order")
    oid = booked(s.order)
    s.wait_idle(names=("payment", "order"))
    s.stop_all()

    events_db = data_path(s, "bus", "events.db")
    checkpoint(events_db)
    pos, value = log_events(s)[0]  # the booking's first event: nothing before it to apply
    assert json.loads(value)["orderId"] == oid
    event_id = json.loads(value)["eventId"].encode()
    with open(events_db, "rb") as f:
        raw = bytearray(f.read())
    assert raw.count(event_id) == 1, "the eventId must be in the file once"
    at = raw.index(event_id) + 3
    raw[at] ^= 0x01  # one bit of one byte
    with open(events_db, "wb") as f:
        f.write(raw)

    # `check` on the stopped system names the record.
    r = run_cli(s, "check")
    assert r.returncode == 1, r
    assert "record at offset %d" % pos in r.stdout and "checksum mismatch" in r.stdout, r.stdout
    assert "FAILED" in r.stdout.splitlines()[-1], r.stdout

    s.start("payment", "order")
    s.start_live("reservation", "notification")
    for name in ("reservation", "notification"):
        reason = wait_not_ready(s, name, "corrupt_record", "offset %d" % pos, "checksum mismatch")
        assert metric(s, name, "hc_consumer_stalled", reason="corrupt_record") == 1, reason
        assert metric(s, name, "hc_consumer_stalled", reason="offset_beyond_end") == 0
        assert metric(s, name, "hc_consumer_stalled_offset") == pos
    assert s.ready("order") and s.ready("payment")

    # Nothing at or after the record is applied: no silent skip.
    oid2 = booked(s.order)
    wait_until(lambda: metric(s, "notification", "hc_consumer_lag") >= 4,
               what="notification's lag to grow past the new booking's events")
    assert s.notification.get("/mypages/%d" % oid).status == 404
    assert s.notification.get("/mypages/%d" % oid2).status == 404
    assert s.reservation.items("/reservations", "reservations") == []

    # The operator puts the record back (through SQLite, the system running):
    # both consumers resume by themselves and apply everything, in order.
    sql(events_db, "UPDATE events SET value = ? WHERE pos = ?", (value, pos))
    for name in ("reservation", "notification"):
        wait_ready_again(s, name)
        assert metric(s, name, "hc_consumer_stalled", reason="corrupt_record") == 0
    wait_order(s.order, oid, "REQUESTED")
    wait_order(s.order, oid2, "REQUESTED")
    wait_mypage(s.notification, oid, "REQUESTED")
    wait_mypage(s.notification, oid2, "REQUESTED")
    # One error line per stall, not one per re-check.
    for name in ("reservation", "notification"):
        assert len(log_lines_containing(s, name, "stalled (corrupt_record)")) == 1, \
            log_lines_containing(s, name, "stalled")
        assert log_lines_containing(s, name, "resumed")
    r = run_cli(s, "check")  # on the running system
    assert r.returncode == 0, r


@pytest.mark.embedded_only  # moves an offset in the embedded log's offsets.db
def test_offset_beyond_the_end_stalls_until_reset(make_system):
    s = make_system()
    s.start_services()
    oid = booked(s.order)
    wait_mypage(s.notification, oid, "REQUESTED")
    s.wait_idle()
    s.stop_all()

    offsets_db = data_path(s, "bus", "offsets.db")
    (committed,), = sql(offsets_db, "SELECT committed FROM consumer_offsets WHERE grp = ?",
                        ("notification",))
    beyond = committed + 1000
    sql(offsets_db, "UPDATE consumer_offsets SET committed = ? WHERE grp = ?", (beyond, "notification"))

    r = run_cli(s, "check")
    assert r.returncode == 1, r
    assert "group notification (topic healthcenter) committed offset %d is beyond the end" % beyond \
        in r.stdout, r.stdout

    s.start("payment", "order", "reservation")
    s.start_live("notification")
    reason = wait_not_ready(s, "notification", "offset_beyond_end", "offset %d" % beyond)
    assert "log ends at" in reason, reason
    assert metric(s, "notification", "hc_consumer_stalled", reason="offset_beyond_end") == 1
    assert metric(s, "notification", "hc_consumer_stalled_offset") == beyond

    # New events are not skipped: notification applies nothing while stopped.
    oid2 = booked(s.order)
    wait_order(s.order, oid2, "REQUESTED")
    assert s.notification.get("/mypages/%d" % oid2).status == 404

    # The operator sets the offset back: it resumes from there by itself.
    sql(offsets_db, "UPDATE consumer_offsets SET committed = ? WHERE grp = ?",
        (committed, "notification"))
    wait_ready_again(s, "notification")
    wait_mypage(s.notification, oid2, "REQUESTED")
    assert metric(s, "notification", "hc_consumer_stalled", reason="offset_beyond_end") == 0
    assert run_cli(s, "check").returncode == 0


def append_to_log(system, key, value):
    """Appends a message with a correct checksum (only the payload is wrong);
    returns its offset. On Kafka (HC_BUS=kafka) produces it with kcat, keyed
    like the system's own events, and returns the offset it got."""
    if system.env.get("HC_BUS") == "kafka":
        brokers, topic = system.env["HC_KAFKA_BROKERS"], system.env["HC_TOPIC"]
        subprocess.run(["kcat", "-P", "-b", brokers, "-t", topic, "-k", key], input=value,
                       text=True, check=True, timeout=30)
        r = subprocess.run(["kcat", "-C", "-b", brokers, "-t", topic, "-e", "-q", "-J"],
                           capture_output=True, text=True, check=True, timeout=30)
        found = [m["offset"] for m in map(json.loads, r.stdout.splitlines())
                 if m.get("key") == key and m.get("payload") == value]
        assert len(found) == 1, r.stdout
        return found[0]
    crc = zlib.crc32(key.encode() + b"\0" + value.encode())
    con = sqlite3.connect(data_path(system, "bus", "events.db"), timeout=10)
    try:
        cur = con.execute("INSERT INTO events(topic, msg_key, value, appended_at, crc)"
                          " VALUES (?, ?, ?, ?, ?)",
                          (TOPIC, key, value, int(time.time() * 1000), crc))
        con.commit()
        return cur.lastrowid
    finally:
        con.close()


def dead_letters(system, service):
    return system.sql(service,
                      "SELECT id, bus_offset, event_id, event_type, order_id, payload, error,"
                      " retries, retry_requested FROM dead_letters ORDER BY id")


def test_unapplicable_event_is_parked_and_retried_after_fixing(make_system):
    s = make_system()
    s.start_services()
    oid = 900001
    fields = {"eventType": "Ordered", "orderId": oid, "name": "무결성", "phone": "010-9999-0000",
              "orderType": "basic", "checkupDate": hc.checkup_date(5), "centerId": 1,
              "amount": 50000, "status": "PAID"}
    broken = json.dumps(fields, ensure_ascii=False)  # no eventId: not an event
    pos = append_to_log(s, str(oid), broken)

    # Every service parks it in its own database, in its consuming transaction.
    for name in hc.SERVICES:
        wait_until(lambda name=name: metric(s, name, "hc_dead_letters") == 1,
                   what="%s hc_dead_letters 1" % name)
        (_, offset, event_id, _, _, payload, error, retries, _), = dead_letters(s, name)
        assert (offset, event_id, payload, retries) == (pos, None, broken, 0)
        assert "eventId" in error, error
        assert metric(s, name, "hc_dead_letters_parked_total", type="not_an_event") == 1
        assert log_lines_containing(s, name, "parked message without eventId (offset %d)" % pos)
        assert s.ready(name), "a parked event does not make %s not ready" % name
    assert s.notification.get("/mypages/%d" % oid).status == 404
    dl_id = dead_letters(s, "notification")[0][0]

    r = run_cli(s, "dead-letters", "list", "notification")
    assert r.returncode == 0, r
    assert "notification id=%d offset=%d" % (dl_id, pos) in r.stdout, r.stdout
    r = run_cli(s, "check")
    assert r.returncode == 0, r
    assert "dead letter(s) parked" in r.stdout, r.stdout

    # A retry of the unchanged payload fails again: kept, counted, unmarked.
    r = run_cli(s, "dead-letters", "retry", "notification", str(dl_id))
    assert r.returncode == 0 and "marked for retry" in r.stdout, r
    wait_until(lambda: dead_letters(s, "notification")[0][7:] == (1, 0),
               what="the failed retry to be recorded (retries 1, mark cleared)")
    assert "eventId" in dead_letters(s, "notification")[0][6]

    # The operator fixes the payload; the retry applies it through the inbox.
    fixed = dict(fields, eventId=str(uuid.uuid4()), occurredAt="2026-01-01T00:00:00.000Z",
                 source="order", version=1, payMethod="card",
                 history=[{"status": "PAID", "at": "2026-01-01T00:00:00.000Z"}])
    s.sql("notification", "UPDATE dead_letters SET payload = ? WHERE id = ?",
          (json.dumps(fixed, ensure_ascii=False), dl_id))
    r = run_cli(s, "dead-letters", "retry", "notification", "--all")
    assert r.returncode == 0, r
    wait_until(lambda: dead_letters(s, "notification") == [], timeout=5,
               what="the retried dead letter to be applied and removed")
    wait_mypage(s.notification, oid, "PAID")
    assert metric(s, "notification", "hc_dead_letters") == 0
    inbox = s.sql("notification", "SELECT COUNT(*) FROM inbox WHERE event_id = ?",
                  (fixed["eventId"],))
    assert inbox == [(1,)]
    # For the order service the fixed event is not one it applies: resolved.
    s.sql("order", "UPDATE dead_letters SET payload = ?", (json.dumps(fixed, ensure_ascii=False),))
    assert run_cli(s, "dead-letters", "retry", "order", "--all").returncode == 0
    wait_until(lambda: dead_letters(s, "order") == [], timeout=5, what="order's dead letter resolved")
    assert run_cli(s, "dead-letters", "retry", "order", "7").returncode == 1


@pytest.mark.embedded_only  # corrupts a SQLite file; `healthcenter check` of SQLite files
def test_corrupt_service_database_is_not_ready_and_checked(make_system):
    s = make_system()
    s.start_services()
    oid = booked(s.order)
    wait_mypage(s.notification, oid, "REQUESTED")
    s.wait_idle()
    s.stop_all()

    db = data_path(s, "notification.db")
    checkpoint(db)
    (root,), = sql(db, "SELECT rootpage FROM sqlite_master WHERE name = 'mypage'")
    (page_size,), = sql(db, "PRAGMA page_size")
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * 16)  # the mypage table's b-tree page header

    r = run_cli(s, "check")
    assert r.returncode == 1, r
    assert "FAIL  %s: integrity_check: " % db in r.stdout, r.stdout
    assert "order.db: integrity_check ok" in r.stdout, r.stdout

    s.start("payment", "order", "reservation")
    s.start_live("notification")
    reason = wait_not_ready(s, "notification", "corrupt", "notification.db")
    assert "check" in reason, reason
    assert s.ready("order") and s.ready("reservation")
