"""The supervisor (`healthcenter up`) as an operator meets it: it heals a
service that is killed (kill -9) or hangs (SIGSTOP) without anyone touching
it, gives up on a crash loop and says so, restarts every service in turn
under load without one failed request (`healthcenter restart`), stops with
the bookings in flight answered, keeps one owner per data directory, and
shows the whole system's health at the gateway. Times measured are printed
(run pytest with -s to see them)."""
import fcntl
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

import hc
from hc import booking, wait_until
from test_functional import day, fake_servers, forward  # noqa: F401
from test_one_history import check_bookings

pytestmark = pytest.mark.slow

SERVICES = ("order", "payment", "reservation", "notification")

# Small probe settings so that a hang is found within about a second.
FAST_PROBES = dict(HC_LIVENESS_PERIOD_MS="200", HC_LIVENESS_TIMEOUT_MS="300",
                   HC_LIVENESS_FAILURE_THRESHOLD="3", HC_RESTART_BACKOFF_MS="100")


def health(s):
    """The gateway's aggregated /actuator/health: (HTTP status, body)."""
    r = hc.request("GET", s.base("gateway") + "/actuator/health", timeout=10)
    assert r.json is not None, r
    return r.status, r.json


def pid_of(s, name):
    """The pid `up` reports for a component (0 when none runs)."""
    return health(s)[1]["components"][name]["details"]["pid"]


def book(s, **kw):
    """One booking through the gateway: the Response, or the exception."""
    try:
        return hc.request("POST", s.base("gateway") + "/orders", booking(**kw), timeout=30)
    except OSError as e:
        return e


def cli(s, *args, timeout=120):
    """Runs `healthcenter ARGS` with the system's environment."""
    return subprocess.run([s.bin] + list(args), env=dict(s.env), capture_output=True, text=True,
                          timeout=timeout, cwd=s.data_dir)


