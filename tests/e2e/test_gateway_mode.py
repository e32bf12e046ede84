"""`healthcenter gateway`: nginx alone, as the container image's gateway mode
runs it in a pod of its own, in front of four services started separately
(as pods are) and reached by host name (HC_<SERVICE>_HOST). Its access log
is its output, /actuator/health asks every service, SIGTERM stops it
gracefully with exit 0, SIGHUP reloads it. docs/deploy.md."""

import json
import os
import signal

import hc


def test_gateway_alone_routes_to_services_by_host_name(make_system):
    s = make_system(HC_ORDER_HOST="localhost", HC_RESERVATION_HOST="127.0.0.1",
                    HC_PAYMENT_HOST="localhost", HC_NOTIFICATION_HOST="localhost")
    s.start("order", "reservation", "payment", "notification")
    gw = s._spawn("gateway", ["gateway"])
    s.wait_gateway(proc=gw)

    with open(os.path.join(s.run_dir, "nginx.conf")) as f:
        conf = f.read()
    assert "server localhost:%d max_fails=0;" % s.ports["order"] in conf
    assert "server 127.0.0.1:%d max_fails=0;" % s.ports["reservation"] in conf
    assert os.readlink(os.path.join(s.run_dir, "access.log")) == "/dev/stdout"

    customer = s.gateway.as_customer()
    r = customer.post("/orders", hc.booking())
    assert r.status == 201, r
    oid = r.json["id"]
    hc.wait_until(lambda: customer.get("/mypages/%d" % oid).status == 200, what="mypage")

    health = s.gateway.anonymous().get("/actuator/health")
    assert health.status == 200, health
    comps = health.json["components"]
    assert {k: v["status"] for k, v in comps.items()} == {
        "order": "UP", "reservation": "UP", "payment": "UP", "notification": "UP",
        "gateway": "UP"}

    # One service gone: the whole is DOWN, and says which.
    s.stop("payment")
    health = s.gateway.anonymous().get("/actuator/health")
    assert health.status == 503
    assert health.json["components"]["payment"]["status"] == "DOWN"
    assert "did not answer" in health.json["components"]["payment"]["details"]["reason"]

    # The access log went to the gateway's output.
    def logged():
        with open(gw.log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("{") and '"uri":"/orders"' in line:
                    return json.loads(line)["status"] == 201
        return False
    hc.wait_until(logged, what="the access log line of POST /orders on the gateway's stdout")

    # SIGHUP renders the config again and reloads nginx, which keeps serving
    gw.signal(signal.SIGHUP)

    def reloaded():
        with open(gw.log_path, encoding="utf-8", errors="replace") as f:
            return "nginx reloads" in f.read()
    hc.wait_until(reloaded, what="the gateway's reload")
    assert s.gateway.anonymous().get("/packages").status == 200

    gw.signal(signal.SIGTERM)
    assert gw.wait(15) == 0, hc.tail(gw.log_path)
