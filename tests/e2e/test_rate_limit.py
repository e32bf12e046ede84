"""The gateway's per-client limits (docs/gateway.md, "Rate limits"): a client
over HC_RATE_LIMIT_RPS and its HC_RATE_LIMIT_BURST, or over
HC_RATE_LIMIT_CONNECTIONS requests in progress, gets 429 too_many_requests
with Retry-After as JSON, while other clients are served; health and metrics
paths are never limited; 0 turns a limit off; a client is the connection's
address, or the one a trusted proxy (HC_TRUSTED_PROXY) names in
HC_REAL_IP_HEADER, and only a trusted proxy is believed.

Clients are told apart by address: every 127/8 address is this host, so a
test connects from 127.0.0.2, 127.0.0.3, ... (the harness's own requests come
from 127.0.0.1), or from a trusted 127.0.0.1 with X-Forwarded-For. The
harness's limits are far above what any test sends; each test here sets its
own. Requests of a burst are pipelined on one connection, so a burst takes
milliseconds; where the outcome depends on time (the rate refills), the
bounds are computed from the time the burst took."""

import collections
import json
import os
import re
import socket
import time

import pytest
import yaml

import hc
from hc import wait_until

ROUTED = re.compile(r"^/(orders|packages|reservations|cancellations|centers|paymentHistories|"
                    r"mypages|notifications|auth)(/|$)")


def source_dir():
    return os.environ.get("HC_SOURCE_DIR") or hc.repo_root()


# --------------------------------------------------------------------------- raw HTTP


class Answer(collections.namedtuple("Answer", "status headers body")):
    """One HTTP answer: status, headers (lower-case names), body bytes."""

    @property
    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    def __repr__(self):
        return "Answer(%d, %s, %s)" % (self.status, self.headers, hc._short(self.body, 300))


def read_answer(f):
    """Reads one answer off the buffered reader f (nginx always sends a
    Content-Length or no body)."""
    line = f.readline()
    if not line:
        raise EOFError("the gateway closed the connection")
    status = int(line.split()[1])
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    n = 0 if status == 100 else int(headers.get("content-length", "0"))
    return Answer(status, headers, f.read(n))


def request_bytes(method="GET", path="/packages", xff=None, body=None, extra=b""):
    head = b"%s %s HTTP/1.1\r\nHost: gw.test\r\n" % (method.encode(), path.encode())
    if xff is not None:
        head += b"X-Forwarded-For: %s\r\n" % xff.encode()
    if body is not None:
        head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return head + extra + b"\r\n" + (body or b"")


def connect(system, source):
    """A connection to the gateway from the local address source."""
    return socket.create_connection(("127.0.0.1", system.ports["gateway"]), timeout=20,
                                    source_address=(source, 0))


def pipeline(system, source, requests):
    """Sends every request (bytes from request_bytes) at once on one connection
    from source and reads their answers. Returns (answers, seconds from the
    send until the last answer)."""
    with connect(system, source) as s, s.makefile("rb") as f:
        t0 = time.monotonic()
        s.sendall(b"".join(requests))
        answers = [read_answer(f) for _ in requests]
        return answers, time.monotonic() - t0


def burst(system, source, n, path="/packages", xff=None):
    """n pipelined GETs of path from one client; (answers, seconds)."""
    return pipeline(system, source, [request_bytes("GET", path, xff(i) if callable(xff) else xff)
                                     for i in range(n)])


def one(system, source, path="/packages", xff=None):
    return pipeline(system, source, [request_bytes("GET", path, xff)])[0][0]


def statuses(answers):
    return [a.status for a in answers]


def assert_rate_limited(answers, seconds, rps, burst_size):
    """A burst from one client: its first burst_size + 1 requests pass (nginx
    never refuses those), then no more pass than the rate earned in the time
    the burst took, and the rest are 429 as JSON with Retry-After."""
    got = statuses(answers)
    assert set(got) <= {200, 429}, got
    assert got[:burst_size + 1] == [200] * (burst_size + 1), got
    allowed = burst_size + 1 + int(rps * seconds) + 1
    assert got.count(200) <= allowed, "%d passed, at most %d may in %.2f s: %s" % (
        got.count(200), allowed, seconds, got)
    assert 429 in got, "no 429 in %d requests over %.2f s: %s" % (len(got), seconds, got)
    for a in answers:
        if a.status == 429:
            assert_too_many(a, "too many requests from this client;")