def up_log(s):
    with open(s.procs["up"].log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie until `up` reaps it counts as gone too.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# =========================================================================== self-healing


@pytest.mark.parametrize("name", ["order", "payment"])
def test_kill9_a_service_and_bookings_succeed_again_without_help(make_system, name):
    s = make_system(**FAST_PROBES)
    s.start_all()
    assert book(s).status == 201
    old = pid_of(s, name)
    t0 = time.monotonic()
    os.kill(old, signal.SIGKILL)

    def healed():
        r = book(s)
        return not isinstance(r, Exception) and r.status == 201
    wait_until(healed, timeout=20, what="a booking through the gateway after kill -9 of %s" % name)
    took = time.monotonic() - t0
    print("\n%s: kill -9 -> booking 201 again in %.0f ms" % (name, took * 1000))
    new = pid_of(s, name)
    assert new and new != old, (old, new)
    assert "%s (pid %d) exited unexpectedly" % (name, old) in up_log(s)
    # The issue asks for 2 s; a loaded CI machine gets a margin.
    assert took < 6, "healing took %.1f s" % took
    assert health(s)[1]["components"][name]["details"]["restarts"] == 1


def test_sigstop_a_service_and_it_is_replaced_within_the_probe_budget(make_system):
    s = make_system(**FAST_PROBES)
    s.start_all()
    old = pid_of(s, "payment")
    t0 = time.monotonic()
    os.kill(old, signal.SIGSTOP)
    try:
        def replaced():
            p = pid_of(s, "payment")
            return p if p and p != old else None
        new = wait_until(replaced, timeout=30, what="a new payment process after SIGSTOP")
        took = time.monotonic() - t0
    finally:
        if not gone(old):
            os.kill(old, signal.SIGCONT)
    # Budget: 3 probes 200 ms apart, each up to 300 ms, the kill, 100 ms back-off.
    print("\npayment: SIGSTOP -> replaced by pid %d in %.0f ms (probe budget ~1.5 s)"
          % (new, took * 1000))
    wait_until(lambda: gone(old), timeout=10, what="the stopped process to be killed")
    assert "payment (pid %d) failed 3 liveness probes in a row" % old in up_log(s)
    wait_until(lambda: health(s)[0] == 200, timeout=20, what="the system UP again")
    assert book(s).status == 201
    assert took < 10, "replacing a hung service took %.1f s" % took


def test_a_crash_loop_is_given_up_on_reported_and_restart_brings_it_back(make_system):
    s = make_system(HC_CRASH_LOOP_RESTARTS="2", HC_CRASH_LOOP_WINDOW_MS="60000",
                    HC_RESTART_BACKOFF_MS="100", HC_RESTART_BACKOFF_MAX_MS="5000")
    s.start_all()
    pids = []
    for i in range(3):
        old = pid_of(s, "notification")
        pids.append(old)
        os.kill(old, signal.SIGKILL)
        if i < 2:
            wait_until(lambda: pid_of(s, "notification") not in (0, old), timeout=20,
                       what="notification restarted (%d)" % (i + 1))
    # The third exit within the window: given up on, and said so.
    def given_up():
        st, body = health(s)
        n = body["components"]["notification"]
        return (st, n) if n["details"]["state"] == "crash-loop" else None
    st, n = wait_until(given_up, timeout=20, what="notification in crash-loop")
    assert st == 503 and n["status"] == "DOWN" and n["details"]["pid"] == 0, n
    assert "healthcenter restart notification" in n["details"]["reason"], n
    log = up_log(s)
    assert "healthcenter up: notification: crash loop" in log
    # Exponential back-off between the restarts: 100 ms, then 200 ms.
    delays = [int(m) for m in re.findall(r'"notification \(pid \d+\) exited unexpectedly after '
                                         r'\d+ ms: [^"]*restarting in (\d+) ms"', log)]
    assert delays == [100, 200], delays
    # Bookings go on: notification is not on the booking path.
    assert book(s).status == 201

    r = cli(s, "restart", "notification")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["service"] == "notification" and out["newPid"] not in pids, out
    wait_until(lambda: health(s)[0] == 200, timeout=20, what="the system UP again")


# =========================================================================== rolling restart


def test_restart_every_service_in_turn_under_load_fails_no_request(make_system):
    """A bounded load of bookings and reads through the gateway while every
    service, then the gateway, is restarted: every request gets its real
    answer (no 5xx, no connection error), and every invariant holds after."""
    s = make_system(HC_SHUTDOWN_GRACE_MS="10000", HC_LIVENESS_PERIOD_MS="500")
    s.start_all()
    stop = threading.Event()
    lock = threading.Lock()
    results = []  # (what, status or repr of the exception)
    oids = []

    def worker(k):
        i = 0
        while not stop.is_set() and i < 400:
            i += 1
            r = book(s, checkupDate=day(10 + (i % 20)))
            with lock:
                results.append(("POST /orders", r if isinstance(r, Exception) else r.status))
                if not isinstance(r, Exception) and r.status == 201:
                    oids.append(r.json["id"])
            if isinstance(r, Exception) or r.status != 201:
                continue
            oid = r.json["id"]
            for path in ("/orders/%d" % oid, "/mypages/%d" % oid, "/packages",
                         "/centers/1/slots?from=%s&to=%s" % (day(10), day(29)),
                         "/paymentHistories?orderId=%d" % oid):
                try:
                    st = hc.request("GET", s.base("gateway") + path, timeout=30).status
                except OSError as e:
                    st = e
                with lock:
                    results.append(("GET " + path.split("?")[0].rsplit("/", 1)[0], st))

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(oids) >= 10, timeout=30, what="load running")
    restarts = {}
    for name in SERVICES + ("gateway",):
        before = len(results)
        t0 = time.monotonic()
        r = cli(s, "restart", name)
        assert r.returncode == 0, (name, r.stdout, r.stderr)
        out = json.loads(r.stdout)
        restarts[name] = (out, time.monotonic() - t0)
        if name != "gateway":
            assert out["newPid"] != out["oldPid"] and not gone(out["newPid"]), out
            wait_until(lambda: gone(out["oldPid"]), timeout=30, what="old %s gone" % name)
        # Load ran across the switch.
        wait_until(lambda: len(results) >= before + 20, timeout=30,
                   what="requests served after restarting %s" % name)
    stop.set()
    for t in threads:
        t.join(60)
    for name, (out, took) in restarts.items():
        print("\n%s: %s in %.0f ms" % (name, out, took * 1000), end="")
    print("\n%d requests, %d bookings" % (len(results), len(oids)))

    failed = [(w, st) for w, st in results if isinstance(st, Exception) or st >= 500]
    assert not failed, "%d of %d requests failed: %s" % (len(failed), len(results), failed[:10])
    bad_bookings = [st for w, st in results if w == "POST /orders" and st != 201]
    assert not bad_bookings, bad_bookings
    # Reads answer 200, or 404 for a mypage not projected yet.
    assert all(st in (200, 404) for w, st in results if w.startswith("GET")), \
        [r for r in results if r[0].startswith("GET") and r[1] not in (200, 404)][:10]
    assert health(s)[0] == 200
    check_bookings(s, oids, settled=True)


