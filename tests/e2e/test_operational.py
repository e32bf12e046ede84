"""Operational contract: health and metrics endpoints on every service, the
gateway's routing, CORS and request ids, and a clean stop of `healthcenter up`."""

import re
import signal

import pytest

import hc
from hc import wait_until

# Gateway prefix -> (service that owns it, Spring Data REST collection name)
ROUTES = [
    ("/orders", "order", "orders"),
    ("/packages", "order", "packages"),
    ("/reservations", "reservation", "reservations"),
    ("/cancellations", "reservation", "cancellations"),
    ("/centers", "reservation", "centers"),
    ("/paymentHistories", "payment", "paymentHistories"),
    ("/mypages", "notification", "mypages"),
    ("/notifications", "notification", "notifications"),
]


def strip_links(v):
    """v without its HAL _links (their hosts differ between gateway and service)."""
    if isinstance(v, dict):
        return {k: strip_links(x) for k, x in v.items() if k != "_links"}
    if isinstance(v, list):
        return [strip_links(x) for x in v]
    return v


@pytest.mark.parametrize("service", hc.SERVICES)
def test_health_endpoints(system, service):
    c = system.client(service)
    for path in ("/health/live", "/health/ready"):
        r = c.get(path)
        assert r.status == 200, (path, r)
    r = c.get("/actuator/health")
    assert r.status == 200, r
    assert r.json is not None and r.json.get("status") == "UP", r


@pytest.mark.parametrize("service", hc.SERVICES)
def test_metrics_are_prometheus_text(system, service):
    c = system.client(service)
    # Some traffic on a real route first, so the request counter and the
    # histogram have samples.
    path = {"order": "/orders", "payment": "/paymentHistories", "reservation": "/centers",
            "notification": "/mypages"}[service]
    for _ in range(3):
        assert c.get(path).status == 200
    r = c.get("/metrics")
    assert r.status == 200, r
    assert (r.headers.get("Content-Type") or "").startswith("text/plain"), r.headers
    samples = hc.parse_prometheus(r.text)
    names = {n for n, _, _ in samples}

    counters = [n for n in names if re.search(r"http", n) and re.search(r"request", n)
                and n.endswith("_total")]
    assert counters, "no http request counter in %s" % sorted(names)
    assert any(v > 0 for n, _, v in samples if n in counters), "request counter is 0"

    buckets = [(n, l, v) for n, l, v in samples if n.endswith("_bucket")]
    assert buckets, "no latency histogram (_bucket) in %s" % sorted(names)
    assert all("le" in l for _, l, _ in buckets), buckets[:3]
    assert any(l["le"] == "+Inf" for _, l, _ in buckets), "histogram without +Inf bucket"
    hist = {n[:-len("_bucket")] for n, _, _ in buckets}
    for h in hist:
        assert h + "_sum" in names and h + "_count" in names, (h, sorted(names))

    outbox = [n for n in names if "outbox" in n and hc.is_backlog_metric(n)]
    assert outbox, "no outbox backlog gauge in %s" % sorted(names)
    lag = [n for n in names if "lag" in n and hc.is_backlog_metric(n)]
    assert lag, "no consumer lag gauge in %s" % sorted(names)
    # The TYPE lines say what they are.
    for n in outbox + lag:
        assert re.search(r"^# TYPE %s gauge$" % re.escape(n), r.text, re.M), n
    for n in counters:
        base = re.escape(n[:-len("_total")])
        assert re.search(r"^# TYPE %s(_total)? counter$" % base, r.text, re.M), n
    for h in hist:
        assert re.search(r"^# TYPE %s histogram$" % re.escape(h), r.text, re.M), h


@pytest.mark.parametrize("prefix,service,collection", ROUTES)
def test_gateway_routes_each_prefix(system, prefix, service, collection):
    via = system.gateway.get(prefix)
    assert via.status == 200, via
    assert collection in (via.json.get("_embedded") or {}), via
    direct = system.client(service).get(prefix)
    assert direct.status == 200, direct
    assert strip_links(via.json["_embedded"]) == strip_links(direct.json["_embedded"])
    assert via.json.get("page") == direct.json.get("page")
    # Links are built from the configured public URL (the gateway's address
    # by default), however the service was reached.
    assert via.json["_links"]["self"]["href"].startswith(system.public_url + "/"), via.json["_links"]
    assert direct.json["_links"]["self"]["href"].startswith(system.public_url + "/"), direct.json


def test_gateway_routes_catalog_and_centers(system):
    pk = system.gateway.items("/packages", "packages")
    by_code = {p.get("code") or p.get("orderType") or p.get("id"): p for p in pk}
    assert by_code["basic"]["price"] == 50000, pk
    assert by_code["prime"]["price"] == 150000, pk
    assert by_code["basic"]["name"] == "기본 건강검진", pk
    centers = system.gateway.items("/centers", "centers")
    assert {c["id"] for c in centers} == {1, 2}, centers


def test_gateway_cors_preflight(system):
    r = system.gateway.options("/orders", headers={
        "Origin": "http://example.test",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, idempotency-key",
    })
    assert r.status == 204, r
    allow = r.headers.get("Access-Control-Allow-Origin")
    assert allow == hc.CORS_ORIGIN, r.headers
    methods = r.headers.get("Access-Control-Allow-Methods") or ""
    assert "POST" in methods.upper(), r.headers
    # A plain request with an Origin carries the header too.
    g = system.gateway.get("/packages", headers={"Origin": "http://example.test"})
    assert g.status == 200
    assert g.headers.get("Access-Control-Allow-Origin") == hc.CORS_ORIGIN, g.headers


def test_gateway_request_ids(system):
    ids = set()
    for path in ("/orders", "/packages", "/mypages", "/orders/999999"):
        r = system.gateway.get(path)
        rid = r.headers.get("X-Request-Id")
        assert rid, "no X-Request-Id on %s: %s" % (path, dict(r.headers))
        ids.add(rid)
    assert len(ids) == 4, "request ids are not unique: %s" % ids


def test_sigterm_stops_a_service_cleanly(services):
    code = services.stop("notification")
    assert code == 0, "notification exited with %s on SIGTERM" % code
    assert not services.live("notification")
    # The others go on.
    assert services.ready("order") and services.ready("payment")


def test_up_stops_everything_on_sigterm(system):
    up = system.procs["up"]
    kids = hc.descendants_of(up.pid)
    assert len(kids) >= 4, "expected the 4 services (and nginx) under `up`, found %s" % kids
    up.signal(signal.SIGTERM)
    code = up.wait(15)
    assert code == 0, "`healthcenter up` exited with %s on SIGTERM" % code
    wait_until(lambda: not any(hc._pid_alive(p) for p in kids), timeout=10,
               what="every child of `up` to exit")
    for name in hc.ALL_PORTS:
        def closed(name=name):
            try:
                hc.request("GET", system.base(name) + "/health/live", timeout=1)
                return False
            except OSError:
                return True
        wait_until(closed, timeout=5, what="%s port closed" % name)
