#!/usr/bin/python3
"""breaker.py: the original project's siege scenario, reproduced (`make bench-breaker`).

The original (Spring Boot, Hystrix with a 610 ms timeout) slowed its payment by
400 + random * 220 ms per charge and ran `siege -c100 -t60S` against
`POST /orders`: 1054 transactions, 80.34 % availability, 17.64 transactions/s,
5.47 s mean response time, 8.41 s longest.

This script starts the whole system (`healthcenter up`: nginx and the four
services) on free ports with a fresh data directory (by default in /dev/shm,
in memory, as the original's HSQLDB was; --data-in /tmp puts it on the disk)
and its own environment (default settings: order's payment timeout 610 ms,
the breaker and bulkhead defaults, durable commits), with a delaying proxy
(bench/delay_proxy.py, bench-only) in front of payment that holds every
charge 400-620 ms, uniformly, before payment acts on it. Then the real siege
(Debian's siege 4.0.7) runs the original's command through the gateway:
`siege -c100 -t60S -r10 --content-type application/json 'URL POST {json}'`
with a siegerc of its packaged defaults (`connection = close`) and
`delay = 1` (--delay: a pause of 0 or 1 s before each next request, as
siege rounds it), its per-answer lines read for the latencies and its
summary reported as it printed it. --python-clients runs this script's own
asyncio clients instead, the same way (a pause uniform in 0..--delay s;
--delay 0 is siege's benchmark mode -b; --keep-alive reuses connections;
--honour-retry-after makes them polite). Meanwhile a probe reads
GET /orders/{id} through the gateway and order's /health/ready every 50 ms,
order's /metrics every 250 ms (the breaker's state changes seen are
reported as a timeline), and fdatasync is timed every 50 ms on the data
directory's filesystem (or the disk's temporary directory when the data is
in memory). It prints ONE JSON line on stdout: siege's figures beside the
original's, plus the latency of accepted (201) and refused (503) bookings,
the reads, what the breaker and bulkhead did, where the held charges' time
went (the proxy's phases, payment's own latency histogram), the fdatasync
times and the CPU of every process. Progress goes to stderr.

Siege's figures (computed the same way for --python-clients): a transaction
is an answer below 500 and a failed transaction a 5xx or a socket error (the original's 1054 successful and 258 failed give
its 80.34 %); availability = transactions / (transactions + failed);
transaction_rate = transactions / elapsed; response_time = the mean time of
the transactions; longest and shortest over every request.

The clients all come from 127.0.0.1, so the gateway's per-client rate limits
are off (HC_RATE_LIMIT_RPS=0, HC_RATE_LIMIT_CONNECTIONS=0) unless --env sets
them: the scenario is 100 customers, not one client.

Standard library only. It is a benchmark, not a test: it exits 1 only when
the system misbehaves (an answer other than 201 or 503, no booking at all,
a read that fails). Only processes this script started are ever signalled.
"""

import argparse
import asyncio
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench  # noqa: E402 - the helpers of `make bench`
import delay_proxy  # noqa: E402

from bench import BenchError, log, percentile  # noqa: E402

# The original's siege report (../shared/seed, "동기식 호출 / Circuit Breaker").
ORIGINAL = {
    "transactions": 1054, "availability": 80.34, "elapsed_time": 59.74, "response_time": 5.47,
    "transaction_rate": 17.64, "concurrency": 96.58, "successful_transactions": 1054,
    "failed_transactions": 258, "longest_transaction": 8.41, "shortest_transaction": 0.44,
}
# Inherited variables that only say where things are; every other HC_* is
# dropped, so the system runs on its defaults plus what --env sets.
KEEP_ENV = ("HC_NGINX", "HC_READY_TIMEOUT_MS")
# The data directory's parent: memory when the machine has /dev/shm.
DEFAULT_DATA_IN = "/dev/shm" if os.path.isdir("/dev/shm") else None
PROBE_EVERY_S = 0.05
METRICS_EVERY_S = 0.25


# --------------------------------------------------------------------------- a tiny HTTP client