def assert_too_many(a, message_start):
    """a is the gateway's 429: JSON error too_many_requests, Retry-After, CORS
    and the request id like the gateway's other errors."""
    assert a.status == 429, a
    assert a.headers.get("content-type", "").startswith("application/json"), a
    assert a.headers.get("retry-after") == "1", a
    assert a.headers.get("vary") == "Origin", a  # CORS: only configured origins are echoed
    assert a.headers.get("x-request-id"), a
    body = a.json
    assert isinstance(body, dict) and body.get("error") == "too_many_requests", a
    assert body["message"].startswith(message_start), a
    assert body.get("fields") == [], a


def access_log_remotes(system, uri):
    """{(remote, status): count} of the access log's lines for uri."""
    out = collections.Counter()
    for line in hc.read_json_lines(os.path.join(system.run_dir, "access.log")):
        if line.get("uri") == uri:
            out[(line.get("remote"), line.get("status"))] += 1
    return out


def limits(rps, burst_size=0, connections=0, **env):
    env.update(HC_RATE_LIMIT_RPS=rps, HC_RATE_LIMIT_BURST=burst_size,
               HC_RATE_LIMIT_CONNECTIONS=connections)
    return env


# --------------------------------------------------------------------------- the rate


@pytest.mark.parametrize("via", ["own address", "trusted proxy"])
def test_a_burst_from_one_client_gets_429s_while_another_client_is_served(make_system, via):
    """Client A bursts 30 requests at 1/s with a burst of 5: after its first 6
    it gets 429s (JSON, Retry-After: 1). Client B's requests, sent while A is
    refused, all pass; A is served again once Retry-After has passed. The two
    clients are two addresses of this host, or two X-Forwarded-For addresses
    sent by a trusted proxy (127.0.0.1), as the access log shows them."""
    if via == "own address":
        s = make_system(**limits(1, 5, 20))
        a, b = ("127.0.0.2", None), ("127.0.0.3", None)
    else:
        s = make_system(**limits(1, 5, 20, HC_TRUSTED_PROXY="127.0.0.1"))
        a, b = ("127.0.0.1", "198.51.100.1"), ("127.0.0.1", "198.51.100.2")
    s.start_all()
    answers, seconds = burst(s, a[0], 30, xff=a[1])
    assert_rate_limited(answers, seconds, 1, 5)
    for _ in range(6):  # burst + 1: all of them pass whatever the time
        r = one(s, b[0], xff=b[1])
        assert r.status == 200, r
    wait_until(lambda: one(s, a[0], xff=a[1]).status == 200, timeout=10,
               what="client A served again after Retry-After")
    if via == "trusted proxy":
        seen = wait_until(lambda: (lambda c: c if c[("198.51.100.2", 200)] >= 6 else None)(
            access_log_remotes(s, "/packages")), what="the access log naming both clients")
        # (A's polls for its recovery add 429 lines of their own)
        assert seen[("198.51.100.1", 429)] >= statuses(answers).count(429), seen
        assert {status for remote, status in seen if remote != "198.51.100.1"} == {200}, seen


@pytest.mark.parametrize("trusted", ["", "127.0.0.2"], ids=["no proxy trusted", "another trusted"])
def test_the_header_is_ignored_from_an_untrusted_peer(make_system, trusted):
    """From 127.0.0.3, which is not a trusted proxy, X-Forwarded-For names a
    new address on every request, yet all of them are one client (its own
    address) and get 429s. From a trusted proxy the same header makes each
    request another client, and none is refused."""
    s = make_system(**limits(1, 3, 20, HC_TRUSTED_PROXY=trusted))
    s.start_all()
    answers, seconds = burst(s, "127.0.0.3", 20, xff=lambda i: "203.0.113.%d" % (i + 1))
    assert_rate_limited(answers, seconds, 1, 3)
    if trusted:
        answers, _ = burst(s, "127.0.0.2", 20, xff=lambda i: "203.0.113.%d" % (i + 1))
        assert statuses(answers) == [200] * 20, answers
    # the access log names each request's client (the harness's own are 127.0.0.1's)
    expected = 40 if trusted else 20
    seen = wait_until(lambda: (lambda c: c if sum(n for (r, _), n in c.items()
                                                  if r != "127.0.0.1") >= expected else None)(
        access_log_remotes(s, "/packages")), what="the access log's lines of the bursts")
    assert {r for r, _ in seen if r.startswith("203.0.113.")} == (
        {"203.0.113.%d" % i for i in range(1, 21)} if trusted else set()), seen
    assert seen[("127.0.0.3", 200)] + seen[("127.0.0.3", 429)] == 20, seen


