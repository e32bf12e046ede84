"""The Kafka bus (HC_BUS=kafka) on a real Apache Kafka 3.9 broker, started once
per test session by scripts/kafka.sh on free ports (it stops with the session,
and a watchdog stops it if the session dies). Each test has its own topic and
consumer groups. Scenarios: the topic created with its partitions and the
`bus` health component; the broker stopped and restarted while bookings flow;
a second instance of a consumer service joining and leaving its group mid
burst (a rolling restart under `healthcenter up`: two processes of one
service, on the same data directory, which only `up` may share); kill -9 of
consumers while events flow. After each: every event applied exactly once."""

import os
import signal
import sqlite3
import subprocess
import time
import uuid

import pytest

import hc
from hc import wait_until
from test_crash import Burst, assert_all_paid, verify_every_booking_processed_once

pytestmark = pytest.mark.slow

PARTITIONS = 6
@pytest.fixture
def make_kafka_system(make_system, kafka_broker):
    """make_system with HC_BUS=kafka on the session's broker, its own topic
    and consumer groups."""
    def make(**env):
        tag = uuid.uuid4().hex[:8]
        full = dict(HC_BUS="kafka", HC_KAFKA_BROKERS=kafka_broker.brokers,
                    HC_TOPIC="hc-test-%s" % tag, HC_KAFKA_GROUP_PREFIX="t%s-" % tag,
                    HC_KAFKA_PARTITIONS=str(PARTITIONS), HC_KAFKA_SESSION_TIMEOUT_MS="6000",
                    HC_KAFKA_DELIVERY_TIMEOUT_MS="3000")
        full.update(env)
        s = make_system(**full)
        s.topic = full["HC_TOPIC"]
        return s
    return make


def bus_component(system, name):
    r = system.client(name).get("/actuator/health")
    assert r.json is not None, r
    return r.json["components"]["bus"]


def test_kafka_topic_health_metrics_and_one_booking(make_kafka_system, kafka_broker):
    s = make_kafka_system()
    s.start_services()
    # The first service to start created the topic with the configured partitions.
    assert kafka_broker.topic_partitions(s.topic) == PARTITIONS
    for name in hc.SERVICES:
        bus = bus_component(s, name)
        assert bus["status"] == "UP", (name, bus)
        d = bus["details"]
        assert d["kind"] == "kafka" and d["topic"] == s.topic, d
        assert d["brokersUp"] == 1 and d["topicReady"] is True, d
    r = s.order.post("/orders", hc.booking(cardNo=hc.card_number(1)))
    assert r.status == 201, r
    verify_every_booking_processed_once(s, {r.json["id"]: r.json})
    names = {m[0] for m in s.metrics("reservation")}
    assert {"hc_consumer_lag", "hc_bus_brokers_up", "hc_outbox_backlog"} <= names, names


@pytest.mark.embedded_only  # the embedded log's health component
def test_embedded_log_health_says_log(services):
    d = bus_component(services, "order")["details"]
    assert d["kind"] == "log", d


def test_broker_stopped_and_restarted_while_bookings_flow(make_kafka_system, kafka_broker):
    """Bookings keep answering 201 while the broker is down (their events wait
    in the outboxes); once it is back every event is delivered, once."""
    s = make_kafka_system()
    s.start_services()
    burst = Burst(s, n=45, threads=3).start()
    burst.wait_done(10)
    kafka_broker.stop()
    assert kafka_broker.status() != 0
    burst.wait_done(30)  # these were booked with no broker at all

    def down():
        bus = bus_component(s, "order")
        return bus if bus["status"] == "DOWN" and bus["details"]["brokersUp"] == 0 else None
    wait_until(down, timeout=20, what="order's bus component DOWN with the broker stopped")
    kafka_broker.start()
    burst.join()
    assert_all_paid(burst)
    verify_every_booking_processed_once(s, burst.paid(), timeout=90)
    wait_until(lambda: bus_component(s, "order")["status"] == "UP", timeout=30,
               what="order's bus component UP again")


def member_bin():
    path = os.environ.get("HC_KAFKA_MEMBER") or os.path.join(
        os.path.dirname(hc.binary_path()), "kafka_member")
    if not os.access(path, os.X_OK):
        pytest.fail("kafka_member (tests/kafka) not built at %s" % path, pytrace=False)
    return path


class Member:
    """One kafka_member consumer process: an instance of a consumer service."""

    def __init__(self, db, broker, topic, group, log_path):
        self.log_path = log_path
        self.logf = open(log_path, "wb")
        env = dict(os.environ, HC_TEST_APPLY_DELAY_MS="4", HC_LOG_FORMAT="text")
        self.popen = hc._spawner.popen(
            [member_bin(), "consume", str(db), broker.brokers, topic, group], env=env,
            stdout=self.logf, stderr=subprocess.STDOUT, preexec_fn=hc._pdeathsig)
        self.pid = self.popen.pid

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            self.popen.wait(30)
        self.logf.close()
        return self.popen.returncode