def test_restart_cli_help_and_without_up(make_system):
    s = make_system()
    r = cli(s, "restart", "--help")
    assert r.returncode == 0 and "usage: healthcenter restart SERVICE" in r.stdout, r
    r = cli(s, "restart", "order")
    assert r.returncode == 1, r
    assert "no `healthcenter up` is running" in r.stderr, r.stderr
    r = cli(s, "restart", "nosuch")
    assert r.returncode == 2 and "unknown service" in r.stderr, r


# =========================================================================== graceful stop


def test_sigint_to_up_lets_the_bookings_in_flight_finish(make_system, fake_servers):
    """Bookings waiting on payment when `up` gets SIGINT all get their real
    answer (201 PAID): nginx stops taking requests and finishes its own, and
    only then do the services drain."""
    n = 4
    charging, release = threading.Semaphore(0), threading.Event()

    def handler(method, path, headers, body):
        if method == "POST" and path == "/paymentHistories":
            charging.release()
            while not (release.is_set() or fake.stopping.is_set()):
                release.wait(0.05)
        return forward(s.base("payment"), method, path, headers, body)

    fake = fake_servers(handler)
    s = make_system(HC_SHUTDOWN_GRACE_MS="20000")
    s.env["HC_PAYMENT_URL"] = fake.url
    s.start_all()
    answers = [None] * n

    def one(i):
        answers[i] = book(s, checkupDate=day(12))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for _ in range(n):
        assert charging.acquire(timeout=20), "a booking never reached payment"
    up = s.procs["up"]
    up.signal(signal.SIGINT)
    # The gateway stops taking connections; the services keep running.
    def gateway_closed():
        try:
            hc.request("GET", s.base("gateway") + "/packages", timeout=2)
            return False
        except OSError:
            return True
    wait_until(gateway_closed, timeout=20, what="the gateway to stop taking connections")
    assert s.live("order") and s.live("payment"), "a service stopped before nginx finished"
    release.set()
    for t in threads:
        t.join(60)
    for r in answers:
        assert not isinstance(r, Exception), answers
        assert r.status == 201 and r.json["status"] == "PAID", r
    assert up.wait(40) == 0, hc.tail(up.log_path, 30)
    log = up_log(s)
    assert log.index("nginx (pid") < log.index("order (pid"), "services stopped before nginx"


# =========================================================================== one owner


@pytest.mark.embedded_only  # the data-directory lock guards SQLite files; on PostgreSQL a second instance may serve
def test_a_second_owner_of_the_data_directory_is_refused_and_changes_nothing(make_system):
    s = make_system()
    s.start_all()
    up_pid = s.procs["up"].pid
    conf = os.path.join(s.run_dir, "nginx.conf")
    before = {p: os.stat(os.path.join(s.run_dir, p)).st_ino
              for p in ("nginx.conf", "up.sock")}
    with open(conf) as f:
        text = f.read()

    r = cli(s, "up", timeout=60)
    assert r.returncode == 1, r
    assert "data directory %s is in use by pid %d (healthcenter up)" % (s.data_dir, up_pid) \
        in r.stderr, r.stderr
    r = cli(s, "order", timeout=60)
    assert r.returncode == 1, r
    assert "data directory %s is in use by pid %d (healthcenter up)" % (s.data_dir, up_pid) \
        in r.stderr, r.stderr

    after = {p: os.stat(os.path.join(s.run_dir, p)).st_ino for p in before}
    assert after == before
    with open(conf) as f:
        assert f.read() == text
    assert health(s)[0] == 200
    assert book(s).status == 201