def test_addresses_written_before_the_trusted_proxy_do_not_make_another_client(make_system):
    """real_ip_recursive: the client is the rightmost address the trusted
    proxy did not add itself, so a client that puts other addresses in front
    of its own is still itself."""
    s = make_system(**limits(1, 3, 20, HC_TRUSTED_PROXY="127.0.0.1"))
    s.start_all()
    # the same client three ways: alone, after addresses it made up, and
    # behind a second trusted hop
    forms = ("198.51.100.7", "203.0.113.%d, 198.51.100.7", "198.51.100.7, 127.0.0.1")
    answers, seconds = burst(s, "127.0.0.1", 21, xff=lambda i: forms[i % 3].replace(
        "%d", str(i + 1)))
    assert_rate_limited(answers, seconds, 1, 3)
    assert one(s, "127.0.0.1", xff="198.51.100.8").status == 200


# --------------------------------------------------------------------------- exempt paths


@pytest.fixture
def exempt_system(make_system, tmp_path):
    """Limits of 1/s with a burst of 1 on the gateway template plus one
    location that passes the health and metrics paths to order (which serves
    /actuator/health and /metrics itself), so that they reach the limits'
    phase as any proxied path does."""
    with open(os.path.join(source_dir(), "gateway", "nginx.conf.tmpl"), encoding="utf-8") as f:
        text = f.read()
    anchor = "        location = /gateway/health {"
    assert text.count(anchor) == 1, "the template no longer has %r" % anchor
    text = text.replace(anchor, "        location ~ ^/(actuator/|metrics|gateway/metrics) {\n"
                                "            proxy_pass http://hc_order;\n"
                                "        }\n" + anchor)
    path = tmp_path / "nginx.conf.tmpl"
    path.write_text(text, encoding="utf-8")
    s = make_system(**limits(1, 1, 20, HC_GATEWAY_TEMPLATE=str(path)))
    s.start_all()
    return s


EXEMPT = ["/gateway/health", "/actuator/health", "/actuator/health/liveness",
          "/actuator/health/readiness", "/metrics", "/gateway/metrics", "/actuator/prometheus",
          "/gateway//health", "/actuator/./health"]


def test_health_and_metrics_paths_are_never_limited(exempt_system):
    """A client floods every health and metrics path (and CORS preflights):
    none is refused, and none of it counts, since its first /packages burst
    afterwards still passes whole; the same client is refused on /packages
    once over its burst (the limits are on)."""
    s = exempt_system
    for path in EXEMPT:
        answers, _ = burst(s, "127.0.0.2", 15, path=path)
        assert 429 not in statuses(answers), (path, answers)
        # 401: /metrics wants a service's token; what counts here is that
        # the gateway passed every request on
        assert set(statuses(answers)) <= {200, 401, 404, 503}, (path, answers)
    assert statuses(burst(s, "127.0.0.2", 2, path="/actuator/health")[0]) == [200, 200]
    answers, _ = pipeline(s, "127.0.0.2", [request_bytes("OPTIONS", "/orders/1")] * 15)
    assert statuses(answers) == [204] * 15, answers
    answers, seconds = burst(s, "127.0.0.2", 12)
    assert_rate_limited(answers, seconds, 1, 1)
    # what looks like a health path and is not is limited like any other
    answers, _ = burst(s, "127.0.0.3", 12, path="/actuator/healthz")
    assert 429 in statuses(answers), answers


# --------------------------------------------------------------------------- requests in progress