class Conn:
    """One HTTP/1.1 connection to 127.0.0.1:port (asyncio): kept alive, or
    closed after each answer (keep_alive False: `Connection: close`, as siege
    does by default)."""

    def __init__(self, port, keep_alive=True):
        self.port = port
        self.keep_alive = keep_alive
        self.rw = None
        self.retry_after = None  # the last answer's Retry-After, if any

    def close(self):
        if self.rw:
            self.rw[1].close()
            self.rw = None

    async def request(self, method, path, body=None):
        """(status, body bytes); raises OSError/asyncio errors on a socket failure."""
        if self.rw is None:
            self.rw = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.rw
        data = body or b""
        head = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % self.port,
                "Accept: application/json", "User-Agent: hc-bench/breaker",
                "Authorization: Bearer " + bench.TOKENS["customer"]]
        if body is not None:
            head += ["Content-Type: application/json", "Content-Length: %d" % len(data)]
        if not self.keep_alive:
            head.append("Connection: close")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        await writer.drain()
        got = await delay_proxy.read_head(reader)
        if got is None:
            raise ConnectionError("the server closed the connection")
        start, headers = got
        payload = await delay_proxy.read_body(reader, headers)
        if not self.keep_alive or \
                (delay_proxy.header(headers, "connection") or "").lower() == "close":
            self.close()
        self.retry_after = delay_proxy.header(headers, "retry-after")
        return int(start.split(" ", 2)[1]), payload


async def timed_request(conn, method, path, body, timeout):
    """(status or None for a socket failure, seconds)."""
    t0 = time.monotonic()
    try:
        status, _ = await asyncio.wait_for(conn.request(method, path, body), timeout)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
        conn.close()
        status = None
    return status, time.monotonic() - t0


# --------------------------------------------------------------------------- the load


def booking_body(date):
    """POST /orders: the same valid booking as bench/book.lua's."""
    return json.dumps({"name": "Bench", "phone": "010-1234-5678", "orderType": "basic",
                       "checkupDate": date, "centerId": 1, "payMethod": "card",
                       "cardNo": "4111111111111111"}).encode()