def test_members_join_and_leave_a_group_mid_burst(kafka_broker, tmp_path):
    """Two instances of one consumer on one database (kafka_member processes,
    as two instances of a service share its storage): the second joins while
    the first applies a burst (the cooperative rebalance hands it part of the
    partitions), the first leaves mid-burst (its partitions move), a third
    joins and is killed with -9. Every event is applied exactly once, and the
    members did share the work."""
    topic, group = "hc-members-%s" % uuid.uuid4().hex[:8], "members"
    db = tmp_path / "member.db"
    members = []

    def produce(first, n):
        r = subprocess.run([member_bin(), "produce", str(tmp_path / "unused.db"),
                            kafka_broker.brokers, topic, str(first), str(n)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (r.stdout, r.stderr)

    def applied():
        if not db.exists():
            return []
        with sqlite3.connect(str(db), timeout=10) as c:
            return c.execute("SELECT event_id, pid FROM applied").fetchall()

    def start():
        m = Member(db, kafka_broker, topic, group, tmp_path / ("member%d.log" % len(members)))
        members.append(m)
        return m

    try:
        produce(1, 1)  # creates the topic (6 partitions)
        a = start()
        wait_until(lambda: "assigned partitions [0,1,2,3,4,5]" in a.log(), timeout=30,
                   what="member A assigned every partition")
        produce(2, 299)
        b = start()  # joins while A works through the burst
        wait_until(lambda: "assigned partitions" in b.log() and "revoked" in a.log(),
                   timeout=30, what="B assigned part of A's partitions")
        produce(301, 300)
        total = len(applied())
        assert total < 600, "the burst was applied before A left (%d)" % total
        assert a.stop() == 0  # leaves mid-burst: its partitions move to B
        c = start()
        wait_until(lambda: "assigned partitions" in c.log(), timeout=30, what="C assigned")
        produce(601, 200)
        os.kill(c.pid, signal.SIGKILL)  # its partitions move after the session timeout
        c.popen.wait(10)
        wait_until(lambda: len({e for e, _ in applied()}) >= 800, timeout=90,
                   what="all 800 events applied")
        b.stop()
        rows = applied()
        ids = [e for e, _ in rows]
        assert len(ids) == 800 and len(set(ids)) == 800, \
            "applied %d times for %d events" % (len(ids), len(set(ids)))
        by_pid = {}
        for _, pid in rows:
            by_pid[pid] = by_pid.get(pid, 0) + 1
        assert by_pid.get(a.pid) and by_pid.get(b.pid), by_pid
        print("\nevents applied per member: %s" % by_pid)
    finally:
        for m in members:
            if m.popen.poll() is None:
                m.popen.kill()
                m.popen.wait(10)


def up_log_lines(system, what):
    """The lines of `up`'s log (every child's lines too) that contain what."""
    with open(os.path.join(system.data_dir, "logs", "up.log"), "rb") as f:
        return [ln for ln in f.read().decode("utf-8", "replace").splitlines() if what in ln]


def test_second_instance_joins_and_leaves_mid_burst(make_kafka_system):
    """A rolling restart (`healthcenter restart`) of each consumer service
    while events flow: the new instance starts while the old one holds the
    partitions, the old one leaves the group and its partitions move to the
    new one. Both instances share the service's data directory, as two
    instances of one service must (SQLite: the same file on the same host;
    only `up` may run two on one directory). The old one drains within a few
    hundred ms, usually before the new one has joined: the hand-over is
    sequential here; test_members_join_and_leave_a_group_mid_burst covers
    members consuming side by side. Every event is applied exactly once."""
    s = make_kafka_system(HC_SHUTDOWN_GRACE_MS="5000")
    s.start_all()
    wait_until(lambda: len(up_log_lines(s, "assigned partitions")) >= 4, timeout=30,
               what="every service's consumer assigned its partitions")
    burst = Burst(s, n=300, threads=3).start()
    for i, victim in enumerate(("notification", "reservation")):
        burst.wait_done(40 + 100 * i)
        r = subprocess.run([s.bin, "restart", victim], env=dict(s.env), capture_output=True,
                           text=True, timeout=120, cwd=s.data_dir)
        assert r.returncode == 0, (victim, r.stdout, r.stderr)
        # The old instance gave its partitions up; the new one got them.
        wait_until(lambda: len([ln for ln in up_log_lines(s, "-%s: revoked partitions" % victim)
                                ]) >= 1, timeout=30, what="%s's old instance revoked" % victim)
        wait_until(lambda: len(up_log_lines(s, "-%s: assigned partitions" % victim)) >= 2,
                   timeout=30, what="%s's new instance assigned" % victim)
    burst.join()
    assert_all_paid(burst)
    verify_every_booking_processed_once(s, burst.paid(), timeout=60)


def test_kill9_consumers_while_events_flow(make_kafka_system):
    """kill -9 of both consumer services while events flow, one of them twice:
    the events applied but not committed are redelivered and dropped by the
    inbox; none is lost."""
    s = make_kafka_system()
    s.start_services()
    burst = Burst(s, n=60, threads=4).start()
    burst.wait_done(15)
    s.kill9("reservation")
    burst.wait_done(30)
    s.restart("reservation")
    s.kill9("notification")
    s.kill9("reservation")
    s.restart("notification")
    s.restart("reservation")
    burst.join()
    assert_all_paid(burst)
    verify_every_booking_processed_once(s, burst.paid(), timeout=60)
