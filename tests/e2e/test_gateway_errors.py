"""Every answer the gateway (nginx) writes itself is the project's JSON error
({"error", "message", "fields"}, Content-Type application/json) with the right
status: malformed requests, unknown paths and methods, oversized URIs, headers
and bodies, internal failures and unavailable services. A 405, from nginx or
from a service, carries Allow. docs/gateway.md has the table these tests hold
the gateway to, and the cases nginx answers with nothing at all.

Most requests are sent over a raw socket: http.client refuses to send a
malformed request line, a bad method token or a header nginx must reject."""

import json
import os
import re
import signal
import socket

import pytest

import hc
from hc import wait_until

H = b"Host: gw.test\r\nConnection: close\r\n"
GATEWAY_ALLOW = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def source_dir():
    return os.environ.get("HC_SOURCE_DIR") or hc.repo_root()


# --------------------------------------------------------------------------- raw HTTP


class RawResponse:
    """One answer read off a raw socket: status (None for an HTTP/0.9 answer,
    which has no status line), headers (lower-case names), body and raw bytes."""

    def __init__(self, data):
        self.raw = data
        self.status, self.headers, self.body = None, {}, data
        if data.startswith(b"HTTP/"):
            head, _, self.body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            self.status = int(lines[0].split(" ")[1])
            for line in lines[1:]:
                name, _, value = line.partition(":")
                self.headers.setdefault(name.strip().lower(), value.strip())

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    def __repr__(self):
        return "RawResponse(%r)" % hc._short(self.raw.decode("latin-1"), 700)


def exchange(port, data, timeout=10.0):
    """Sends data as it is to 127.0.0.1:port and reads one answer: up to the end
    of its Content-Length, or until the server closes. A connection the server
    closes without a byte gives an empty RawResponse."""
    buf = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking it all
        while True:
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
                if m and len(body) >= int(m.group(1)):
                    break
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
    return RawResponse(buf)


def gw(system, data, **kw):
    return exchange(system.ports["gateway"], data, **kw)


def header(r, name):
    """A header of a RawResponse or of an hc.Response."""
    return r.header(name) if isinstance(r, RawResponse) else r.headers.get(name)


def assert_json_error(r, status, code=None):
    """r (RawResponse or hc.Response) is the project's JSON error with this
    status; returns the body."""
    assert r.status == status, r
    ctype = header(r, "Content-Type") or ""
    assert ctype.startswith("application/json"), "Content-Type %r: %r" % (ctype, r)
    body = r.json
    assert isinstance(body, dict), "body is not JSON: %r" % r
    assert isinstance(body.get("error"), str) and body["error"], r
    assert isinstance(body.get("message"), str) and body["message"], r
    assert isinstance(body.get("fields"), list), r
    if code is not None:
        assert body["error"] == code, r
    return body


def assert_gateway_error(r, status, code):
    """A JSON error written by nginx itself: also the headers browsers and
    operators need on it (CORS, the request id). These requests name no
    Origin (same-origin): no Access-Control-Allow-Origin, and Vary says why."""
    body = assert_json_error(r, status, code)
    assert r.header("Access-Control-Allow-Origin") is None, r
    assert r.header("Vary") == "Origin", r
    assert r.header("X-Request-Id"), r
    assert b"<html" not in r.raw.lower(), r
    return body


def allow_set(r):
    allow = header(r, "Allow")
    assert allow, "405 without Allow: %r" % (r,)
    return {m.strip() for m in allow.split(",") if m.strip()}


def assert_nothing_stored(system):
    """No order, payment or reservation exists: the refused requests changed nothing."""
    for path in ("/orders", "/paymentHistories", "/reservations"):
        r = system.gateway.get(path)
        assert r.status == 200 and hc.page_total(r) == 0, (path, r)


# --------------------------------------------------------------------------- 400