class Run:
    """The load: clients booking, a reader, a metrics scraper, until the deadline."""

    def __init__(self, ports, date, oid, clients, duration, timeout, delay, keep_alive,
                 honour_retry_after=False):
        self.ports, self.oid = ports, oid
        self.clients, self.duration, self.timeout = clients, duration, timeout
        self.delay, self.keep_alive = delay, keep_alive
        self.honour_retry_after = honour_retry_after
        self.body = booking_body(date)
        self.posts = []    # (status or None, seconds)
        self.post_ends = []  # seconds into the run at which each of posts ended
        self.gets = []     # (status or None, seconds): GET /orders/{id} through the gateway
        self.probes = []   # (status or None, seconds): order's /health/ready
        self.states = {}   # breaker state -> scrapes that saw it
        self.timeline = []  # [seconds into the run, state] at each change seen
        self.t0 = self.t_end = self.deadline = None

    async def client(self):
        conn = Conn(self.ports["gateway"], self.keep_alive)
        while time.monotonic() < self.deadline:
            self.posts.append(await timed_request(conn, "POST", "/orders", self.body,
                                                  self.timeout))
            self.post_ends.append(time.monotonic() - self.t0)
            pause = random.uniform(0, self.delay) if self.delay > 0 else 0.0
            if self.honour_retry_after and self.posts[-1][0] == 503 and conn.retry_after:
                # a polite client: not before Retry-After seconds (siege ignores it)
                try:
                    pause = max(pause, float(conn.retry_after))
                except ValueError:
                    pass
            if pause > 0:
                # siege's think time between a user's requests (its `delay`)
                left = self.deadline - time.monotonic()
                await asyncio.sleep(max(0.0, min(left, pause)))
        conn.close()

    async def reader(self):
        gw, order = Conn(self.ports["gateway"]), Conn(self.ports["order"])
        while time.monotonic() < self.deadline:
            self.gets.append(await timed_request(gw, "GET", "/orders/%d" % self.oid, None, 10))
            self.probes.append(await timed_request(order, "GET", "/health/ready", None, 10))
            await asyncio.sleep(PROBE_EVERY_S)  # the probe's pace
        gw.close()
        order.close()

    async def scraper(self):
        while time.monotonic() < self.deadline:
            try:
                m = await asyncio.get_running_loop().run_in_executor(None, order_metrics,
                                                                     self.ports["order"])
                state = m.get("state")
                self.states[state] = self.states.get(state, 0) + 1
                if not self.timeline or self.timeline[-1][1] != state:
                    self.timeline.append([round(time.monotonic() - self.t0, 2), state])
            except (OSError, BenchError):
                self.states["unreadable"] = self.states.get("unreadable", 0) + 1
            await asyncio.sleep(METRICS_EVERY_S)  # the scrape's pace

    async def go(self, siege_cmd=None):
        """Runs the load: the real siege (siege_cmd) or this script's clients."""
        self.t0 = time.monotonic()
        self.deadline = self.t0 + self.duration
        if siege_cmd:
            load = [self.siege(siege_cmd)]
        else:
            load = [self.client() for _ in range(self.clients)]
        await asyncio.gather(*load, self.reader(), self.scraper())
        self.t_end = time.monotonic()

    async def siege(self, cmd):
        """Runs siege; each answer it prints (verbose) is kept in self.posts
        with the time it was read; its summary (stderr) in self.siege_err."""
        p = await asyncio.create_subprocess_exec(*cmd, stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                 start_new_session=True, limit=1 << 20)
        err = asyncio.ensure_future(p.stderr.read())
        tail = []
        # siege 4.0.7 sometimes never exits after its time is up (threads
        # left waiting on a lock: JoeDog/siege#4); past its time plus its 30 s
        # socket timeout it is killed and its figures are computed from the
        # answers it printed.
        hard = self.t0 + self.duration + SIEGE_GRACE_S
        self.siege_hung = False
        try:
            while True:
                try:
                    line = await asyncio.wait_for(p.stdout.readline(),
                                                  max(0.1, hard - time.monotonic()))
                except asyncio.TimeoutError:
                    self.siege_hung = True
                    p.kill()  # only the siege this script started
                    break
                if not line:
                    break
                m = SIEGE_LINE_RE.match(line.decode("utf-8", "replace"))
                if m:
                    self.posts.append((int(m.group(1)), float(m.group(2))))
                    self.post_ends.append(time.monotonic() - self.t0)
                else:
                    tail.append(line)
            await p.wait()
        finally:
            if p.returncode is None:
                p.kill()  # only the siege this script started
        self.deadline = min(self.deadline, time.monotonic())  # the reads stop with siege
        self.siege_out, self.siege_err = b"".join(tail), await err
        self.siege_rc = p.returncode


METRIC_RE = re.compile(r'^(resilience4j_\w+|hc_bulkhead_\w+)\{([^}]*)\}\s+(\S+)$', re.M)


def order_metrics(port):
    """What order's /metrics says of the payment breaker and bulkhead."""
    status, body = bench.http_get(port, "/metrics", timeout=5.0)
    if status != 200:
        raise BenchError("order /metrics answered %d" % status)
    out = {}
    for name, labels, value in METRIC_RE.findall(body.decode("utf-8", "replace")):
        if 'name="payment"' not in labels:
            continue
        v = float(value)
        if name == "resilience4j_circuitbreaker_state" and v == 1:
            out["state"] = re.search(r'state="(\w+)"', labels).group(1)
        elif name == "resilience4j_circuitbreaker_not_permitted_calls_total":
            out["not_permitted_total"] = int(v)
        elif name == "resilience4j_circuitbreaker_failure_rate":
            out["failure_rate"] = v
        elif name == "hc_bulkhead_rejected_calls_total":
            out["bulkhead_rejected_total"] = int(v)
        elif name == "resilience4j_bulkhead_max_allowed_concurrent_calls":
            out["bulkhead_max_allowed"] = int(v)
    return out