@pytest.mark.embedded_only  # the data-directory lock guards SQLite files; on PostgreSQL a second instance may serve
def test_a_lone_service_owns_its_files_too(make_system):
    s = make_system()
    s.start("payment")
    r = cli(s, "payment", timeout=60)
    assert r.returncode == 1, r
    assert "in use by pid %d (healthcenter payment)" % s.procs["payment"].pid in r.stderr, r.stderr
    assert s.ready("payment")


def _run_as_up_child(s, name, up_pid_env):
    """Runs service `name` as `up` would: as our child, with its data-directory
    lock held by us under the name "up", and HC_UP_PID set to up_pid_env (None:
    unset). Returns (SIGUSR1s received while it started, the Popen); the
    caller stops it."""
    got = []
    old = signal.signal(signal.SIGUSR1, lambda *_: got.append(1))
    lock = open(os.path.join(s.data_dir, "%s.lock" % name), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("%d up\n" % os.getpid())
        lock.flush()
        env = dict(s.env)
        env.pop("HC_UP_PID", None)
        if up_pid_env is not None:
            env["HC_UP_PID"] = up_pid_env
        log_path = os.path.join(s.log_dir, "%s.as-up-child.%s.log" % (name, up_pid_env))
        with open(log_path, "wb") as logf:
            p = subprocess.Popen([s.bin, name], env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                 stderr=subprocess.STDOUT, cwd=s.data_dir)
        try:
            # It logs this line right after it would have signalled.
            wait_until(lambda: p.poll() is not None or
                       b"ready: the port's new connections" in open(log_path, "rb").read(),
                       what="%s taking its port's connections" % name)
            assert p.poll() is None, hc.tail(log_path, 30)
            assert s.ready(name)
            return list(got), p
        except BaseException:
            p.kill()
            p.wait()
            raise
    finally:
        lock.close()
        signal.signal(signal.SIGUSR1, old)


def _stop(p):
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0


@pytest.mark.embedded_only  # the lock `up` holds guards SQLite files; on PostgreSQL it is not taken
def test_a_service_under_up_tells_up_once_it_is_ready(make_system):
    """`up` learns that a service is ready from the service itself (SIGUSR1 to
    HC_UP_PID, its parent, once it answers ready), so its start-up does not
    wait for the next readiness poll; anyone else named there gets nothing."""
    s = make_system()
    got, p = _run_as_up_child(s, "payment", str(os.getpid()))
    _stop(p)
    assert got == [1]
    for other in ("1", str(os.getpid() + 1000000), "x%d" % os.getpid(), None):
        got, p = _run_as_up_child(s, "payment", other)
        _stop(p)
        assert got == [], other


# =========================================================================== health


def test_gateway_health_aggregates_every_service(system):
    st, body = health(system)
    assert st == 200 and body["status"] == "UP", body
    comps = body["components"]
    assert set(comps) == set(SERVICES) | {"gateway"}, comps
    for name in SERVICES:
        c = comps[name]
        assert c["status"] == "UP" and c["details"]["state"] == "running", c
        assert c["details"]["port"] == system.ports[name], c
        assert c["components"]["readiness"]["status"] == "UP", c
        for path in ("/actuator/health/liveness", "/actuator/health/readiness",
                     "/health/live", "/health/ready"):
            r = hc.request("GET", system.base(name) + path)
            assert r.status == 200 and r.json["status"] == "UP", (name, path, r)
    for path in ("/actuator/health/liveness", "/actuator/health/readiness"):
        r = hc.request("GET", system.base("gateway") + path)
        assert r.status == 200 and r.json["status"] == "UP", (path, r)
    r = hc.request("POST", system.base("gateway") + "/actuator/health", {})
    assert r.status == 405 and r.json["error"] == "method_not_allowed", r
