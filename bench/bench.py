#!/usr/bin/python3
"""bench.py: the benchmark of the whole health-checkup system (`make bench`).

It starts `healthcenter up` (nginx gateway + the four services) on free ports
with a fresh data directory, drives bookings (POST /orders) through the gateway
with wrk and bench/book.lua, waits until the asynchronous side (events, mypage)
has caught up, and prints ONE JSON line on stdout with every number. Progress
goes to stderr. See docs/benchmark.md for what each number means.

`--rate N` drives it with an open loop instead: hc-loadgen (bench/loadgen.c)
sends N bookings per second whatever the answers do, and measures each
latency from the request's scheduled time. cpu_ms_per_booking is the CPU of
every process of the system over the measured run, per booking; `--check
BASELINE` fails the run when its total is more than 25 % above the baseline's
(`make bench-check`), `--record-baseline FILE` records one.

`--stack distributed` runs the same load on PostgreSQL and Apache Kafka: a
PostgreSQL 15 (scripts/postgres.sh) and a single-node broker (scripts/kafka.sh)
started on free ports under the temporary data directory, stopped at the end
(the broker also by the script's watchdog if this process dies).

Standard library only. Nothing here sleeps for a fixed time: every wait polls
a condition with a deadline. Only processes this script started (and their
children) are ever signalled.
"""

import argparse
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SERVICES = ("order", "reservation", "payment", "notification")
RESERVED_PORTS = set(range(8080, 8085))  # the developers' ports; never taken
HERE = os.path.dirname(os.path.abspath(__file__))
BOOK_LUA = os.path.join(HERE, "book.lua")
READY_RE = re.compile(r"all services ready in (\d+) ms")
GAUGES = ("hc_outbox_backlog", "hc_consumer_lag")
# Inherited HC_* variables that only tune the system are kept (and reported);
# every other HC_* variable is dropped so the benchmark runs on its own settings.
TUNING_ENV = ("HC_HTTP_MAX_CONNECTIONS", "HC_DB_SYNC", "HC_NGINX", "HC_READY_TIMEOUT_MS",
              "HC_PAYMENT_TIMEOUT_MS", "HC_PENDING_RECOVERY_MS", "HC_MAX_BODY_BYTES",
              "HC_GATEWAY_TEMPLATE", "HC_RATE_LIMIT_RPS", "HC_RATE_LIMIT_BURST",
              "HC_RATE_LIMIT_CONNECTIONS", "HC_KAFKA_CONFIG")


class BenchError(Exception):
    """A failure that ends the benchmark with a message and exit code 1."""


