"""hc-loadgen (bench/loadgen.c), the open-loop load generator of `make bench
BENCH_ARGS="--rate N"`, against throwaway local servers: what it sends, and
that its JSON line counts every scheduled request exactly once. Counts only,
no timing asserts. HC_LOADGEN names the binary (ctest sets it)."""

import http.server
import json
import os
import socket
import subprocess
import threading

import pytest

LOADGEN = os.environ.get("HC_LOADGEN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "hc-loadgen")
DATE = "2026-12-10"
TOKEN = "t0ken.for.test"


def run(*args, timeout=60):
    p = subprocess.run([LOADGEN, *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class Server:
    """HTTP/1.1 keep-alive server: every 5th request answers 503, every 7th
    closes its connection after the answer (Connection: close)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []  # (method, path, headers dict, body bytes)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.requests.append((self.command, self.path, dict(self.headers), body))
                    k = len(outer.requests)
                status = 503 if k % 5 == 0 else 201
                out = b'{"id":%d}' % k
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                if k % 7 == 0:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_counts_every_scheduled_request_once():
    with Server() as srv:
        code, out, err = run("--port", srv.port, "--rate", 50, "--duration", 1, "--warmup", 0.2,
                             "--connections", 4, "--token", TOKEN, "--date", DATE)
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1, out
    r = json.loads(out)
    # 0.2 s x 50/s of warm-up first, then 1 s x 50/s measured: 60 requests in all
    assert len(srv.requests) == 60
    assert r["warmup"] == {"requests": 10, "completed": 10, "errors": 0}
    assert r["scheduled"] == r["requests"] == r["completed"] == 50
    # the server's 5th, 10th, ... answers were 503: 2 of the warm-up's, 10 of the run's
    assert r["statuses"] == {"201": 40, "503": 10}
    assert r["non201"] == 10
    assert r["socket_errors"] == {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    assert r["unsent"] == 0 and r["unanswered"] == 0
    assert r["latency_ms"]["n"] == 50
    lat = r["latency_ms"]
    assert 0 <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    assert r["target_rate"] == 50 and r["connections"] == 4
    # every 7th answer closed its connection: more were opened than the pool holds
    assert 4 < r["connections_opened"] <= 60
    assert len(r["samples"]) == 3 and all(s.startswith("503 ") for s in r["samples"])
    for method, path, headers, body in srv.requests:
        assert (method, path) == ("POST", "/orders")
        assert headers["Authorization"] == "Bearer " + TOKEN
        assert headers["Content-Type"] == "application/json"
        b = json.loads(body)
        assert b["checkupDate"] == DATE and b["centerId"] == 1 and b["orderType"] == "basic"


def test_unanswered_requests_are_timeouts():
    """A server that accepts and never answers: 2 connections take one request
    each, the rest wait in the queue; after --timeout all count as timeouts."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    try:
        code, out, err = run("--port", lst.getsockname()[1], "--rate", 20, "--duration", 0.5,
                             "--connections", 2, "--timeout", 0.3, "--token", TOKEN,
                             "--date", DATE)
    finally:
        lst.close()
    assert code == 0, err
    r = json.loads(out)
    assert r["scheduled"] == 10
    assert r["requests"] == 2 and r["completed"] == 0
    assert r["socket_errors"]["timeout"] == 10
    assert r["unsent"] == 8 and r["unanswered"] == 2
    assert r["queued_at_end"] == 8 and r["in_flight_at_end"] == 2
    assert r["latency_ms"]["n"] == 0 and r["latency_ms"]["p50"] is None


def test_refused_connections_are_connect_errors():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    code, out, err = run("--port", port, "--rate", 20, "--duration", 0.5, "--token", TOKEN,
                         "--date", DATE)
    assert code == 0, err
    r = json.loads(out)
    assert r["scheduled"] == 10 and r["completed"] == 0
    assert r["socket_errors"]["connect"] == 10 and r["socket_errors"]["timeout"] == 0


@pytest.mark.parametrize("args", [
    [],
    ["--port", "1", "--rate", "10", "--duration", "1", "--token", "x"],  # no --date
    ["--port", "1", "--rate", "0", "--duration", "1", "--token", "x", "--date", DATE],
    ["--port", "1", "--rate", "ten", "--duration", "1", "--token", "x", "--date", DATE],
    ["--port", "1", "--rate", "10", "--duration", "1", "--token", "x", "--date", DATE, "--bogus",
     "1"],
])
def test_bad_arguments_exit_2(args):
    code, out, err = run(*args)
    assert code == 2 and out == "" and "usage: hc-loadgen" in err
