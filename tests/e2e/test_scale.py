"""Scale-out (HC_SCALE): `healthcenter up` runs several instances of a
service, the first on its usual port, the others HC_SCALE_PORT_STEP apart;
the gateway balances across them; with Kafka the instances of a service are
one consumer group and share the partitions. Here on a real broker and a real
PostgreSQL server (the session's: test_kafka.py, conftest.py), with
order=2,reservation=2,notification=2: bookings through the gateway reach
both order instances, both instances of each consumer apply events, kill -9
of one instance and a rolling restart of every instance of order lose
nothing, every booking reaches mypage exactly once with one SMS per status.
On the embedded event log scaling is refused with a clear message."""

import os
import signal
import socket
import subprocess

import pytest

import hc
from hc import wait_until
from test_crash import Burst, assert_all_paid, verify_every_booking_processed_once
from test_kafka import make_kafka_system  # noqa: F401 - fixture

pytestmark = pytest.mark.slow

SCALED = ("order", "reservation", "notification")


def port_free(port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def choose_port_step(s):
    """A HC_SCALE_PORT_STEP that puts every second instance on a free port."""
    for step in range(1000, 30000, 137):
        ports = [s.ports[n] + step for n in SCALED]
        if all(p < 65536 and port_free(p) for p in ports) and len(set(ports)) == len(ports):
            return step
    pytest.fail("no free ports for the second instances")


def counter(base, name, **labels):
    """The sum of a counter's samples at base's /metrics that carry labels."""
    r = hc.request("GET", base + "/metrics", timeout=5.0)
    assert r.status == 200, r
    return sum(v for n, lab, v in hc.parse_prometheus(r.text)
               if n == name and all(lab.get(k) == x for k, x in labels.items()))


class ViaGateway:
    """What Burst needs of a system, with its bookings sent through the gateway."""

    def __init__(self, system):
        self.order = system.gateway


def test_scaled_instances_share_the_work_and_lose_nothing(make_kafka_system, pg_server, pg_db):
    s = make_kafka_system(HC_DB="postgres", HC_DB_URL=pg_server.url(pg_db),
                          HC_SCALE="order=2,reservation=2,notification=2",
                          HC_SHUTDOWN_GRACE_MS="5000")
    step = choose_port_step(s)
    s.env["HC_SCALE_PORT_STEP"] = str(step)
    s.start_all()
    second = {n: "http://127.0.0.1:%d" % (s.ports[n] + step) for n in SCALED}
    first = {n: s.base(n) for n in SCALED}
    for n in SCALED:
        r = hc.request("GET", second[n] + "/health/ready")
        assert r.status == 200, (n, r)

    # The aggregated health lists every instance, each with its own port.
    def health():
        r = s.gateway.get("/actuator/health")
        return r.json if r.status == 200 else None
    h = wait_until(health, timeout=30, what="the gateway's /actuator/health UP")
    for n in SCALED:
        assert h["components"][n]["details"]["port"] == s.ports[n], h["components"][n]
        assert h["components"][n + "-2"]["details"]["port"] == s.ports[n] + step
        assert h["components"][n + "-2"]["status"] == "UP", h["components"][n + "-2"]
    assert "payment-2" not in h["components"]

    # The gateway's upstream lists both instances.
    with open(os.path.join(s.run_dir, "nginx.conf")) as f:
        conf = f.read()
    assert "server 127.0.0.1:%d max_fails=0;" % (s.ports["order"] + step) in conf
    nexts = [ln.strip() for ln in conf.splitlines() if ln.strip().startswith("proxy_next_upstream")]
    assert nexts and not any("non_idempotent" in ln for ln in nexts), nexts

    # Bookings through the gateway until both instances of every scaled
    # service have done their share (the consumer groups rebalance onto the
    # second members within seconds).
    bursts = []

    def shared():
        b = Burst(ViaGateway(s), n=30, threads=3).start()
        b.join()
        bursts.append(b)
        posted = [counter(base["order"], "hc_http_requests_total", method="POST", status="201")
                  for base in (first, second)]
        applied = [counter(base[n], "hc_events_applied_total")
                   for n in ("reservation", "notification") for base in (first, second)]
        return all(x > 0 for x in posted + applied) and (posted, applied)
    posted, applied = wait_until(shared, timeout=90, interval=0.1,
                                 what="both instances of order, reservation and notification "
                                      "did work")
    print("\nbookings per order instance %s; events applied per reservation, notification "
          "instance %s" % (posted, applied))

    # kill -9 of one consumer instance, then a rolling restart of every
    # instance of order, while bookings flow through the gateway.
    burst = Burst(ViaGateway(s), n=150, threads=3).start()
    burst.wait_done(30)
    victim = h["components"]["reservation-2"]["details"]["pid"]
    os.kill(victim, signal.SIGKILL)
    burst.wait_done(60)
    r = subprocess.run([s.bin, "restart", "order"], env=dict(s.env), capture_output=True,
                       text=True, timeout=120, cwd=s.data_dir)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert '"instances"' in r.stdout and r.stdout.count('"RESTARTED"') == 3, r.stdout
    # One instance by its name.
    r = subprocess.run([s.bin, "restart", "notification-2"], env=dict(s.env),
                       capture_output=True, text=True, timeout=120, cwd=s.data_dir)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert '"notification-2"' in r.stdout and '"instances"' not in r.stdout, r.stdout
    burst.join(timeout=120)
    bursts.append(burst)

    def restarted():
        r = s.gateway.get("/actuator/health")
        c = r.json and r.json["components"]["reservation-2"]
        return c and c["status"] == "UP" and c["details"]["pid"] != victim and c
    c = wait_until(restarted, timeout=30, what="reservation-2 restarted after kill -9")
    assert c["details"]["restarts"] >= 1, c

    paid = {}
    for b in bursts:
        assert_all_paid(b)
        paid.update(b.paid())
    verify_every_booking_processed_once(s, paid, timeout=90)


def test_scale_refused_on_the_embedded_log(make_system):
    """Every service consumes events, and the embedded log has one cursor per
    service: `up` refuses HC_SCALE there (exit 2, bad configuration) and
    starts nothing. (HC_BUS=None: the embedded log on either test stack.)"""
    s = make_system(HC_SCALE="order=2", HC_BUS=None)
    r = subprocess.run([s.bin, "up"], env=dict(s.env), capture_output=True, text=True,
                       timeout=30, cwd=s.data_dir)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "HC_SCALE" in r.stderr and "HC_BUS=kafka" in r.stderr, r.stderr
    assert "embedded event log" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(s.run_dir, "nginx.conf"))
    for port in s.ports.values():
        assert port_free(port), port