def log(msg, *args):
    sys.stderr.write("bench: " + (msg % args if args else msg) + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- helpers


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (bind port 0), never 8080-8084."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in RESERVED_PORTS and port not in ports:
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def checkup_date():
    """tomorrow + 7 days in Asia/Seoul (no DST there: UTC+9 is the fallback)."""
    try:
        from zoneinfo import ZoneInfo
        tz = ZoneInfo("Asia/Seoul")
    except Exception:  # noqa: BLE001 - no tz database: Seoul is UTC+9 all year
        tz = datetime.timezone(datetime.timedelta(hours=9))
    return (datetime.datetime.now(tz).date() + datetime.timedelta(days=8)).isoformat()


# Bearer tokens (docs/security.md), issued with `healthcenter token` once the
# system is up: the customer the bookings are for, and a service token for the
# lists and metrics this script reads.
TOKENS = {"customer": "", "service": ""}


def issue_tokens(binary, env):
    for who, args in (("customer", ["--phone", "010-1234-5678"]),
                      ("service", ["--service", "bench"])):
        p = subprocess.run([binary, "token"] + args, env=env, capture_output=True, text=True,
                           timeout=30)
        if p.returncode != 0:
            raise BenchError("healthcenter token %s failed: %s" % (" ".join(args), p.stderr))
        TOKENS[who] = p.stdout.strip()


def http_get(port, path, timeout=10.0):
    """GET http://127.0.0.1:port/path -> (status, body bytes), as the service."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": "application/json",
                                           "Authorization": "Bearer " + TOKENS["service"]})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def get_json(port, path, timeout=10.0):
    status, body = http_get(port, path, timeout)
    if status != 200:
        raise BenchError("GET %s on port %d answered %d: %s"
                         % (path, port, status, body[:300].decode("utf-8", "replace")))
    return json.loads(body)


def parse_time(s):
    """RFC 3339 (e.g. 2026-11-25T09:00:00.123Z) -> epoch seconds (float)."""
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(s).timestamp()


def percentile(values, p):
    """Nearest-rank percentile of a list (None when empty)."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))  # ceil(p/100*n) - 1
    return v[k]


def r1(x, nd=1):
    return None if x is None else round(x, nd)


def pctl_obj(values, nd=1):
    return {"p50": r1(percentile(values, 50), nd), "p99": r1(percentile(values, 99), nd),
            "max": r1(max(values), nd) if values else None, "n": len(values)}


# --------------------------------------------------------------------------- /proc


def proc_stat(pid):
    """(ppid, starttime, utime+stime ticks) of pid, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()  # fields from 3 (state) on
    return int(rest[1]), int(rest[19]), int(rest[11]) + int(rest[12])


def descendants(root):
    """{pid: starttime} of every living descendant of root (via /proc/*/stat ppid)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st:
            children.setdefault(st[0], []).append((int(name), st[1]))
    found, todo = {}, [root]
    while todo:
        p = todo.pop()
        for pid, start in children.get(p, ()):
            if pid not in found:
                found[pid] = start
                todo.append(pid)
    return found


def alive(pid, start):
    st = proc_stat(pid)
    return st is not None and st[1] == start


def proc_name(pid, sup_pid):
    if pid == sup_pid:
        return "supervisor"
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return "pid%d" % pid
    joined = " ".join(argv)
    if joined.startswith("nginx: master"):
        return "nginx_master"
    if joined.startswith("nginx: worker"):
        return "nginx_worker"
    if len(argv) > 1 and argv[1] in SERVICES:
        return argv[1]
    if argv and os.path.basename(argv[0]) == "nginx":
        return "nginx"
    return "%s_%d" % (os.path.basename(argv[0]) if argv else "pid", pid)


def proc_mem_kb(pid):
    """(VmRSS, VmHWM) in kB, or None."""
    rss = hwm = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        return None
    return rss, hwm


def named_processes(sup_pid):
    """[(name, pid)] for the supervisor and all its descendants; nginx workers numbered."""
    pids = [sup_pid] + sorted(descendants(sup_pid))
    out, nworker = [], 0
    for pid in pids:
        name = proc_name(pid, sup_pid)
        if name == "nginx_worker":
            nworker += 1
            name = "nginx_worker_%d" % nworker
        out.append((name, pid))
    return out


def memory_snapshot(sup_pid):
    """{name: {"rss": MB, "hwm": MB}} plus "total"."""
    mem, tot_rss, tot_hwm = {}, 0, 0
    for name, pid in named_processes(sup_pid):
        m = proc_mem_kb(pid)
        if m is None or m[0] is None:
            continue
        rss, hwm = m[0], m[1] if m[1] is not None else m[0]
        mem[name] = {"rss": round(rss / 1024.0, 1), "hwm": round(hwm / 1024.0, 1)}
        tot_rss += rss
        tot_hwm += hwm
    mem["total"] = {"rss": round(tot_rss / 1024.0, 1), "hwm": round(tot_hwm / 1024.0, 1)}
    return mem


def cpu_snapshot(sup_pid, procs=None):
    """{name: cpu seconds (user+system, every thread) used so far}. procs: the
    [(name, pid)] of named_processes, when the caller listed them beforehand
    (reading only their /proc/PID/stat is quick enough to bracket a run)."""
    hz = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in (procs if procs is not None else named_processes(sup_pid)):
        st = proc_stat(pid)
        if st:
            out[name] = st[2] / float(hz)
    return out


def write_snapshot(procs):
    """{name: bytes written to storage so far} (write_bytes of /proc/PID/io: the
    bytes the process sent towards the disk, its WAL frames and checkpoints
    included) of the [(name, pid)] procs; a process whose io cannot be read is
    left out."""
    out = {}
    for name, pid in procs:
        try:
            with open("/proc/%d/io" % pid) as f:
                for line in f:
                    if line.startswith("write_bytes:"):
                        out[name] = int(line.split()[1])
        except OSError:
            pass
    return out


def per_booking(before, after, bookings, scale):
    """{name: (after - before) * scale / bookings, "total": their sum}, between two
    snapshots ({name: counter}); None when there were no bookings. A process
    missing from either snapshot (restarted, or gone) is left out."""
    if not bookings:
        return None
    out, total = {}, 0.0
    for name in after:
        if name in before:
            v = (after[name] - before[name]) * scale
            out[name] = round(v / bookings, 3)
            total += v
    out["total"] = round(total / bookings, 3)
    return out


def cpu_ms_per_booking(cpu0, cpu1, bookings):
    """{name: CPU ms per booking between two cpu_snapshot()s, "total": their sum};
    None when there were no bookings. A process missing from either snapshot
    (restarted, or gone) is left out, and so is its CPU."""
    return per_booking(cpu0, cpu1, bookings, 1000.0)


def pss_kb(pid):
    """Proportional set size in kB (shared pages divided among their users), or None."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def pss_snapshot(sup_pid):
    """{name: PSS in MB} of every process of the system, plus "total"."""
    out, tot = {}, 0
    for name, pid in named_processes(sup_pid):
        kb = pss_kb(pid)
        if kb is None:
            continue
        out[name] = round(kb / 1024.0, 1)
        tot += kb
    out["total"] = round(tot / 1024.0, 1)
    return out


# --------------------------------------------------------------------------- the servers


class Servers:
    """PostgreSQL and a Kafka broker for --stack distributed, each on free
    ports with its state under data_dir, started by the repository's scripts."""

    def __init__(self, data_dir):
        root = os.path.dirname(HERE)
        self.pg_script = os.path.join(root, "scripts", "postgres.sh")
        self.kafka_script = os.path.join(root, "scripts", "kafka.sh")
        self.pg_dir = os.path.join(data_dir, "postgres")
        pg_port, kafka_port, controller = free_ports(3)
        self.pg_env = dict(os.environ, HC_PG_PORT=str(pg_port), HC_PG_DATABASES="healthcenter")
        self.kafka_dir = os.path.join(data_dir, "kafka")
        self.kafka_env = dict(os.environ, KAFKA_PORT=str(kafka_port),
                              KAFKA_CONTROLLER_PORT=str(controller), KAFKA_DIR=self.kafka_dir,
                              KAFKA_WATCH_PID=str(os.getpid()), KAFKA_READY_TIMEOUT="120")
        self.db_url = "postgresql://postgres@127.0.0.1:%d/healthcenter" % pg_port
        self.brokers = "127.0.0.1:%d" % kafka_port
        self.pg_started = self.kafka_started = False
        self.start_s = {}

    def _run(self, argv, env, what, timeout):
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
        if p.returncode != 0:
            raise BenchError("%s failed (%d): %s %s" % (what, p.returncode, p.stdout[-500:],
                                                        p.stderr[-1500:]))

    def start(self):
        t0 = time.monotonic()
        self.pg_started = True
        self._run([self.pg_script, "start", self.pg_dir], self.pg_env, "postgres.sh start", 180)
        t1 = time.monotonic()
        self.kafka_started = True
        self._run([self.kafka_script, "start"], self.kafka_env, "kafka.sh start", 600)
        t2 = time.monotonic()
        self.start_s = {"postgres": round(t1 - t0, 2), "kafka": round(t2 - t1, 2)}
        log("postgres %s ready in %.1f s, kafka %s in %.1f s", self.db_url, t1 - t0,
            self.brokers, t2 - t1)

    def env(self):
        return {"HC_DB": "postgres", "HC_DB_URL": self.db_url, "HC_BUS": "kafka",
                "HC_KAFKA_BROKERS": self.brokers}

    def memory(self):
        """{"kafka": {...}, "postgres": {...}}: the broker's JVM and every
        PostgreSQL process (postmaster and its backends), RSS and PSS in MB.
        PostgreSQL's processes share shared_buffers, so their RSS sum counts
        those pages once per process; PSS counts each page once."""
        out = {}
        try:
            with open(os.path.join(self.kafka_dir, "broker.pid")) as f:
                kpid = int(f.read().strip())
            m = proc_mem_kb(kpid)
            if m:
                out["kafka"] = {"rss": round(m[0] / 1024.0, 1), "hwm": round(m[1] / 1024.0, 1),
                                "pss": round((pss_kb(kpid) or 0) / 1024.0, 1)}
        except (OSError, ValueError):
            pass
        try:
            with open(os.path.join(self.pg_dir, "postmaster.pid")) as f:
                ppid = int(f.readline().strip())
            pids = [ppid] + sorted(descendants(ppid))
            rss = sum((proc_mem_kb(p) or (0, 0))[0] or 0 for p in pids)
            pss = sum(pss_kb(p) or 0 for p in pids)
            out["postgres"] = {"processes": len(pids), "rss": round(rss / 1024.0, 1),
                               "pss": round(pss / 1024.0, 1)}
        except (OSError, ValueError):
            pass
        return out

    def stop(self):
        """Stops what start() started; returns the problems met."""
        problems = []
        if self.kafka_started:
            try:
                self._run([self.kafka_script, "stop"], self.kafka_env, "kafka.sh stop", 90)
            except (BenchError, subprocess.TimeoutExpired) as e:
                problems.append(str(e))
        if self.pg_started:
            try:
                self._run([self.pg_script, "stop", self.pg_dir], self.pg_env, "postgres.sh stop", 90)
            except (BenchError, subprocess.TimeoutExpired) as e:
                problems.append(str(e))
        return problems


# --------------------------------------------------------------------------- the system


class System:
    """`healthcenter up` as a child process, its output collected by two threads."""

    def __init__(self, binary, env, ports):
        self.binary, self.env, self.ports = binary, env, ports
        self.proc = None
        self.t_spawn = None
        self.ready_reported_ms = None
        self.ready_line = threading.Event()
        self.lines = []  # (stream, text) of everything up printed, in order
        self.lock = threading.Lock()
        self.levels = {}  # "service/level" -> count of JSON log lines
        self.known = {}   # pid -> starttime of every process seen in the tree

    def start(self):
        self.t_spawn = time.monotonic()
        self.proc = subprocess.Popen([self.binary, "up"], env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            threading.Thread(target=self._read, args=(name, stream), daemon=True).start()

    def _read(self, name, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            m = READY_RE.search(line)
            with self.lock:
                self.lines.append((name, line))
                if len(self.lines) > 5000:
                    del self.lines[:1000]
                if m and self.ready_reported_ms is None:
                    self.ready_reported_ms = int(m.group(1))
                    self.ready_line.set()
                if line.startswith("{"):
                    try:
                        o = json.loads(line)
                        key = "%s/%s" % (o.get("service", "?"), o.get("level", "?"))
                        self.levels[key] = self.levels.get(key, 0) + 1
                        if o.get("level") in ("warn", "error") and self.levels[key] <= 3:
                            log("system log: %s", line[:400])
                    except ValueError:
                        pass
        stream.close()

    def tail(self, n=30):
        with self.lock:
            return "\n".join("  [%s] %s" % l for l in self.lines[-n:])

    def remember_tree(self):
        if self.proc and self.proc.poll() is None:
            self.known.update(descendants(self.proc.pid))

    def wait_ready(self, timeout):
        """Polls every service's /health/ready and the gateway's /gateway/health;
        returns ms from spawn to all answering 200 (measured here)."""
        probes = {svc: (self.ports[svc], "/health/ready") for svc in SERVICES}
        probes["gateway"] = (self.ports["gateway"], "/gateway/health")
        pending = set(probes)
        deadline = self.t_spawn + timeout
        last = {}
        while pending:
            if self.proc.poll() is not None:
                raise BenchError("`healthcenter up` exited with code %s during start-up:\n%s"
                                 % (self.proc.returncode, self.tail()))
            for name in sorted(pending):
                port, path = probes[name]
                try:
                    status, _ = http_get(port, path, timeout=1.0)
                    last[name] = status
                    if status == 200:
                        pending.discard(name)
                except OSError as e:
                    last[name] = repr(e)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise BenchError("the system was not ready after %.0f s (still waiting for %s; "
                                 "last answers %s):\n%s"
                                 % (timeout, ", ".join(sorted(pending)),
                                    {k: last.get(k) for k in pending}, self.tail()))
            time.sleep(0.005)  # poll interval
        return (time.monotonic() - self.t_spawn) * 1000.0

    def stop(self, timeout=30.0):
        """SIGINT to the supervisor, wait, then make sure no process of the tree remains.
        Returns a list of problems (empty when the stop was clean)."""
        problems = []
        if self.proc is None:
            return problems
        self.remember_tree()
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                problems.append("supervisor did not exit within %.0f s of SIGINT; killed" % timeout)
                self.proc.kill()
                self.proc.wait()
        if self.proc.returncode not in (0, None):
            problems.append("supervisor exited with code %s after SIGINT" % self.proc.returncode)
        # The children have PR_SET_PDEATHSIG; give them a moment, then kill leftovers.
        deadline = time.monotonic() + 10.0
        left = {}
        while True:
            left = {p: s for p, s in self.known.items() if p != self.proc.pid and alive(p, s)}
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if left:
            problems.append("processes left after the supervisor exited (killed): %s"
                            % sorted(left))
            for p, s in left.items():
                if alive(p, s):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        return problems


# --------------------------------------------------------------------------- load


def run_load(what, cmd, label, timeout, procs):
    """Runs the load generator cmd (its last argument the customer token, kept out
    of the log). Returns (stdout, monotonic start, wall-clock start, cpu0, cpu1, writes):
    with procs ([(name, pid)]), cpu0 and cpu1 are the cpu_snapshot()s of those
    processes right before it starts and right after it ends, and writes the
    write_snapshot()s (before, after) at the same moments, else None."""
    log("%s: %s", label, " ".join(cmd[:-1] + ["<customer token>"]))
    w0 = write_snapshot(procs) if procs is not None else None
    cpu0 = cpu_snapshot(None, procs) if procs is not None else None
    t0 = time.monotonic()
    wall0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    cpu1 = cpu_snapshot(None, procs) if procs is not None else None
    writes = (w0, write_snapshot(procs)) if procs is not None else None
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        raise BenchError("%s failed (exit %d): %s %s"
                         % (what, p.returncode, out[-2000:],
                            p.stderr.decode("utf-8", "replace")[-2000:]))
    return out, t0, wall0, cpu0, cpu1, writes


def run_wrk(gw_port, date, concurrency, duration, timeout_s, label, procs=None):
    """Runs wrk; with procs ([(name, pid)]), res["cpu0"] and res["cpu1"] are the
    cpu_snapshot()s of those processes right before wrk starts and right after it ends."""
    threads = max(1, min(2, concurrency))
    cmd = ["wrk", "-t%d" % threads, "-c%d" % concurrency, "-d%ds" % duration, "--latency",
           "--timeout", "%ds" % timeout_s, "-s", BOOK_LUA, "http://127.0.0.1:%d" % gw_port,
           "--", date, TOKENS["customer"]]
    out, t0, wall0, cpu0, cpu1, writes = run_load("wrk", cmd, label, duration + timeout_s + 60,
                                                  procs)
    res = None
    for line in out.splitlines():
        if line.startswith("HCBENCH "):
            res = json.loads(line[len("HCBENCH "):])
    text = parse_wrk_text(out)
    if res is None:  # book.lua's done() did not run: fall back to wrk's report
        res = {"requests": text.get("requests", 0), "statuses": {}, "non201": None,
               "socket_errors": text.get("socket_errors", {}), "samples": [],
               "duration_us": text.get("duration_s", duration) * 1e6,
               "latency_us": {"p50": text.get("p50_us"), "p99": text.get("p99_us")}}
    res["t0"], res["wall0"], res["t1"] = t0, wall0, time.monotonic()
    res["cpu0"], res["cpu1"], res["writes"] = cpu0, cpu1, writes
    res["text"] = text
    res["report"] = out
    return res


def run_loadgen(loadgen, gw_port, date, rate, connections, duration, timeout_s, label,
                procs=None):
    """Runs hc-loadgen (bench/loadgen.c): open-loop arrivals at `rate` per second.
    Returns the same shape as run_wrk (latency in us, measured from each request's
    scheduled time), plus res["loadgen"], hc-loadgen's own JSON line."""
    cmd = [loadgen, "--port", str(gw_port), "--rate", "%g" % rate, "--duration", str(duration),
           "--connections", str(connections), "--timeout", str(timeout_s), "--date", date,
           "--token", TOKENS["customer"]]
    out, t0, wall0, cpu0, cpu1, writes = run_load("hc-loadgen", cmd, label,
                                                  duration + timeout_s + 60, procs)
    try:
        lg = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError("hc-loadgen printed no JSON line: %r" % out[-2000:])
    lat = {k: (v * 1000.0 if v is not None else None)
           for k, v in (lg.get("latency_ms") or {}).items() if k != "n"}
    res = {"requests": lg["requests"], "statuses": lg["statuses"], "non201": lg["non201"],
           "socket_errors": lg["socket_errors"], "samples": lg.get("samples") or [],
           "duration_us": float(lg.get("elapsed_s") or duration) * 1e6, "latency_us": lat,
           "loadgen": lg, "t0": t0, "wall0": wall0, "t1": time.monotonic(), "cpu0": cpu0,
           "cpu1": cpu1, "writes": writes, "text": {}, "report": out}
    return res


UNIT_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def parse_wrk_text(out):
    """wrk's own report: latency distribution (50%, 99%), request count, socket errors."""
    r = {}
    for pct, key in (("50", "p50_us"), ("99", "p99_us")):
        m = re.search(r"^\s*%s(?:\.000)?%%\s+([\d.]+)(us|ms|s|m|h)\s*$" % pct, out, re.M)
        if m:
            r[key] = float(m.group(1)) * UNIT_US[m.group(2)]
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", out)
    if m:
        r["requests"] = int(m.group(1))
        r["duration_s"] = float(m.group(2)) * UNIT_US[m.group(3)] / 1e6
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                      map(int, m.groups())))
    return r


# --------------------------------------------------------------------------- async side


def gauges(port):
    """{gauge: summed value} of hc_outbox_backlog and hc_consumer_lag on a service."""
    status, body = http_get(port, "/metrics", timeout=5.0)
    if status != 200:
        raise BenchError("GET /metrics on port %d answered %d" % (port, status))
    vals = {}
    for line in body.decode("utf-8", "replace").splitlines():
        m = re.match(r"^(hc_outbox_backlog|hc_consumer_lag)(\{[^}]*\})?\s+(\S+)", line)
        if m:
            vals[m.group(1)] = vals.get(m.group(1), 0) + float(m.group(3))
    return vals


def total_elements(port, path):
    return int(get_json(port, path, timeout=10.0)["page"]["totalElements"])


def fetch_all(port, path, collection, size=1000):
    """Every element of a Spring-Data-REST-paged collection."""
    items, page = [], 0
    sep = "&" if "?" in path else "?"
    while True:
        doc = get_json(port, "%s%spage=%d&size=%d" % (path, sep, page, size), timeout=60.0)
        chunk = (doc.get("_embedded") or {}).get(collection) or []
        items.extend(chunk)
        info = doc.get("page") or {}
        page += 1
        if not chunk or page >= int(info.get("totalPages", page)):
            break
    return items


class AsyncState:
    def __init__(self, ports):
        self.ports = ports
        self.orders_path = "/orders"
        self.missing_gauges = set()

    def orders_total(self):
        try:
            return total_elements(self.ports["order"], self.orders_path + "?size=1")
        except BenchError:
            if self.orders_path == "/orders":  # a service that insists on a phone filter
                self.orders_path = "/orders?phone=01012345678"
                return total_elements(self.ports["order"], self.orders_path + "&size=1")
            raise

    def cheap_check(self):
        """(done?, detail): gauges 0 everywhere and as many mypages as orders."""
        backlog = {}
        for svc in SERVICES:
            g = gauges(self.ports[svc])
            for name in GAUGES:
                if name not in g:
                    self.missing_gauges.add("%s:%s" % (svc, name))
                elif g[name]:
                    backlog["%s:%s" % (svc, name)] = g[name]
        orders = self.orders_total()
        mypages = total_elements(self.ports["notification"], "/mypages?size=1")
        detail = {"orders": orders, "mypages": mypages, "backlog": backlog}
        return (not backlog and orders == mypages), detail

    def fetch(self):
        orders = fetch_all(self.ports["order"], self.orders_path, "orders")
        mypages = fetch_all(self.ports["notification"], "/mypages", "mypages")
        return orders, mypages


UNFINISHED = ("PENDING", "PAID")


def wait_async_done(state, t0, timeout, label):
    """Polls until every order's mypage has left PENDING/PAID and no event is in flight.
    Returns (seconds from t0, orders, mypages) or raises BenchError on the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    delay = 0.02
    while True:
        try:
            ok, detail = state.cheap_check()
            last = detail
            if ok:
                t_done = time.monotonic()
                orders, mypages = state.fetch()
                unfinished = [m for m in mypages if m.get("status") in UNFINISHED]
                if len(mypages) >= len(orders) and not unfinished:
                    return t_done - t0, orders, mypages
                last = dict(detail, unfinished=len(unfinished), fetched_orders=len(orders),
                            fetched_mypages=len(mypages))
        except (OSError, ValueError, KeyError, http.client.HTTPException) as e:
            last = repr(e)
        if time.monotonic() > deadline:
            raise BenchError("%s: the asynchronous side did not finish within %.0f s (last: %s)"
                             % (label, timeout, last))
        time.sleep(delay)  # poll interval
        delay = min(delay * 1.5, 0.1)


def lags(orders, mypages, since_wall):
    """event->mypage lag and booking->REQUESTED lag (ms) for orders created at or
    after since_wall (epoch seconds), plus mypage status counts of those orders."""
    created = {}
    for o in orders:
        try:
            t = parse_time(o["createdAt"])
        except (KeyError, ValueError, TypeError):
            continue
        if t >= since_wall - 0.001:
            created[o.get("id")] = t
    ev_lag, req_lag, statuses, bad = [], [], {}, 0
    for m in mypages:
        oid = m.get("orderId", m.get("id"))
        if oid not in created:
            continue
        statuses[m.get("status")] = statuses.get(m.get("status"), 0) + 1
        hist = m.get("history") or []
        try:
            if hist:
                ev_lag.append((parse_time(m["updatedAt"]) - parse_time(hist[-1]["at"])) * 1000.0)
            for h in hist:
                if h.get("status") == "REQUESTED":
                    req_lag.append((parse_time(h["at"]) - created[oid]) * 1000.0)
                    break
        except (KeyError, ValueError, TypeError):
            bad += 1
    return ev_lag, req_lag, statuses, len(created), bad


# --------------------------------------------------------------------------- main


def machine_info():
    info = {"nproc": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["mem_total_mb"] = int(line.split()[1]) // 1024
    except OSError:
        pass
    info["kernel"] = os.uname().release
    return info


def git_commit():
    """HEAD of the repository bench.py is in, "-dirty" when tracked files changed
    (other than bench/baseline.json, which recording a baseline changes)."""
    root = os.path.dirname(HERE)
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no",
                                "--", ".", ":(exclude)bench/baseline.json"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (head + "-dirty" if dirty else head) or None


def run_params(result):
    return {k: result.get(k) for k in ("stack", "duration_s", "concurrency", "load_generator")}


def record_baseline(path, result):
    """Writes the baseline `make bench-check` compares with (bench/baseline.json).
    When FILE already holds runs of the same commit and run parameters, this run
    is added to them and the baseline is the run with the median total (one run
    on a shared machine can be 10 % off: record three)."""
    argv, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg in ("--record-baseline", "--bin"):
            skip = True
        elif not arg.startswith(("--record-baseline=", "--bin=")):
            argv.append(arg)
    this = {"cpu_ms_per_booking": result["cpu_ms_per_booking"],
            "write_kb_per_booking": result.get("write_kb_per_booking"),
            "bookings": result["bookings"],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    commit = git_commit()
    command = " ".join(["bench/bench.py"] + argv)
    params = dict(run_params(result), warmup_s=(result.get("warmup") or {}).get("duration_s", 0),
                  rate=(result.get("rate") or {}).get("target"))
    runs = []
    try:
        with open(path) as f:
            old = json.load(f)
        if (old.get("commit") == commit and old.get("run") == params
                and old.get("machine") == result["machine"]):
            runs = list(old.get("runs") or [])
    except (OSError, ValueError, AttributeError):
        pass
    runs.append(this)
    median = sorted(runs, key=lambda r: r["cpu_ms_per_booking"]["total"])[(len(runs) - 1) // 2]
    doc = {
        "about": "the CPU and the writes per booking `make bench-check` compares with "
                 "(docs/benchmark.md); it fails when cpu_ms_per_booking.total or "
                 "write_kb_per_booking.total is more than 25 % above these totals, those of "
                 "the run of `runs` with the median CPU",
        "cpu_ms_per_booking": median["cpu_ms_per_booking"],
        "write_kb_per_booking": median.get("write_kb_per_booking"),
        "bookings": median["bookings"],
        "date": median["date"],
        "commit": commit,
        "command": command,
        "run": params,
        "machine": result["machine"],
        "runs": runs,
    }
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(path + ".tmp", path)
    log("baseline written to %s: cpu_ms_per_booking.total %.3f ms, the median of %d run(s) "
        "(this one %.3f ms; commit %s)", path, doc["cpu_ms_per_booking"]["total"], len(runs),
        this["cpu_ms_per_booking"]["total"], commit)


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def most_grown(measured, base, fmt):
    """The three processes of measured ({name: per booking}, "total" aside) that
    grew most against base, formatted "name +delta" with fmt for the delta."""
    worst = sorted(((v - float(base.get(k, 0.0)), k) for k, v in measured.items()
                    if k != "total"), reverse=True)[:3]
    return ", ".join(("%s " + fmt) % (k, d) for d, k in worst)


def check_baseline(path, baseline, result, margin_pct):
    """(passed, message): this run's cpu_ms_per_booking.total against the baseline's."""
    base = float(baseline["cpu_ms_per_booking"]["total"])
    cpu = result.get("cpu_ms_per_booking")
    if not cpu:
        return False, "bench-check: FAILED: no bookings, so no CPU per booking to compare"
    got = float(cpu["total"])
    limit = base * (1.0 + margin_pct / 100.0)
    excess = (got / base - 1.0) * 100.0 if base > 0 else float("inf")
    head = ("cpu_ms_per_booking.total %.3f ms measured, baseline %.3f ms (%s, recorded %s at "
            "commit %s), %+.1f %%; the limit is +%g %% = %.3f ms"
            % (got, base, path, baseline.get("date"), baseline.get("commit"), excess, margin_pct,
               limit))
    la = (result.get("check_load") or {}).get("before")
    if la is not None:
        head += "; load average before the run %.1f on %s cores" % (la, result["machine"].get("nproc"))
    failed = []
    if got > limit:
        failed.append("CPU most grown: "
                      + most_grown(cpu, baseline["cpu_ms_per_booking"], "%+.3f ms"))
    # The bytes written per booking barely move from run to run: a change that
    # writes more pages per commit (a random key, a new index) shows at once.
    bw = (baseline.get("write_kb_per_booking") or {}).get("total")
    w = result.get("write_kb_per_booking") or {}
    if bw and w.get("total") is not None:
        wlimit = float(bw) * (1.0 + margin_pct / 100.0)
        head += ("; write_kb_per_booking.total %.1f kB measured, baseline %.1f kB, %+.1f %%; "
                 "the limit is %.1f kB" % (w["total"], bw, (w["total"] / bw - 1.0) * 100.0,
                                           wlimit))
        if w["total"] > wlimit:
            failed.append("writes most grown: "
                          + most_grown(w, baseline["write_kb_per_booking"], "%+.1f kB"))
    if failed:
        return False, "bench-check: FAILED: %s. %s" % (head, "; ".join(failed))
    return True, "bench-check: passed: " + head


def build_env(data_dir, ports):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HC_") or k in TUNING_ENV}
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
    })
    # wrk is one client with many connections: the gateway's per-client limits
    # are off unless the environment sets them (to measure what they cost).
    for name in ("HC_RATE_LIMIT_RPS", "HC_RATE_LIMIT_CONNECTIONS"):
        env.setdefault(name, "0")
    return env


def main():
    ap = argparse.ArgumentParser(description="Benchmark the health-checkup system (see docs/benchmark.md).")
    ap.add_argument("--bin", default="./build/healthcenter", help="the healthcenter binary")
    ap.add_argument("--concurrency", type=int, default=32,
                    help="wrk connections (default 32); with --rate, the most connections "
                         "hc-loadgen opens")
    ap.add_argument("--rate", type=float, default=None,
                    help="open loop: bookings arrive at N per second (hc-loadgen, for warm-up "
                         "and measured run) instead of wrk's closed loop")
    ap.add_argument("--loadgen", default=None,
                    help="the hc-loadgen binary (default: hc-loadgen beside --bin)")
    ap.add_argument("--duration", type=int, default=10, help="measured run, seconds (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up run before it, seconds (0: none)")
    ap.add_argument("--timeout", type=int, default=10, help="wrk per-request timeout, seconds; with --rate, how long hc-loadgen "
                         "waits for the answers still due when its schedule ends")
    ap.add_argument("--drain-timeout", type=float, default=120.0,
                    help="how long to wait for the asynchronous side, seconds")
    ap.add_argument("--ready-timeout", type=float, default=30.0,
                    help="how long to wait for the system to start, seconds")
    ap.add_argument("--stack", choices=("embedded", "distributed"), default="embedded",
                    help="embedded: SQLite files and the embedded log (default); distributed: "
                         "PostgreSQL and Kafka, started here on free ports")
    ap.add_argument("--keep-data", action="store_true",
                    help="keep the temporary HC_DATA_DIR (its path goes to stderr)")
    ap.add_argument("--check", metavar="BASELINE", default=None,
                    help="after the run, fail (exit 1) when cpu_ms_per_booking.total is more "
                         "than --check-margin %% above BASELINE's (make bench-check)")
    ap.add_argument("--check-margin", type=float, default=25.0,
                    help="the allowed excess over the baseline, percent (default 25)")
    ap.add_argument("--record-baseline", metavar="FILE", default=None,
                    help="write this run's cpu_ms_per_booking as the baseline FILE "
                         "(with date, commit, command and machine)")
    a = ap.parse_args()
    if a.concurrency < 1 or a.duration < 1 or a.warmup < 0:
        ap.error("--concurrency and --duration must be >= 1, --warmup >= 0")
    if a.rate is not None and not a.rate > 0:
        ap.error("--rate must be > 0")

    binary = os.path.abspath(a.bin)
    if not os.access(binary, os.X_OK):
        log("no executable at %s: build it first (make build)", binary)
        return 1
    loadgen = None
    if a.rate is not None:
        loadgen = os.path.abspath(a.loadgen or os.path.join(os.path.dirname(binary), "hc-loadgen"))
        if not os.access(loadgen, os.X_OK):
            log("no executable at %s: build it first (make build)", loadgen)
            return 1
    elif shutil.which("wrk") is None:
        log("wrk is not installed (apt-get install wrk)")
        return 1
    baseline = None
    if a.check:
        try:
            with open(a.check) as f:
                baseline = json.load(f)
            float(baseline["cpu_ms_per_booking"]["total"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            log("cannot read the baseline %s: %s", a.check, e)
            return 1

    def load(duration, label, procs=None):
        if a.rate is not None:
            return run_loadgen(loadgen, ports["gateway"], date, a.rate, a.concurrency, duration,
                               a.timeout, label, procs)
        return run_wrk(ports["gateway"], date, a.concurrency, duration, a.timeout, label, procs)

    load_before = load_average()
    ports = dict(zip(("gateway",) + SERVICES, free_ports(5)))
    data_dir = tempfile.mkdtemp(prefix="hc-bench-")
    env = build_env(data_dir, ports)
    date = checkup_date()
    servers = None
    if a.stack == "distributed":
        os.chmod(data_dir, 0o755)  # PostgreSQL runs as its own user below it
        servers = Servers(data_dir)
    system = System(binary, env, ports)
    problems = []
    result = None
    code = 0
    try:
        if servers is not None:
            servers.start()
            env.update(servers.env())
        log("starting %s up (data %s, ports %s)", binary, data_dir, ports)
        system.start()
        ready_ms = system.wait_ready(a.ready_timeout)
        system.ready_line.wait(timeout=5.0)  # the supervisor prints its line right after
        system.remember_tree()
        issue_tokens(binary, env)
        log("ready in %.0f ms (supervisor says %s ms); checkupDate %s",
            ready_ms, system.ready_reported_ms, date)
        cpu0 = cpu_snapshot(system.proc.pid)
        state = AsyncState(ports)

        warm = None
        if a.warmup > 0:
            warm = load(a.warmup, "warm-up")
            w_ok = int(warm["statuses"].get("201", 0))
            log("warm-up: %d x 201, statuses %s", w_ok, warm["statuses"])
            if warm.get("samples"):
                log("warm-up non-201 samples: %s", warm["samples"])
            wd, _, _ = wait_async_done(state, warm["t1"], a.drain_timeout, "warm-up")
            log("warm-up drained %.2f s after its load stopped", wd)

        # The CPU window: every process of the system (supervisor, services,
        # nginx master and workers), listed before the run, read right before
        # the load starts and right after it ends.
        procs = named_processes(system.proc.pid)
        run = load(a.duration, "measured run", procs)
        system.remember_tree()
        mem_after_load = memory_snapshot(system.proc.pid)  # right after the load: peak RSS
        pss_after_load = pss_snapshot(system.proc.pid)
        procs_after = named_processes(system.proc.pid)
        if sorted(procs_after) != sorted(procs):
            problems.append("the system's processes changed during the measured run: %s -> %s"
                            % (procs, procs_after))
        servers_mem = servers.memory() if servers is not None else None
        ok = int(run["statuses"].get("201", 0))
        sock = run.get("socket_errors") or {}
        non201 = run.get("non201")
        if non201 is None:
            non201 = int(run["requests"]) - ok
        errors = int(non201) + sum(int(v) for v in sock.values())
        log("measured run: %d requests, %d x 201, statuses %s, socket errors %s",
            run["requests"], ok, run["statuses"], sock)
        if run.get("samples"):
            log("non-201 samples: %s", run["samples"])
            problems.append("non-201 answers under load: %s" % run["samples"][:3])
        if any(sock.values()):
            problems.append("%s socket errors: %s" % ("wrk" if a.rate is None else "hc-loadgen",
                                                      sock))

        async_done_s, orders, mypages = None, [], []
        try:
            async_done_s, orders, mypages = wait_async_done(state, run["t0"], a.drain_timeout,
                                                            "measured run")
            log("async side done %.2f s after the load started", async_done_s)
        except BenchError as e:
            problems.append(str(e))
            log("%s", e)
            try:
                orders, mypages = state.fetch()
            except (BenchError, OSError, ValueError, http.client.HTTPException):
                pass
        if state.missing_gauges:
            problems.append("gauges missing on /metrics: %s" % sorted(state.missing_gauges))

        ev_lag, req_lag, statuses, n_measured, bad = lags(orders, mypages, run["wall0"])
        if bad:
            problems.append("%d mypages with unparsable times" % bad)
        not_requested = {s: n for s, n in statuses.items() if s not in ("REQUESTED", "CONFIRMED")}
        if not_requested:
            problems.append("mypage statuses other than REQUESTED after the run: %s" % not_requested)
        if n_measured != ok:
            # wrk stops counting at the deadline: requests still in flight then may
            # still create orders (at most one per connection).
            log("orders created during the measured run: %d (wrk counted %d x 201)", n_measured, ok)

        cpu1 = cpu_snapshot(system.proc.pid)
        mem_end = memory_snapshot(system.proc.pid)
        rss = {}
        for name, m in mem_after_load.items():
            hwm = max(m["hwm"], mem_end.get(name, {}).get("hwm", 0))
            rss[name] = {"rss": m["rss"], "hwm": hwm}
        wrk_s = float(run.get("duration_us") or a.duration * 1e6) / 1e6
        lat = run.get("latency_us") or {}
        result = {
            "stack": a.stack,
            "bookings": ok,
            "errors": errors,
            "bookings_per_s": r1(ok / wrk_s, 1) if wrk_s else None,
            "sustained_bookings_per_s": r1(ok / async_done_s, 1) if async_done_s else None,
            "async_done_s": r1(async_done_s, 3),
            "post_latency_ms": {k: r1(lat[k] / 1000.0, 2) if lat.get(k) is not None else None
                                for k in ("p50", "p90", "p99", "p999", "max", "mean")
                                if k in lat},
            "event_to_mypage_lag_ms": pctl_obj(ev_lag),
            "booking_to_requested_ms": pctl_obj(req_lag),
            "rss_mb": rss,
            "servers_rss_mb": servers_mem,
            "servers_start_s": servers.start_s if servers is not None else None,
            "cpu_s": {k: round(v - cpu0.get(k, 0.0), 2) for k, v in cpu1.items()},
            "cpu_ms_per_booking": cpu_ms_per_booking(run["cpu0"], run["cpu1"], ok),
            "write_kb_per_booking": (per_booking(run["writes"][0], run["writes"][1], ok,
                                                 1 / 1024.0) if run.get("writes") else None),
            "pss_mb": pss_after_load,
            "ready_ms": r1(ready_ms, 0),
            "ready_ms_reported": system.ready_reported_ms,
            "concurrency": a.concurrency,
            "load_generator": "wrk" if a.rate is None else "hc-loadgen",
            "rate": None if a.rate is None else {
                "target": a.rate, "achieved": run["loadgen"].get("achieved_rate"),
                "sent_per_s": run["loadgen"].get("send_rate"),
                "scheduled": run["loadgen"].get("scheduled"),
                "queued_at_end": run["loadgen"].get("queued_at_end"),
                "in_flight_at_end": run["loadgen"].get("in_flight_at_end"),
                "timeouts": (run["loadgen"].get("socket_errors") or {}).get("timeout"),
                "connections_opened": run["loadgen"].get("connections_opened")},
            "duration_s": a.duration,
            "wrk_duration_s": r1(wrk_s, 3),
            "requests": run["requests"],
            "statuses": run["statuses"],
            "socket_errors": sock,
            "orders_in_run": n_measured,
            "mypage_statuses": statuses,
            "orders_total": len(orders),
            "warmup": None if warm is None else {
                "duration_s": a.warmup, "bookings": int(warm["statuses"].get("201", 0)),
                "statuses": warm["statuses"]},
            "checkup_date": date,
            "tuning_env": {k: v for k, v in env.items() if k in TUNING_ENV},
            "machine": machine_info(),
        }
        # the latency the brief asks for, also cross-checked against wrk's text report
        text = run.get("text") or {}
        if lat.get("p50") is None and text.get("p50_us") is not None:
            result["post_latency_ms"]["p50"] = r1(text["p50_us"] / 1000.0, 2)
            result["post_latency_ms"]["p99"] = r1(text.get("p99_us", 0) / 1000.0, 2)
        if ok == 0:
            problems.append("every booking failed (statuses %s, socket errors %s)"
                            % (run["statuses"], sock))
            code = 1
        if async_done_s is None:
            code = 1
    except BenchError as e:
        log("FAILED: %s", e)
        code = 1
    except KeyboardInterrupt:
        log("interrupted")
        code = 130
    finally:
        if system.proc is not None:
            log("stopping the system (SIGINT to supervisor %d)", system.proc.pid)
            stop_problems = system.stop()
            for p in stop_problems:
                log("%s", p)
            problems.extend(stop_problems)
        if servers is not None:
            log("stopping kafka and postgres")
            problems.extend(servers.stop())
        run_dir = os.path.join(data_dir, "run")
        nginx_errors = 0
        try:
            with open(os.path.join(run_dir, "error.log"), errors="replace") as f:
                lines = [l for l in f if l.strip()]
                nginx_errors = len(lines)
                for l in lines[:3]:
                    log("nginx error.log: %s", l.rstrip()[:300])
        except OSError:
            pass
        if a.keep_data:
            log("data kept in %s", data_dir)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    if result is not None:
        result["log_lines"] = dict(sorted(system.levels.items()))
        result["nginx_error_log_lines"] = nginx_errors
        result["problems"] = problems
        if problems and code == 0:
            code = 1  # non-201 answers, socket errors, ...: the run is not a clean one
        result["ok"] = code == 0
        if a.keep_data:
            result["data_dir"] = data_dir
        check_msg = None
        if baseline is not None:
            result["check_load"] = {"before": load_before, "after": load_average()}
            passed, check_msg = check_baseline(a.check, baseline, result, a.check_margin)
            if code and passed:
                passed = False
                check_msg = ("bench-check: FAILED: the benchmark itself failed (see above); "
                             + check_msg[len("bench-check: passed: "):])
            want = dict(baseline.get("run") or {})
            want.pop("warmup_s", None)
            want.pop("rate", None)
            differs = {k: (v, result.get(k)) for k, v in want.items() if result.get(k) != v}
            for k in ("cpu", "nproc"):
                bm, rm = (baseline.get("machine") or {}).get(k), result["machine"].get(k)
                if bm != rm:
                    differs["machine " + k] = (bm, rm)
            result["check"] = {"baseline": float(baseline["cpu_ms_per_booking"]["total"]),
                               "load_average": result.pop("check_load"),
                               "measured": (result.get("cpu_ms_per_booking") or {}).get("total"),
                               "write_baseline": (baseline.get("write_kb_per_booking")
                                                  or {}).get("total"),
                               "write_measured": (result.get("write_kb_per_booking")
                                                  or {}).get("total"),
                               "margin_pct": a.check_margin, "passed": passed,
                               "run_differs": differs or None}
            if differs:
                check_msg += (" (note: this run differs from the baseline's in %s)"
                              % ", ".join("%s %s vs %s" % (k, v[1], v[0])
                                          for k, v in sorted(differs.items())))
        sys.stdout.write(json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n")
        sys.stdout.flush()
        if code:
            log("FAILED: %s", "; ".join(problems) or "see above")
        if check_msg is not None:
            sys.stderr.write(check_msg + "\n")
            sys.stderr.flush()
            if not result["check"]["passed"] and code == 0:
                code = 1
        if a.record_baseline:
            if code:
                log("no baseline written: the run failed")
            else:
                record_baseline(a.record_baseline, result)
    elif a.check:
        sys.stderr.write("bench-check: FAILED: the benchmark did not complete (see above)\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
