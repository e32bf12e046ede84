"""`make run-distributed` (scripts/run-distributed.sh) as an operator runs it:
a local PostgreSQL and Kafka broker started by the project's own scripts, then
`healthcenter up` on them; a booking goes all the way to mypage through Kafka
and PostgreSQL; Ctrl-C (SIGINT to the terminal's process group) stops `up`
gracefully and then both servers, leaving no process behind.

The script runs on free ports and a data directory of this test (the same
variables an operator would set to move them); nothing else is changed.
"""

import os
import signal
import socket
import subprocess

import hc
from hc import booking
from test_functional import day

SCRIPT = os.path.join(hc.repo_root(), "scripts", "run-distributed.sh")


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_run_distributed_books_through_kafka_and_postgres_and_ctrl_c_stops_all(tmp_path):
    names = ["gateway", "order", "reservation", "payment", "notification", "kafka",
             "kafka_controller", "pg"]
    ports = dict(zip(names, hc.free_ports(len(names))))
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HC_", "KAFKA_"))}
    env.update({
        "HC_BIN": hc.binary_path(),
        "HC_DATA_DIR": str(data),
        "HC_JWT_SECRET": hc.JWT_SECRET,  # the harness's tokens count
        "HC_BIND_ADDR": "127.0.0.1",
        "HC_GATEWAY_PORT": str(ports["gateway"]),
        "HC_ORDER_PORT": str(ports["order"]),
        "HC_RESERVATION_PORT": str(ports["reservation"]),
        "HC_PAYMENT_PORT": str(ports["payment"]),
        "HC_NOTIFICATION_PORT": str(ports["notification"]),
        "HC_PAYMENT_URL": "http://127.0.0.1:%d" % ports["payment"],
        "KAFKA_PORT": str(ports["kafka"]),
        "KAFKA_CONTROLLER_PORT": str(ports["kafka_controller"]),
        "HC_PG_PORT": str(ports["pg"]),
        "HC_LOG_FORMAT": "json",
    })
    out = open(tmp_path / "run-distributed.log", "w")
    # Its own process group, as a terminal gives a command: Ctrl-C is SIGINT
    # to that group.
    p = subprocess.Popen([SCRIPT], env=env, cwd=str(tmp_path), stdout=out,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        gw = "http://127.0.0.1:%d" % ports["gateway"]

        def gateway_up():
            assert p.poll() is None, "run-distributed exited %s:\n%s" % (
                p.returncode, hc.tail(str(tmp_path / "run-distributed.log"), 40))
            return hc.request("GET", gw + "/actuator/health", timeout=2).status == 200
        # Kafka assembles its jars from Maven Central on a machine's first run.
        hc.wait_until(gateway_up, timeout=300, what="the gateway of run-distributed")

        health = hc.request("GET", gw + "/actuator/health").json
        for name in ("order", "reservation", "payment", "notification"):
            comps = health["components"][name]["components"]
            assert comps["bus"]["details"]["kind"] == "kafka", comps
            assert comps["db"]["details"]["database"] == "PostgreSQL", comps
        r = hc.request("POST", gw + "/orders", booking(checkupDate=day(9)))
        assert r.status == 201 and r.json["status"] == "PAID", r
        oid = r.json["id"]
        hc.wait_until(lambda: hc.request("GET", gw + "/mypages/%d" % oid).json.get("status")
                      == "REQUESTED", what="mypage of order %d REQUESTED via Kafka" % oid)
        # The state is in PostgreSQL, not in SQLite files.
        assert not list(data.glob("*.db")), list(data.glob("*.db"))

        os.killpg(p.pid, signal.SIGINT)
        assert p.wait(120) == 0, hc.tail(str(tmp_path / "run-distributed.log"), 40)
        log = open(tmp_path / "run-distributed.log").read()
        assert "all processes stopped" in log and "stopping Kafka and PostgreSQL" in log
        assert log.index("all processes stopped") < log.index("stopping Kafka and PostgreSQL")
        for name in ("gateway", "order", "kafka", "pg"):
            assert not port_open(ports[name]), "%s still listens on %d" % (name, ports[name])
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        # Whatever the script could not stop (it was killed): the servers'
        # own scripts, with the same settings.
        subprocess.run([os.path.join(hc.repo_root(), "scripts", "kafka.sh"), "stop"],
                       env=dict(env, KAFKA_DIR=str(data / "kafka")), capture_output=True,
                       timeout=60)
        subprocess.run([os.path.join(hc.repo_root(), "scripts", "postgres.sh"), "stop",
                        str(data / "postgres")], env=env, capture_output=True, timeout=60)
        out.close()