def hold(system, source):
    """Starts a booking from source whose body is not sent yet: once nginx
    answers 100 Continue the request is past the limits and in progress.
    Returns the connection and its reader."""
    s = connect(system, source)
    f = s.makefile("rb")
    s.sendall(b"POST /orders HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\n"
              b"Authorization: Bearer %s\r\n" % hc.DEFAULT_TOKEN.encode() +
              b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    r = read_answer(f)
    assert r.status == 100, r
    return s, f


def test_requests_in_progress_are_limited_per_client(make_system):
    """With HC_RATE_LIMIT_CONNECTIONS=2 (and no rate limit), a client with two
    requests in progress is refused a third with 429 (JSON, Retry-After, a
    message saying "at once"), while another client and the health path are
    served; once one of the two is answered the client is served again."""
    s = make_system(**limits(0, 0, 2))
    s.start_all()
    held = [hold(s, "127.0.0.2") for _ in range(2)]
    try:
        assert_too_many(one(s, "127.0.0.2"), "too many requests from this client at once")
        assert one(s, "127.0.0.3").status == 200
        assert one(s, "127.0.0.2", path="/gateway/health").status == 200
        sock, f = held.pop()
        sock.sendall(b"{}")
        r = read_answer(f)
        assert r.status == 400 and r.json["error"] == "validation_failed", r
        sock.close()
        wait_until(lambda: one(s, "127.0.0.2").status == 200, timeout=10,
                   what="a third request once one of two has been answered")
    finally:
        for sock, _ in held:
            sock.close()
    r = s.gateway.get("/orders")
    assert r.status == 200 and hc.page_total(r) == 0, r


# --------------------------------------------------------------------------- settings


def rendered(system):
    with open(os.path.join(system.run_dir, "nginx.conf"), encoding="utf-8") as f:
        return f.read()


def directives(text, name):
    return re.findall(r"(?m)^\s*%s\s.*$" % re.escape(name), text)


def test_zero_turns_the_limits_off(make_system):
    """HC_RATE_LIMIT_RPS=0 and HC_RATE_LIMIT_CONNECTIONS=0 (and sign-in's own
    HC_AUTH_RATE_LIMIT_RPM=0): the config has no limit_req or limit_conn, and a
    burst of 200 from one client all pass."""
    s = make_system(**limits(0, 0, 0, HC_AUTH_RATE_LIMIT_RPM=0))
    s.start_all()
    text = rendered(s)
    for name in ("limit_req", "limit_req_zone", "limit_conn", "limit_conn_zone"):
        assert directives(text, name) == [], name
    answers, _ = burst(s, "127.0.0.2", 200)
    assert statuses(answers) == [200] * 200, [a for a in answers if a.status != 200][:3]


def test_the_defaults_limit_one_client_and_spare_another(make_system):
    """Without the harness's settings the defaults hold: 20 requests a second
    with a burst of 40, 20 in progress. A burst of 300 from one client gets
    429s after its first 41; another client then passes its own 41."""
    s = make_system(HC_RATE_LIMIT_RPS=None, HC_RATE_LIMIT_BURST=None,
                    HC_RATE_LIMIT_CONNECTIONS=None, HC_AUTH_RATE_LIMIT_RPM=None,
                    HC_AUTH_RATE_LIMIT_BURST=None)
    s.start_all()
    text = rendered(s)
    # The general limit, and in /auth/ (test_auth.py) it again with sign-in's own.
    assert directives(text, "limit_req") == ["    limit_req zone=hc_req burst=40 nodelay;",
                                             "            limit_req zone=hc_req burst=40 nodelay;",
                                             "            limit_req zone=hc_auth burst=20 nodelay;"
                                             ], text
    assert directives(text, "limit_conn") == ["    limit_conn hc_conn 20;"], text
    answers, seconds = burst(s, "127.0.0.2", 300)
    assert_rate_limited(answers, seconds, 20, 40)
    answers, _ = burst(s, "127.0.0.3", 41)
    assert statuses(answers) == [200] * 41, answers


@pytest.mark.parametrize("var,value", [("HC_TRUSTED_PROXY", "proxy.example.com"),
                                       ("HC_TRUSTED_PROXY", "10.0.0.0/33"),
                                       ("HC_REAL_IP_HEADER", "X-Real-IP;"),
                                       ("HC_RATE_LIMIT_RPS", "-1")])
def test_a_bad_setting_stops_up_naming_it(make_system, var, value):
    s = make_system(**{var: value})
    proc = s._spawn("up", ["up"])
    rc = proc.wait(30)
    assert rc not in (None, 0), "up ran with %s=%r (exit %s)" % (var, value, rc)
    assert var in hc.tail(proc.log_path), hc.tail(proc.log_path)


# --------------------------------------------------------------------------- the document


def test_every_routed_operation_documents_429():
    """docs/openapi.yaml: every operation the gateway routes lists 429 (the
    JSON error with Retry-After); the services' own operational paths, which
    the gateway does not route, do not."""
    with open(os.path.join(source_dir(), "docs", "openapi.yaml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    resp = doc["components"]["responses"]["TooManyRequests"]
    assert "Retry-After" in resp["headers"], resp
    assert resp["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    codes = doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
    assert "too_many_requests" in codes, codes
    wrong = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            has = op["responses"].get("429") == {"$ref": "#/components/responses/TooManyRequests"}
            if has != bool(ROUTED.match(path)):
                wrong.append("%s %s" % (method.upper(), path))
    assert not wrong, "429 documented where the gateway does not route, or missing: %s" % wrong