BAD_REQUESTS = {
    "nul in path": b"GET /orders/%00 HTTP/1.1\r\n" + H + b"\r\n",
    "path above root": b"GET /../../etc/passwd HTTP/1.1\r\n" + H + b"\r\n",
    "path without slash": b"GET orders HTTP/1.1\r\n" + H + b"\r\n",
    "space in path": b"GET /ord ers HTTP/1.1\r\n" + H + b"\r\n",
    "control char in path": b"GET /orders\x01 HTTP/1.1\r\n" + H + b"\r\n",
    "bad method token": b"G@T /orders HTTP/1.1\r\n" + H + b"\r\n",
    "lower-case method": b"get /orders HTTP/1.1\r\n" + H + b"\r\n",
    "bad protocol": b"GET /orders HTTX/1.1\r\n" + H + b"\r\n",
    "TLS on the plain port": bytes.fromhex("16030100a5010000a10303") + b"\x00" * 40,
    "HTTP/1.1 without Host": b"GET /orders HTTP/1.1\r\nConnection: close\r\n\r\n",
    "two Host headers": b"GET /orders HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    "bad Host": b"GET /orders HTTP/1.1\r\nHost: a/b\r\nConnection: close\r\n\r\n",
    "NUL in a header": b"GET /orders HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n",
    "space before colon": b"GET /orders HTTP/1.1\r\n" + H + b"X-A : a\r\n\r\n",
    "folded header": b"GET /orders HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n",
    "bad Content-Length": b"POST /orders HTTP/1.1\r\n" + H + b"Content-Length: abc\r\n\r\n",
    "Content-Length and chunked": (b"POST /orders HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n"
                                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "bad chunk size": (b"POST /orders HTTP/1.1\r\n" + H + b"Content-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
    "chunked on HTTP/1.0": (b"POST /orders HTTP/1.0\r\nHost: gw.test\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_malformed_request_is_400_json(system, case):
    assert_gateway_error(gw(system, BAD_REQUESTS[case]), 400, "bad_request")


def test_http09_request_line_gets_a_json_body(system):
    """A request line without a version is HTTP/0.9: nginx answers with the
    body alone (HTTP/0.9 has no status line or headers), and that body is
    still the JSON error."""
    r = gw(system, b"GET /orders/%00\r\n")
    assert r.status is None, r
    body = r.json
    assert isinstance(body, dict) and body.get("error") == "bad_request", r
    assert isinstance(body.get("fields"), list), r


# --------------------------------------------------------------------------- 404


@pytest.mark.parametrize("path", ["/nope", "/x.html", "/orders.html", "/logo.gif",
                                  "/ordersX", "/gateway/error"])
def test_unknown_path_is_404_json_whatever_its_extension(system, path):
    """Regression: nginx's built-in types labelled a 404 for /x.html text/html.
    /gateway/error is the internal error location: clients cannot reach it."""
    r = gw(system, b"GET %s HTTP/1.1\r\n%s\r\n" % (path.encode(), H))
    body = assert_gateway_error(r, 404, "not_found")
    assert body["message"] == "no route", r


# --------------------------------------------------------------------------- 405


@pytest.mark.parametrize("line", [b"TRACE /orders HTTP/1.1", b"TRACE /nope HTTP/1.1",
                                  b"TRACE /orders HTTP/1.0", b"CONNECT /orders HTTP/1.1"])
def test_methods_nginx_refuses_are_405_json_with_allow(system, line):
    r = gw(system, line + b"\r\n" + H + b"\r\n")
    assert_gateway_error(r, 405, "method_not_allowed")
    assert allow_set(r) == GATEWAY_ALLOW, r


def service_allow_matches_behaviour(client, path, allow):
    """Each method in Allow is served at path (no 405) and each other common
    method is refused with 405: Allow is the route table, not a guess.
    Bodies are empty or ids unknown, so nothing is stored."""
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        r = client.request(method, path, raw=b"", content_type="application/json")
        if method in allow:
            assert r.status != 405, "%s %s is in Allow %s but answers %r" % (method, path, allow, r)
        else:
            assert r.status == 405, "%s %s is not in Allow %s but answers %r" % (method, path, allow, r)
            assert allow_set(r) == allow, (method, path, r.headers)


def test_put_orders_is_405_with_allow_at_the_service_and_through_the_gateway(system):
    for client in (system.order, system.gateway):
        r = client.put("/orders", hc.booking())
        assert_json_error(r, 405, "method_not_allowed")
        assert allow_set(r) == {"GET", "POST"}, r.headers
    assert_nothing_stored(system)


@pytest.mark.parametrize("service,path", [("order", "/orders"), ("order", "/orders/999999"),
                                          ("order", "/packages"),
                                          ("payment", "/paymentHistories"),
                                          ("reservation", "/reservations/999999"),
                                          ("reservation", "/centers/1/slots"),
                                          ("notification", "/mypages")])
def test_service_405_lists_the_path_methods_in_allow(system, service, path):
    for client in (system.client(service), system.gateway):
        r = client.request("PROPFIND", path)  # never registered: always a 405
        assert_json_error(r, 405, "method_not_allowed")
        allow = allow_set(r)
        assert allow <= {"GET", "POST", "PUT", "PATCH", "DELETE"}, r.headers
        service_allow_matches_behaviour(client, path, allow)
    assert_nothing_stored(system)


def test_unknown_method_reaches_the_service_and_gets_its_allow(system):
    """nginx passes a well-formed unknown method on; the service answers 405
    with the path's methods (and TRACE, refused by nginx, is answered by the
    service itself when sent to it directly)."""
    via = gw(system, b"PROPFIND /orders HTTP/1.1\r\n" + H + b"\r\n")
    assert_json_error(via, 405, "method_not_allowed")
    assert allow_set(via) == {"GET", "POST"}, via
    direct = exchange(system.ports["order"], b"TRACE /orders HTTP/1.1\r\n" + H + b"\r\n")
    assert_json_error(direct, 405, "method_not_allowed")
    assert allow_set(direct) == {"GET", "POST"}, direct
    r = system.order.options("/orders")  # no CORS at the service: OPTIONS is a method like others
    assert_json_error(r, 405, "method_not_allowed")
    assert allow_set(r) == {"GET", "POST"}, r.headers


# --------------------------------------------------------------------------- sizes


def test_long_uri_is_414_json(system):
    r = gw(system, b"GET /orders?q=" + b"a" * 10240 + b" HTTP/1.1\r\n" + H + b"\r\n")
    assert_gateway_error(r, 414, "uri_too_long")


@pytest.mark.parametrize("headers", [
    b"X-Big: " + b"a" * 10240 + b"\r\n",
    b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 7000) for i in range(6)),
    b"Cookie: " + b"c=" + b"v" * 9000 + b"\r\n",
], ids=["one header", "all headers", "cookie"])
def test_headers_too_large_are_431_json(system, headers):
    """nginx's own code for this is 494, sent as a 400; the gateway says 431."""
    r = gw(system, b"GET /orders HTTP/1.1\r\n" + H + headers + b"\r\n")
    assert_gateway_error(r, 431, "headers_too_large")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit_is_413_json(system, chunked):
    body = b'{"name":"' + b"x" * 70000 + b'"}'  # HC_MAX_BODY_BYTES is 65536
    if chunked:
        framing = b"Transfer-Encoding: chunked\r\n\r\n"
        payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    else:
        framing = b"Content-Length: %d\r\n\r\n" % len(body)
        payload = body
    r = gw(system, b"POST /orders HTTP/1.1\r\n" + H + b"Content-Type: application/json\r\n"
           + framing + payload)
    err = assert_gateway_error(r, 413, "payload_too_large")
    assert "65536" in err["message"], err
    assert_nothing_stored(system)


# --------------------------------------------------------------------------- 5xx of nginx itself


def test_unknown_transfer_coding_is_501_json(system):
    r = gw(system, b"POST /orders HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n")
    assert_gateway_error(r, 501, "not_implemented")


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/3.0"])
def test_unsupported_http_version_is_505_json(system, version):
    r = gw(system, b"GET /orders " + version + b"\r\n" + H + b"\r\n")
    assert_gateway_error(r, 505, "http_version_not_supported")


def test_nginx_internal_failure_is_500_json(system):
    """A body larger than nginx's memory buffer (16 KB) goes to a temporary
    file; when that cannot be created (disk trouble, here a file where the
    directory should be) nginx fails the request with 500."""
    tmp = os.path.join(system.run_dir, "tmp", "client_body")
    aside = tmp + ".aside"
    os.rename(tmp, aside)
    try:
        with open(tmp, "w"):
            pass
        body = json.dumps(hc.booking(pad="x" * 40000)).encode()
        r = gw(system, b"POST /orders HTTP/1.1\r\n" + H + b"Content-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        assert_gateway_error(r, 500, "internal")
    finally:
        os.remove(tmp)
        os.rename(aside, tmp)
    assert_nothing_stored(system)


# --------------------------------------------------------------------------- services down


ROUTES = {"order": "/orders", "reservation": "/reservations", "payment": "/paymentHistories",
          "notification": "/mypages"}


def child_pid(system, service):
    """The pid of `healthcenter <service>` under the test's `healthcenter up`."""
    for pid in hc.children_of(system.procs["up"].pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) >= 2 and argv[1] == service.encode():
            return pid
    raise AssertionError("no %s process under `up`" % service)


def wait_supervising(system):
    """Waits until `up` has printed its ready banner: from then on it
    supervises (restarts a dead child) instead of failing start-up."""
    log = system.procs["up"].log_path
    wait_until(lambda: "Press Ctrl-C to stop." in hc.tail(log, 200), what="`up` ready banner")


def proc_state(pid):
    """The state letter of pid in /proc (R, S, T for stopped, ...)."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def port_refuses(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def test_service_down_is_503_json_naming_it(system):
    """With `up` frozen (so it cannot restart them), each service is killed:
    the gateway answers 503 service_unavailable naming the service, with
    Retry-After; once `up` runs again everything comes back."""
    wait_supervising(system)
    up = system.procs["up"]
    up.signal(signal.SIGSTOP)
    try:
        for service in ROUTES:
            os.kill(child_pid(system, service), signal.SIGKILL)
        for service in ROUTES:
            wait_until(lambda s=service: port_refuses(system.ports[s]), what="%s port closed" % service)
        for service, path in ROUTES.items():
            for method in (b"GET", b"POST"):
                r = gw(system, b"%s %s HTTP/1.1\r\n%sContent-Type: application/json\r\n"
                       b"Content-Length: 2\r\n\r\n{}" % (method, path.encode(), H))
                err = assert_gateway_error(r, 503, "service_unavailable")
                assert re.search(r"\b%s service\b" % service, err["message"]), err
                assert r.header("Retry-After") == "1", r
                assert r.header("Allow") is None, r
    finally:
        up.signal(signal.SIGCONT)
    system.wait_ready(hc.SERVICES)
    assert system.gateway.get("/orders").status == 200


@pytest.fixture
def fast_timeouts(make_system, tmp_path):
    """The whole system on a copy of the gateway template whose client and
    upstream read timeouts are 1 s instead of 60 s."""
    with open(os.path.join(source_dir(), "gateway", "nginx.conf.tmpl"), encoding="utf-8") as f:
        text = f.read()
    for old, new in (("proxy_read_timeout 60s;", "proxy_read_timeout 1s;"),
                     ("keepalive_timeout 65s;",
                      "keepalive_timeout 65s;\n    client_header_timeout 1s;\n"
                      "    client_body_timeout 1s;")):
        assert text.count(old) == 1, "the template no longer has %r" % old
        text = text.replace(old, new)
    path = tmp_path / "nginx.conf.tmpl"
    path.write_text(text, encoding="utf-8")
    s = make_system(HC_GATEWAY_TEMPLATE=str(path))
    s.start_all()
    return s


def test_service_too_slow_is_504_json_naming_it(fast_timeouts):
    s = fast_timeouts
    wait_supervising(s)
    pid = child_pid(s, "order")
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(lambda: proc_state(pid) == "T", what="order (pid %d) stopped" % pid)
        r = gw(s, b"GET /orders/1 HTTP/1.1\r\n" + H + b"\r\n")
        err = assert_gateway_error(r, 504, "service_unavailable")
        assert re.search(r"\border service\b", err["message"]), err
        assert "may or may not" in err["message"], err
        assert r.header("Retry-After") == "1", r
    finally:
        os.kill(pid, signal.SIGCONT)
    assert s.gateway.get("/orders").status == 200


@pytest.mark.parametrize("partial", [
    b"GET /orders HTTP/1.1\r\nHost: gw.test\r\n",
    b"POST /orders HTTP/1.1\r\n" + H + b"Content-Type: application/json\r\n"
    b"Content-Length: 100\r\n\r\n{\"name\"",
    b"POST /orders HTTP/1.1\r\n" + H + b"Content-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n7\r\n{\"name\"\r\n",
], ids=["headers", "body", "chunked body"])
def test_client_too_slow_is_closed_without_an_answer(fast_timeouts, partial):
    """nginx never sends its 408: on client_header_timeout or
    client_body_timeout it closes the connection without a byte (error_page
    408 has no effect), so there is no HTML page to replace. Pinned here so a
    change in nginx that starts answering is noticed."""
    r = gw(fast_timeouts, partial, timeout=15)
    assert r.raw == b"", r


# --------------------------------------------------------------------------- unchanged, documented


def test_cors_preflight_is_unchanged(system):
    """For an origin of HC_CORS_ORIGINS (the harness allows hc.CORS_ORIGIN)."""
    r = system.gateway.options("/orders/7", headers={
        "Origin": hc.CORS_ORIGIN, "Access-Control-Request-Method": "DELETE"})
    assert r.status == 204, r
    assert r.raw == b"", r
    h = r.headers
    assert h.get("Access-Control-Allow-Origin") == hc.CORS_ORIGIN, h
    assert h.get("Access-Control-Allow-Methods") == "GET, POST, PUT, PATCH, DELETE, OPTIONS", h
    assert h.get("Access-Control-Allow-Headers") == (
        "Content-Type, Idempotency-Key, traceparent, tracestate, X-Request-Id, Authorization"), h
    assert h.get("Access-Control-Max-Age") == "600", h
    assert h.get("X-Request-Id"), h
    # An ordinary answer keeps the full CORS set too.
    g = system.gateway.get("/packages", headers={"Origin": hc.CORS_ORIGIN})
    assert g.status == 200 and g.headers.get("Access-Control-Allow-Methods"), g.headers


def test_cors_answers_only_the_configured_origins(system):
    """Another site's page gets no Access-Control-Allow-Origin, on a preflight,
    an answer or an error (the browser keeps the answer from it), whatever
    its Origin looks like; the allowed origin is echoed, never "*"."""
    for origin in ("http://evil.test", "null", hc.CORS_ORIGIN + ".evil.test",
                   "http://example.test:8080"):
        for r in (system.gateway.options("/orders", headers={
                      "Origin": origin, "Access-Control-Request-Method": "POST"}),
                  system.gateway.get("/packages", headers={"Origin": origin}),
                  system.gateway.get("/nowhere", headers={"Origin": origin})):
            assert r.headers.get("Access-Control-Allow-Origin") is None, (origin, r.headers)
            assert r.headers.get("Vary") == "Origin", r.headers
    g = system.gateway.get("/nowhere", headers={"Origin": hc.CORS_ORIGIN})
    assert g.status == 404 and g.headers.get("Access-Control-Allow-Origin") == hc.CORS_ORIGIN


def test_every_gateway_error_code_is_documented(system):
    """The codes in the rendered config's error table appear in
    docs/openapi.yaml's Error enum and in docs/gateway.md."""
    with open(os.path.join(system.run_dir, "nginx.conf"), encoding="utf-8") as f:
        codes = set(re.findall(r'\{"error":"([a-z_]+)"', f.read()))
    assert {"bad_request", "not_found", "method_not_allowed", "service_unavailable"} <= codes, codes
    with open(os.path.join(source_dir(), "docs", "openapi.yaml"), encoding="utf-8") as f:
        openapi = f.read()
    with open(os.path.join(source_dir(), "docs", "gateway.md"), encoding="utf-8") as f:
        doc = f.read()
    for code in sorted(codes):
        assert re.search(r"^\s+- %s$" % code, openapi, re.M), "openapi Error enum lacks %s" % code
        assert "`%s`" % code in doc, "docs/gateway.md does not mention `%s`" % code