def ms_stats(seconds):
    """{n, mean, p50, p99, max} in ms (None when empty)."""
    ms = [x * 1000.0 for x in seconds]
    return {"n": len(ms), "mean_ms": bench.r1(sum(ms) / len(ms), 1) if ms else None,
            "p50_ms": bench.r1(percentile(ms, 50), 1), "p99_ms": bench.r1(percentile(ms, 99), 1),
            "max_ms": bench.r1(max(ms), 1) if ms else None}


def per_interval(run, every_s):
    """[[201s, 503s, other], ...] of the bookings answered in each every_s
    seconds of the run."""
    n = int(run.duration // every_s) + 1
    out = [[0, 0, 0] for _ in range(n)]
    for (st, _), end in zip(run.posts, run.post_ends):
        row = out[min(n - 1, int(end // every_s))]
        row[0 if st == 201 else 1 if st == 503 else 2] += 1
    return out


def siege_figures(posts, elapsed):
    """The figures siege reports, from (status, seconds) of every request."""
    trans = [t for st, t in posts if st is not None and st < 500]
    failed = [t for st, t in posts if st is None or st >= 500]
    every = [t for _, t in posts]
    n, f = len(trans), len(failed)
    return {
        "transactions": n,
        "availability": round(100.0 * n / (n + f), 2) if n + f else None,
        "elapsed_time": round(elapsed, 2),
        "response_time": round(sum(trans) / n, 3) if n else None,
        "transaction_rate": round(n / elapsed, 2) if elapsed else None,
        "concurrency": round(sum(every) / elapsed, 2) if elapsed else None,
        "successful_transactions": sum(1 for st, _ in posts if st is not None and st < 400),
        "failed_transactions": f,
        "longest_transaction": round(max(every), 3) if every else None,
        "shortest_transaction": round(min(every), 3) if every else None,
    }


# --------------------------------------------------------------------------- processes


def start_proxy(port, target, delay):
    cmd = [sys.executable, os.path.join(HERE, "delay_proxy.py"), "--port", str(port),
           "--target", target, "--delay-ms", "%d-%d" % delay]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         start_new_session=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            if p.poll() is not None or time.monotonic() > deadline:
                raise BenchError("the delaying proxy did not start (exit %s)" % p.poll())
            time.sleep(0.02)  # poll interval


def stop_proxy(p):
    """SIGTERM to the proxy; returns its counts (or {} when it printed none)."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        out, _ = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}


SIEGE_GRACE_S = 45
# One answer in siege's verbose output: "HTTP/1.1 201     0.52 secs:     245 bytes ==> POST ..."
SIEGE_LINE_RE = re.compile(r'^HTTP/\d\.\d\s+(\d{3})\s+([\d.]+) secs:')
SIEGERC = """# bench/breaker.py's siegerc: siege 4.0.7's packaged defaults, made explicit
# (connection = close, HTTP/1.1, 30 s socket timeout), with the think time
# of --delay, a line per answer on stdout (read for the latencies) and the
# summary on stderr (json_output would silence the lines).
verbose = true
color = off
quiet = false
json_output = false
show-logfile = false
logging = false
parser = false
protocol = HTTP/1.1
chunked = true
cache = false
connection = close
timeout = 30
failures = 1000000
delay = %s
accept-encoding = gzip, deflate
url-escaping = true
"""


def siege_command(rc_path, clients, duration, port, body):
    """The original's command shape: siege -c100 -t60S -r10 --content-type
    application/json 'URL POST {json}', against the gateway."""
    return ["siege", "-R", rc_path, "-c%d" % clients, "-t%dS" % duration, "-r10",
            "--content-type", "application/json",
            "--header", "Authorization: Bearer " + bench.TOKENS["customer"],
            "http://127.0.0.1:%d/orders POST %s" % (port, body.decode())]


SIEGE_SUMMARY = {"Transactions": "transactions", "Availability": "availability",
                 "Elapsed time": "elapsed_time", "Data transferred": "data_transferred",
                 "Response time": "response_time", "Transaction rate": "transaction_rate",
                 "Throughput": "throughput", "Concurrency": "concurrency",
                 "Successful transactions": "successful_transactions",
                 "Failed transactions": "failed_transactions",
                 "Longest transaction": "longest_transaction",
                 "Shortest transaction": "shortest_transaction"}


def parse_siege(err):
    """siege's summary (printed on stderr when json_output is off, which
    verbose needs) -> the keys of its JSON summary."""
    out = {}
    for line in err.decode("utf-8", "replace").splitlines():
        name, sep, rest = line.partition(":")
        if sep and name.strip() in SIEGE_SUMMARY and rest.split():
            v = float(rest.split()[0])
            out[SIEGE_SUMMARY[name.strip()]] = int(v) if v.is_integer() and "." not in \
                rest.split()[0] else v
    if "transactions" not in out:
        raise BenchError("siege printed no summary: %r" % err.decode("utf-8", "replace")[-500:])
    return out


REQ_RE = re.compile(r'^hc_http_requests_total\{([^}]*)\}\s+(\S+)$', re.M)


def route_statuses(port, service, method, route):
    """{status: count} of a service's hc_http_requests_total for one route."""
    status, body = bench.http_get(port, "/metrics", timeout=5.0)
    out = {}
    for labels, value in REQ_RE.findall(body.decode("utf-8", "replace")):
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if (lab.get("service"), lab.get("method"), lab.get("route")) == (service, method, route):
            out[lab["status"]] = out.get(lab["status"], 0) + int(float(value))
    return out


class DiskProbe:
    """Every 50 ms writes 4 KiB to a file in the data directory and
    fdatasyncs it, timing the fdatasync: what a durable commit of the
    services costs on that filesystem at that moment (a shared disk stalls)."""

    def __init__(self, where):
        self.path = os.path.join(where, "hc-bench-fsync-probe-%d" % os.getpid())
        self.ms = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.done.set()
        self.thread.join()

    def loop(self):
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while not self.done.is_set():
                os.pwrite(fd, b"x" * 4096, (len(self.ms) % 256) * 4096)
                t = time.perf_counter()
                os.fdatasync(fd)
                self.ms.append((time.perf_counter() - t) * 1000.0)
                self.done.wait(0.05)  # the probe's pace
        finally:
            os.close(fd)
            os.unlink(self.path)

    def summary(self):
        xs = self.ms
        return {"n": len(xs), "p50_ms": bench.r1(percentile(xs, 50), 1),
                "p99_ms": bench.r1(percentile(xs, 99), 1),
                "max_ms": bench.r1(max(xs), 1) if xs else None,
                "over_100ms": sum(1 for x in xs if x > 100),
                "over_610ms": sum(1 for x in xs if x > 610)}


def fs_type(path):
    """The type of the filesystem holding path (from /proc/mounts), or None."""
    best, kind = "", None
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mnt = parts[1]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                    best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


def harness_cpu(proxy):
    """CPU seconds used so far by this script (the clients) and the proxy."""
    t = os.times()
    out = {"bench_clients": t.user + t.system}
    st = bench.proc_stat(proxy.pid) if proxy is not None else None
    if st:
        out["delay_proxy"] = st[2] / float(os.sysconf("SC_CLK_TCK"))
    return out


HIST_RE = re.compile(r'^hc_http_request_duration_seconds_(bucket|sum|count)\{([^}]*)\}\s+(\S+)$',
                     re.M)


def route_latency(port, service, method):
    """{route: {"le": {bound: count}, "sum": s, "count": n}} of a service's
    request duration histograms for method, from its /metrics ({} if unreadable)."""
    try:
        status, body = bench.http_get(port, "/metrics", timeout=5.0)
    except (OSError, BenchError):
        return {}
    out = {}
    for kind, labels, value in HIST_RE.findall(body.decode("utf-8", "replace")):
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if lab.get("service") != service or lab.get("method") != method:
            continue
        r = out.setdefault(lab.get("route"), {"le": {}, "sum": 0.0, "count": 0})
        if kind == "bucket":
            r["le"][lab["le"]] = int(float(value))
        elif kind == "sum":
            r["sum"] = float(value)
        else:
            r["count"] = int(float(value))
    return out


def latency_delta(before, after):
    """Per route, what the histograms gained during the run: count, mean ms,
    and the share of requests at or below each bound (cumulative, %)."""
    out = {}
    for route, a in after.items():
        b = before.get(route, {"le": {}, "sum": 0.0, "count": 0})
        n = a["count"] - b["count"]
        if n <= 0:
            continue
        cdf = {}
        for le, c in a["le"].items():
            cdf[le] = round(100.0 * (c - b["le"].get(le, 0)) / n, 1)
        out[route] = {"n": n, "mean_ms": round(1000.0 * (a["sum"] - b["sum"]) / n, 1),
                      "le_s_pct": cdf}
    return out


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def build_env(data_dir, ports, proxy_port, extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HC_") or k in KEEP_ENV}
    env.update({
        "HC_DATA_DIR": data_dir,
        "HC_LOG_LEVEL": "warn",
        "HC_CENTERS": "1:Bench Center:1000000",
        "HC_BIND_ADDR": "127.0.0.1",
        "HC_GATEWAY_PORT": str(ports["gateway"]),
        "HC_ORDER_PORT": str(ports["order"]),
        "HC_RESERVATION_PORT": str(ports["reservation"]),
        "HC_PAYMENT_PORT": str(ports["payment"]),
        "HC_NOTIFICATION_PORT": str(ports["notification"]),
        "HC_PAYMENT_URL": "http://127.0.0.1:%d" % proxy_port,
    })
    # 100 customers, one address (127.0.0.1): the gateway's per-client limits
    # would turn most of them away with 429, so they are off unless --env sets them.
    env.update({"HC_RATE_LIMIT_RPS": "0", "HC_RATE_LIMIT_CONNECTIONS": "0"})
    env.update(extra)
    return env


# --------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description="The original's siege scenario against a slow "
                                             "payment (see docs/breaker.md).")
    ap.add_argument("--bin", default="./build/healthcenter", help="the healthcenter binary")
    ap.add_argument("--clients", type=int, default=100, help="concurrent clients (default 100)")
    ap.add_argument("--duration", type=int, default=60, help="seconds of load (default 60)")
    ap.add_argument("--delay-ms", dest="payment_delay", type=delay_proxy.parse_delay,
                    default=(400, 620),
                    help="payment's injected delay per charge, LO-HI ms (default 400-620)")
    ap.add_argument("--delay", type=float, default=1.0,
                    help="a client's pause between requests, uniform 0..DELAY s (siege's "
                         "default 1; 0 = back to back, siege -b)")
    ap.add_argument("--keep-alive", action="store_true",
                    help="reuse each client's connection (siege's default closes it)")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="a client's limit per request, seconds (siege's default 30)")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="an HC_* setting for the system (repeatable; reported in the output)")
    ap.add_argument("--ready-timeout", type=float, default=30.0)
    ap.add_argument("--keep-data", action="store_true", help="keep the temporary HC_DATA_DIR")
    ap.add_argument("--fsync-probe-in", default=None, metavar="DIR",
                    help="time fdatasync in DIR (default: the data directory, or the temporary "
                         "directory when the data is in memory: the disk's own stalls)")
    ap.add_argument("--honour-retry-after", action="store_true",
                    help="clients wait Retry-After seconds after a 503 (siege does not; "
                         "a second, separately labelled figure)")
    ap.add_argument("--python-clients", dest="siege", action="store_false",
                    help="drive the load with this script's clients (asyncio, siege's ways) "
                         "instead of the real siege")
    ap.add_argument("--data-in", default=DEFAULT_DATA_IN, metavar="DIR",
                    help="where the fresh data directory is made (default: %s, in memory, as "
                         "the original's HSQLDB was; /tmp puts it on the disk)" % DEFAULT_DATA_IN)
    a = ap.parse_args()
    if a.clients < 1 or a.duration < 1 or a.delay < 0:
        ap.error("--clients and --duration must be >= 1, --delay >= 0")
    extra = {}
    for kv in a.env:
        k, sep, v = kv.partition("=")
        if not sep or not k.startswith("HC_"):
            ap.error("--env takes HC_NAME=VALUE, got %r" % kv)
        extra[k] = v
    if a.siege and a.honour_retry_after:
        ap.error("--honour-retry-after needs --python-clients (siege ignores Retry-After)")
    if a.siege and not shutil.which("siege"):
        log("siege is not installed: the load is the real siege by default (Debian: "
            "apt-get install siege; scripts/install-deps.sh installs it), or use "
            "--python-clients (make bench-breaker BREAKER_ARGS=--python-clients)")
        return 1
    binary = os.path.abspath(a.bin)
    if not os.access(binary, os.X_OK):
        log("no executable at %s: build it first (make build)", binary)
        return 1

    ports = dict(zip(("gateway",) + bench.SERVICES + ("proxy",), bench.free_ports(6)))
    data_dir = tempfile.mkdtemp(prefix="hc-bench-breaker-", dir=a.data_in)
    env = build_env(data_dir, ports, ports["proxy"], extra)
    system = bench.System(binary, env, ports)
    proxy = None
    problems, result, code = [], None, 0
    load_before = loadavg()
    try:
        proxy = start_proxy(ports["proxy"], "http://127.0.0.1:%d" % ports["payment"],
                            a.payment_delay)
        log("starting %s up (data %s); payment behind the delaying proxy on %d (%d-%d ms)",
            binary, data_dir, ports["proxy"], a.payment_delay[0], a.payment_delay[1])
        system.start()
        system.wait_ready(a.ready_timeout)
        system.remember_tree()
        bench.issue_tokens(binary, env)
        date = bench.checkup_date()
        # One booking to read back during the run (it may take a few tries:
        # a charge held over 610 ms times out).
        oid = None
        for _ in range(20):
            st, body = post_json(ports["gateway"], "/orders", booking_body(date))
            if st == 201:
                oid = json.loads(body)["id"]
                break
        if oid is None:
            raise BenchError("no booking succeeded before the run (last answer %s)" % st)
        cpu0 = bench.cpu_snapshot(system.proc.pid)
        cpu0.update(harness_cpu(proxy))
        pay0 = route_latency(ports["payment"], "payment", "POST")
        run = Run(ports, date, oid, a.clients, a.duration, a.timeout, a.delay, a.keep_alive,
                  a.honour_retry_after)
        log("%d clients for %d s through the gateway on %d", a.clients, a.duration,
            ports["gateway"])
        siege_cmd = None
        if a.siege:
            rc_path = os.path.join(data_dir, "siegerc")
            with open(rc_path, "w") as f:
                f.write(SIEGERC % ("%g" % a.delay))
            siege_cmd = siege_command(rc_path, a.clients, a.duration, ports["gateway"],
                                      booking_body(date))
            orders0 = route_statuses(ports["order"], "order", "POST", "/orders")
        probe_dir = a.fsync_probe_in or (tempfile.gettempdir() if fs_type(data_dir) == "tmpfs"
                                         else data_dir)
        disk = DiskProbe(probe_dir)
        disk.start()
        asyncio.run(run.go(siege_cmd))
        disk.stop()
        cpu1 = bench.cpu_snapshot(system.proc.pid)
        cpu1.update(harness_cpu(proxy))
        pay1 = route_latency(ports["payment"], "payment", "POST")
        load_after = loadavg()
        elapsed = run.t_end - run.t0
        statuses = {}
        for st, _ in run.posts:
            key = str(st) if st is not None else "socket_error"
            statuses[key] = statuses.get(key, 0) + 1
        log("done: %d requests in %.1f s, statuses %s", len(run.posts), elapsed, statuses)
        if system.proc.poll() is not None:
            problems.append("healthcenter up exited with code %s during the run"
                            % system.proc.returncode)
            log("healthcenter up exited with code %s during the run; its last lines:\n%s",
                system.proc.returncode, system.tail(60))
            code = 1
        try:
            end = order_metrics(ports["order"])
        except (OSError, BenchError) as e:
            problems.append("order /metrics unreadable after the run: %s" % e)
            end, code = {}, 1
        if a.siege:
            if run.siege_hung:
                # its summary never came: the same figures from its lines
                result = siege_figures(run.posts, float(a.duration))
                result["siege_hung"] = ("siege did not exit after its %d s; killed after %d s, "
                                        "figures computed from the %d answers it printed"
                                        % (a.duration, a.duration + SIEGE_GRACE_S,
                                           len(run.posts)))
                log("%s", result["siege_hung"])
            elif run.siege_rc != 0:
                raise BenchError("siege exited with %s: %s" % (
                    run.siege_rc, run.siege_err.decode("utf-8", "replace")[-800:]))
            else:
                result = {k: v for k, v in parse_siege(run.siege_err).items()
                          if k in ORIGINAL or k in ("data_transferred", "throughput")}
            orders1 = route_statuses(ports["order"], "order", "POST", "/orders")
            result["order_statuses"] = {k: n - orders0.get(k, 0) for k, n in orders1.items()
                                        if n - orders0.get(k, 0)}
            result["load"] = "siege " + " ".join(siege_cmd[1:-1]) + " 'URL POST {json}'"
        else:
            result = siege_figures(run.posts, elapsed)
            result["load"] = "bench/breaker.py clients"
        result.update({
            "accepted": ms_stats([t for st, t in run.posts if st == 201]),
            "rejected": ms_stats([t for st, t in run.posts if st == 503]),
            "statuses": statuses,
            "per_5s": per_interval(run, 5.0),
            "get_order": dict(ms_stats([t for st, t in run.gets if st == 200]),
                              errors=sum(1 for st, _ in run.gets if st != 200)),
            "order_ready_probe": dict(ms_stats([t for st, t in run.probes if st == 200]),
                                      errors=sum(1 for st, _ in run.probes if st != 200)),
            "breaker": {"states_seen": run.states, "timeline": run.timeline, "state_at_end": end.get("state"),
                        "not_permitted_total": end.get("not_permitted_total"),
                        "failure_rate_at_end": end.get("failure_rate")},
            "bulkhead": {"max_allowed": end.get("bulkhead_max_allowed"),
                         "rejected_total": end.get("bulkhead_rejected_total")},
            "payment_charge_latency": latency_delta(pay0, pay1),
            "data_fsync": dict(disk.summary(), filesystem=fs_type(probe_dir),
                               where="data directory" if probe_dir == data_dir else probe_dir),
            "original": ORIGINAL,
            "scenario": {"clients": a.clients, "duration_s": a.duration,
                         "payment_delay_ms": list(a.payment_delay), "through": "gateway",
                         "client_delay_s": a.delay, "keep_alive": a.keep_alive,
                         "honour_retry_after": a.honour_retry_after,
                         "data_in": fs_type(data_dir), "real_siege": a.siege,
                         "env": {k: v for k, v in env.items() if k in extra or k in KEEP_ENV}},
            "cpu_s": {k: round(v - cpu0.get(k, 0.0), 2) for k, v in cpu1.items()},
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "machine": bench.machine_info(),
        })
        others = {k: n for k, n in statuses.items() if k not in ("201", "503")}
        if others:
            problems.append("answers other than 201 and 503: %s" % others)
            code = 1
        if not statuses.get("201"):
            problems.append("no booking was accepted")
            code = 1
        if result["get_order"]["errors"] or result["order_ready_probe"]["errors"]:
            problems.append("reads failed during the run: GET /orders/{id} %d, /health/ready %d"
                            % (result["get_order"]["errors"],
                               result["order_ready_probe"]["errors"]))
            code = 1
    except BenchError as e:
        log("FAILED: %s", e)
        code = 1
    except KeyboardInterrupt:
        log("interrupted")
        code = 130
    finally:
        if system.proc is not None:
            problems.extend(system.stop())
        if proxy is not None:
            counts = stop_proxy(proxy)
            if result is not None:
                result["payment_proxy"] = counts
        if a.keep_data:
            log("data kept in %s", data_dir)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    if result is not None:
        result["problems"] = problems
        result["ok"] = code == 0
        sys.stdout.write(json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    return code


def post_json(port, path, body):
    """POST body to 127.0.0.1:port/path -> (status, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer " + bench.TOKENS["customer"]})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
