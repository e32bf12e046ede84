"""hc: the end-to-end harness that runs the real `healthcenter` binary.

It picks free ports, gives every test a fresh data directory, starts the whole
system (`healthcenter up`, nginx included) or single services as separate
processes (so a test can kill -9, stop and restart one), talks HTTP with the
standard library only, and always stops every process it started.
Nothing here sleeps for a fixed time: every wait polls a condition with a deadline.
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from zoneinfo import ZoneInfo

SERVICES = ("order", "payment", "reservation", "notification")
ALL_PORTS = ("gateway",) + SERVICES
# Ports the developers use by hand; the suite never takes them.
RESERVED_PORTS = set(range(8080, 8085))

SEOUL = ZoneInfo("Asia/Seoul")
GOOD_CARD = "4111111111111111"
DECLINED_CARD = "4000000000000002"

DEFAULT_TIMEOUT = 15.0  # seconds, for waits on the system's asynchronous work

# --------------------------------------------------------------------------- tokens

# The token signing secret of every system the harness starts (HC_JWT_SECRET):
# tests mint their tokens here, with the standard library, which also checks
# the services' HS256 format independently of the C code.
JWT_SECRET = "e2e-jwt-secret-0123456789abcdef0123456789"
JWT_ISSUER = "healthcenter"


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint(role, sub, centers=(), ttl=3600, secret=JWT_SECRET, alg="HS256", **claims):
    """A signed HS256 JWT as the services issue it (hc_token): role one of
    customer / admin / superadmin / service, sub the phone (digits), username
    or service name, centers the admin's center ids. ttl may be negative
    (an expired token); extra claims override the standard ones."""
    now = int(time.time())
    body = {"iss": JWT_ISSUER, "sub": sub, "role": role, "centers": list(centers),
            "iat": now, "exp": now + ttl}
    body.update(claims)
    head = _b64url(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(body, separators=(",", ":")).encode())
    signing = ("%s.%s" % (head, payload)).encode()
    sig = hmac.new(secret.encode(), signing, hashlib.sha256).digest()
    return "%s.%s.%s" % (head, payload, _b64url(sig))


def phone_digits(phone):
    return re.sub(r"\D", "", phone)


def customer_token(phone="010-1234-5678", **kw):
    return mint("customer", phone_digits(phone), **kw)


def admin_token(centers=(1,), user="admin", **kw):
    return mint("admin", user, centers=centers, **kw)


def superadmin_token(**kw):
    return mint("superadmin", "root", **kw)


def service_token(name="order", **kw):
    return mint("service", name, **kw)


def bearer(token):
    """The Authorization header of token (None: send no Authorization)."""
    return {"Authorization": None if token is None else "Bearer " + token}


# Requests carry the super-admin's token unless they say otherwise (an
# "Authorization" header of their own, None for none): the suite predates
# accounts, and its tests are about everything but who calls. Tests of
# who-may-do-what act as someone else (Client.as_customer, ..., bearer()).
DEFAULT_TOKEN = superadmin_token(ttl=7 * 24 * 3600)

CORS_ORIGIN = "http://example.test"


def repo_root():
    """The repository root (two levels above this file)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def binary_path():
    """The healthcenter binary: $HC_BIN or <repo>/build/healthcenter."""
    return os.environ.get("HC_BIN") or os.path.join(repo_root(), "build", "healthcenter")


# --------------------------------------------------------------------------- waiting


class WaitTimeout(AssertionError):
    """Raised by wait_until when the condition did not hold before the deadline."""


def wait_until(fn, timeout=DEFAULT_TIMEOUT, what="condition", interval=0.02, max_interval=0.25):
    """Polls fn() until it returns a truthy value and returns that value.

    Exceptions raised by fn count as "not yet" (connection refused while a
    process starts, for example). After `timeout` seconds it raises WaitTimeout
    naming `what` and the last value or exception seen.
    """
    deadline = time.monotonic() + timeout
    last = None
    delay = interval
    while True:
        try:
            value = fn()
            if value:
                return value
            last = ("value", value)
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = ("exception", repr(e))
        if time.monotonic() >= deadline:
            raise WaitTimeout("timed out after %.1fs waiting for %s (last %s: %s)"
                              % (timeout, what, last[0], _short(last[1])))
        time.sleep(delay)  # poll interval, not a fixed wait for an outcome
        delay = min(delay * 1.5, max_interval)


def _short(v, n=600):
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + "..."


# --------------------------------------------------------------------------- ports


# Ports for the systems under test come from below the kernel's ephemeral range
# (32768-60999 by default): a port the kernel handed out for an outgoing
# connection (a service calling another, curl, nginx to an upstream) can never
# be one a test is about to listen on, which a port bound to 0 and closed again
# could be.
PORT_RANGE = (20000, 32767)
_port_rng = random.SystemRandom()


def free_ports(n):
    """Returns n distinct free TCP ports on 127.0.0.1, chosen at random in
    PORT_RANGE and checked by binding them.

    All sockets stay open until every port is chosen, so the n are distinct.
    """
    socks, ports = [], []
    try:
        while len(ports) < n:
            port = _port_rng.randint(*PORT_RANGE)
            if port in RESERVED_PORTS or port in ports:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
            ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


# --------------------------------------------------------------------------- dates and cards


def today_seoul():
    return datetime.datetime.now(SEOUL).date()


def checkup_date(n=7):
    """A valid checkupDate: tomorrow + n days in Asia/Seoul, as YYYY-MM-DD."""
    return (today_seoul() + datetime.timedelta(days=1 + n)).isoformat()


def luhn_check_digit(partial):
    """The Luhn check digit that completes the digit string `partial`."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:  # these get doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number):
    digits = re.sub(r"[\s-]", "", number)
    return digits.isdigit() and luhn_check_digit(digits[:-1]) == digits[-1]


def card_number(seq=0, prefix="5", length=16):
    """A Luhn-valid card number, distinct per seq, never the declining test card."""
    body = prefix + str(seq).zfill(length - 1 - len(prefix))
    return body + luhn_check_digit(body)


def traceparent():
    """A fresh W3C traceparent and its trace id."""
    trace_id = os.urandom(16).hex()
    return "00-%s-%s-01" % (trace_id, os.urandom(8).hex()), trace_id


def booking(**overrides):
    """A valid POST /orders body (basic package, center 1, card), with overrides.

    A key overridden with the value `...` (Ellipsis) is removed.
    """
    body = {
        "name": "홍길동",
        "phone": "010-1234-5678",
        "orderType": "basic",
        "checkupDate": checkup_date(7),
        "centerId": 1,
        "payMethod": "card",
        "cardNo": GOOD_CARD,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not Ellipsis}


# --------------------------------------------------------------------------- HTTP


class Response(tuple):
    """(status, headers, json_or_None); also .raw (bytes) and .text."""

    def __new__(cls, status, headers, data, raw):
        obj = tuple.__new__(cls, (status, headers, data))
        obj.raw = raw
        return obj

    @property
    def status(self):
        return self[0]

    @property
    def headers(self):
        return self[1]

    @property
    def json(self):
        return self[2]

    @property
    def text(self):
        return self.raw.decode("utf-8", "replace")

    def __repr__(self):
        return "Response(%d, %s)" % (self[0], _short(self.text, 400))


def request(method, url, body=None, raw=None, headers=None, timeout=10.0, content_type=None):
    """Sends one HTTP request and returns a Response.

    body: a value sent as JSON (UTF-8, Content-Type application/json unless
    content_type says otherwise); raw: bytes sent as they are (no Content-Type
    unless given in headers or content_type). Header names are case-insensitive
    in the returned headers (http.client.HTTPMessage).
    """
    u = urllib.parse.urlsplit(url)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    hdrs = dict(headers or {})
    if not any(k.lower() == "authorization" for k in hdrs):
        hdrs["Authorization"] = "Bearer " + DEFAULT_TOKEN
    hdrs = {k: v for k, v in hdrs.items() if v is not None}
    data = None
    if body is not None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        hdrs.setdefault("Content-Type", content_type or "application/json")
    elif raw is not None:
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        if content_type:
            hdrs.setdefault("Content-Type", content_type)
    hdrs.setdefault("Accept", "application/json")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        parsed = None
        if payload:
            try:
                parsed = json.loads(payload.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                parsed = None
        return Response(resp.status, resp.msg, parsed, payload)
    finally:
        conn.close()


class Client:
    """HTTP helpers bound to one base URL (a service or the gateway)."""

    def __init__(self, base, token=None, anonymous=False):
        self.base = base.rstrip("/")
        self.token = token  # None: the default (super-admin) unless anonymous
        self.anon = anonymous

    def url(self, path):
        return self.base + path

    def as_token(self, token):
        """The same service, acting with token (a JWT string)."""
        return Client(self.base, token=token)

    def as_customer(self, phone="010-1234-5678"):
        return self.as_token(customer_token(phone))

    def as_admin(self, centers=(1,), user="admin"):
        return self.as_token(admin_token(centers, user))

    def as_superadmin(self):
        return self.as_token(superadmin_token())

    def as_service(self, name="order"):
        return self.as_token(service_token(name))

    def anonymous(self):
        """The same service, without any token."""
        return Client(self.base, anonymous=True)

    def request(self, method, path, body=None, **kw):
        headers = dict(kw.pop("headers", None) or {})
        if not any(k.lower() == "authorization" for k in headers):
            if self.anon:
                headers["Authorization"] = None
            elif self.token:
                headers["Authorization"] = "Bearer " + self.token
        return request(method, self.url(path), body=body, headers=headers, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def options(self, path, **kw):
        return self.request("OPTIONS", path, **kw)

    def items(self, path, collection):
        """GETs a Spring Data REST page and returns its _embedded[collection] list.

        Fails the test when the answer is not a 200 page.
        """
        r = self.get(path)
        assert r.status == 200, "GET %s -> %r" % (path, r)
        assert isinstance(r.json, dict), "GET %s: not JSON: %r" % (path, r)
        return (r.json.get("_embedded") or {}).get(collection, [])


def page_total(resp):
    """page.totalElements of a collection answer."""
    return resp.json["page"]["totalElements"]


# --------------------------------------------------------------------------- logs


def read_json_lines(path):
    """The JSON objects among a log file's lines (other lines are skipped)."""
    out = []
    try:
        with open(path, "rb") as f:
            for line in f:
                line = line.strip()
                if not line.startswith(b"{"):
                    continue
                try:
                    obj = json.loads(line.decode("utf-8", "replace"))
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    out.append(obj)
    except FileNotFoundError:
        pass
    return out


def tail(path, n=60):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(lines[-n:])


TRACE_KEYS = ("traceId", "trace_id", "trace", "traceparent")
ORDER_KEYS = ("orderId", "order_id")
SERVICE_KEYS = ("service", "svc", "component")


def line_trace(obj):
    for k in TRACE_KEYS:
        if obj.get(k):
            return str(obj[k])
    return None


def line_order(obj):
    for k in ORDER_KEYS:
        if obj.get(k) is not None:
            return str(obj[k])
    return None


def line_service(obj):
    for k in SERVICE_KEYS:
        if obj.get(k):
            return str(obj[k])
    return None


# --------------------------------------------------------------------------- processes


def _pdeathsig():
    """In the child before exec: die with SIGKILL if the test runner dies."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort only
        pass


class _Spawner:
    """Starts every child process from one long-lived thread. The children
    ask the kernel to SIGKILL them when their parent dies (PR_SET_PDEATHSIG),
    and the kernel means the parent *thread*: a child started from a test's
    worker thread would be killed the moment that thread ends."""

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs = None

    def popen(self, *args, **kw):
        import queue
        with self._lock:
            if self._jobs is None:
                self._jobs = queue.Queue()
                threading.Thread(target=self._run, name="hc-spawner", daemon=True).start()
        done = queue.Queue(1)
        self._jobs.put((args, kw, done))
        ok, value = done.get()
        if not ok:
            raise value
        return value

    def _run(self):
        while True:
            args, kw, done = self._jobs.get()
            try:
                done.put((True, subprocess.Popen(*args, **kw)))
            except Exception as e:  # noqa: BLE001 - handed to the caller
                done.put((False, e))


_spawner = _Spawner()


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def children_of(pid):
    """PIDs whose parent is pid (from /proc)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def _start_time(pid):
    """The start time of pid in clock ticks (field 22 of /proc/pid/stat), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def descendants_of(pid):
    """Every live descendant PID of pid."""
    out, todo = [], [pid]
    while todo:
        for c in children_of(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


class Proc:
    """One started process: its Popen, its log file and what it runs."""

    def __init__(self, name, popen, log_path, logf):
        self.name = name
        self.popen = popen
        self.pid = popen.pid
        self.log_path = log_path
        self._logf = logf

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout):
        """Waits for exit; returns the exit code or None on timeout."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def close_log(self):
        if self._logf and not self._logf.closed:
            self._logf.close()


class System:
    """The healthcenter system of one test: its ports, data dir, env and processes.

    Start everything with start_all() (`healthcenter up`, gateway included) or
    single services with start(name). Every process is started in its own
    session (process group) so that stop_all() can also reach whatever a
    supervisor spawned, and every process dies with the test.
    """

    def __init__(self, data_dir, bin_path=None, env=None):
        self.bin = bin_path or binary_path()
        self.data_dir = str(data_dir)
        self.run_dir = os.path.join(self.data_dir, "run")
        self.log_dir = os.path.join(self.data_dir, "logs")
        os.makedirs(self.log_dir, exist_ok=True)
        ports = free_ports(len(ALL_PORTS))
        self.ports = dict(zip(ALL_PORTS, ports))
        self.env = self._base_env()
        for k, v in (env or {}).items():
            if v is None:
                self.env.pop(k, None)
            else:
                self.env[k] = str(v)
        self.procs = {}      # name -> current Proc
        self.all_procs = []  # every Proc ever started, for teardown and logs
        self._lock = threading.Lock()

    # ------------------------------------------------------------ configuration

    def _base_env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
        p = self.ports
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                          else "nginx")
        env.update({
            "HC_DATA_DIR": self.data_dir,
            "HC_JWT_SECRET": JWT_SECRET,
            # The one origin whose pages may call the gateway (CORS); any
            # other gets no Access-Control-Allow-Origin.
            "HC_CORS_ORIGINS": CORS_ORIGIN,
            "HC_RUN_DIR": self.run_dir,
            "HC_BIND_ADDR": "127.0.0.1",
            "HC_GATEWAY_PORT": str(p["gateway"]),
            "HC_ORDER_PORT": str(p["order"]),
            "HC_RESERVATION_PORT": str(p["reservation"]),
            "HC_PAYMENT_PORT": str(p["payment"]),
            "HC_NOTIFICATION_PORT": str(p["notification"]),
            "HC_PAYMENT_URL": "http://127.0.0.1:%d" % p["payment"],
            # The default (610 ms, the original's) is for a quiet machine; the
            # suite runs under ASan on a busy one. Tests of timeouts and of the
            # breaker (test_breaker.py) set their own.
            "HC_PAYMENT_TIMEOUT_MS": "5000",
            "HC_LOG_LEVEL": "info",
            "HC_HTTP_MAX_CONNECTIONS": "1000",
            # A process crash (kill -9) loses nothing with WAL + NORMAL; only an
            # OS crash could, and tests do not crash the OS.
            "HC_DB_SYNC": "NORMAL",
            "HC_TZ": "Asia/Seoul",
            "HC_NGINX": nginx,
            "HC_READY_TIMEOUT_MS": "20000",
            "HC_CENTERS": "1:Test Center:1000,2:Second Center:1000",
            "HC_SMS_PROVIDER": "log",
            # The gateway's per-client limits stay on but far above what any
            # test sends from its one address (127.0.0.1), so no test but
            # test_rate_limit.py (which sets its own) meets a 429.
            "HC_RATE_LIMIT_RPS": "100000",
            "HC_RATE_LIMIT_BURST": "100000",
            "HC_RATE_LIMIT_CONNECTIONS": "10000",
            # Sign-in's own gateway limit likewise (test_auth.py sets its own).
            "HC_AUTH_RATE_LIMIT_RPM": "100000",
            "HC_AUTH_RATE_LIMIT_BURST": "100000",
        })
        return env

    # ------------------------------------------------------------ clients

    def base(self, name):
        return "http://127.0.0.1:%d" % self.ports[name]

    @property
    def public_url(self):
        """The base of every link the services answer: HC_PUBLIC_URL, whose
        default is the gateway's address (never the caller's Host)."""
        return self.env.get("HC_PUBLIC_URL") or "http://localhost:%d" % self.ports["gateway"]

    def signed(self, caller, method, path, body=None):
        """Headers that sign a request as service `caller` with the services'
        shared key (HC_SERVICE_SECRET, or $HC_DATA_DIR/service.key), the way
        hc_auth does: for tests that play a service (e.g. order charging)."""
        secret = self.env.get("HC_SERVICE_SECRET")
        if secret:
            key = hashlib.blake2b(secret.encode(), digest_size=32).digest()
        else:
            with open(os.path.join(self.data_dir, "service.key"), "rb") as f:
                key = f.read()
        data = b"" if body is None else (body if isinstance(body, bytes) else
                                         json.dumps(body, ensure_ascii=False).encode("utf-8"))
        ts = str(int(time.time()))
        msg = "\n".join([caller, method, path.split("?")[0], ts,
                         hashlib.sha256(data).hexdigest()]) + "\n"
        sig = hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()
        return {"X-HC-Service": caller, "X-HC-Timestamp": ts, "X-HC-Signature": sig}

    def client(self, name):
        return Client(self.base(name))

    @property
    def gateway(self):
        return self.client("gateway")

    @property
    def order(self):
        return self.client("order")

    @property
    def payment(self):
        return self.client("payment")

    @property
    def reservation(self):
        return self.client("reservation")

    @property
    def notification(self):
        return self.client("notification")

    # ------------------------------------------------------------ processes

    def _spawn(self, name, args):
        if not os.path.exists(self.bin):
            raise AssertionError("healthcenter binary not found at %s (set HC_BIN or build first)"
                                 % self.bin)
        n = sum(1 for p in self.all_procs if p.name == name)
        log_path = os.path.join(self.log_dir, "%s.log" % name if n == 0 else "%s.%d.log" % (name, n))
        logf = open(log_path, "ab")
        popen = _spawner.popen([self.bin] + args, stdin=subprocess.DEVNULL, stdout=logf,
                               stderr=subprocess.STDOUT, env=dict(self.env), cwd=self.data_dir,
                               start_new_session=True, preexec_fn=_pdeathsig)
        proc = Proc(name, popen, log_path, logf)
        with self._lock:
            self.procs[name] = proc
            self.all_procs.append(proc)
        return proc

    def start_all(self, timeout=30.0):
        """Runs `healthcenter up` and waits until all services and the gateway answer."""
        proc = self._spawn("up", ["up"])
        self.wait_ready(SERVICES, timeout=timeout, proc=proc)
        self.wait_gateway(timeout=timeout, proc=proc)
        # `up` opens its control socket (healthcenter restart) once every
        # child is ready, just after the probes above can succeed.
        sock = os.path.join(self.run_dir, "up.sock")
        if len(sock) < 100:  # else `up` cannot make one (sun_path) and says so
            wait_until(lambda: os.path.exists(sock) or not proc.alive(), timeout=timeout,
                       what="up's control socket %s" % sock)
        return proc

    def start(self, *names, timeout=20.0):
        """Starts each named service as its own process and waits until all are ready."""
        procs = [self._spawn(name, [name]) for name in names]
        for name, proc in zip(names, procs):
            self.wait_ready([name], timeout=timeout, proc=proc)
        return procs[0] if len(procs) == 1 else procs

    def start_live(self, *names, timeout=20.0):
        """Starts each named service and waits only until it is live (/health/live):
        for a service expected to come up not ready. Returns the Proc(s)."""
        procs = [self._spawn(name, [name]) for name in names]
        for name, proc in zip(names, procs):
            try:
                wait_until(lambda name=name, proc=proc: not proc.alive() or self.live(name),
                           timeout=timeout, what="%s /health/live" % name)
            finally:
                if not proc.alive():
                    raise AssertionError("%s exited with %s before it was live:\n%s"
                                         % (name, proc.popen.returncode, tail(proc.log_path, 30)))
        return procs[0] if len(procs) == 1 else procs

    def start_services(self, timeout=20.0):
        """Starts the four services individually (payment first, as order calls it)."""
        return self.start("payment", "order", "reservation", "notification", timeout=timeout)

    def ready(self, name):
        try:
            return request("GET", self.base(name) + "/health/ready", timeout=2.0).status == 200
        except OSError:
            return False

    def live(self, name):
        try:
            return request("GET", self.base(name) + "/health/live", timeout=2.0).status == 200
        except OSError:
            return False

    def wait_ready(self, names, timeout=20.0, proc=None):
        for name in names:
            def check(name=name):
                if proc is not None and not proc.alive():
                    raise AssertionError("%s exited with %s before %s was ready:\n%s"
                                         % (proc.name, proc.popen.returncode, name,
                                            tail(proc.log_path, 30)))
                return self.ready(name)
            try:
                wait_until(check, timeout=timeout, what="%s /health/ready" % name)
            except WaitTimeout:
                if proc is not None and not proc.alive():
                    check()  # re-raise with the exit message
                raise

    def wait_gateway(self, timeout=20.0, proc=None):
        def check():
            if proc is not None and not proc.alive():
                raise AssertionError("%s exited with %s before the gateway was ready:\n%s"
                                     % (proc.name, proc.popen.returncode, tail(proc.log_path, 30)))
            try:
                # anonymous: the catalog is public, and a system on another key
                # than the harness's (no HC_JWT_SECRET) refuses the default token
                return request("GET", self.base("gateway") + "/packages", timeout=2.0,
                               headers=bearer(None)).status == 200
            except OSError:
                return False
        wait_until(check, timeout=timeout, what="gateway GET /packages")

    def kill9(self, name):
        """kill -9 the current process of `name` and reaps it. Returns its exit code."""
        proc = self.procs[name]
        proc.signal(signal.SIGKILL)
        rc = proc.wait(10)
        proc.close_log()
        assert rc is not None, "%s (pid %d) survived SIGKILL" % (name, proc.pid)
        self._reap_group(proc)
        return rc

    def stop(self, name, timeout=10.0):
        """SIGTERM the current process of `name`, waits; SIGKILL after the deadline.

        Returns the exit code (or None when it had to be killed).
        """
        return self._stop_proc(self.procs[name], timeout)

    def restart(self, name, timeout=20.0):
        """Starts `name` again after a stop or kill9, waiting until ready."""
        assert not self.procs[name].alive(), "%s is still running" % name
        return self.start(name, timeout=timeout)

    def _stop_proc(self, proc, timeout):
        rc = None
        # A supervisor's children live in process groups of their own: note
        # them (with their start times, against PID reuse) to end leftovers.
        kids = [(p, _start_time(p)) for p in descendants_of(proc.pid)] if proc.alive() else []
        if proc.alive():
            proc.signal(signal.SIGTERM)
            rc = proc.wait(timeout)
            if rc is None:
                proc.signal(signal.SIGKILL)
                proc.wait(10)
        else:
            rc = proc.popen.returncode
        self._reap_group(proc)
        self._reap_pids(kids)
        proc.close_log()
        return rc

    @staticmethod
    def _reap_pids(kids):
        """SIGTERM, then SIGKILL after a deadline, to each (pid, start time)
        still alive: descendants of a process this System started."""
        left = [(p, t) for p, t in kids if t is not None and _start_time(p) == t and _pid_alive(p)]
        for p, _ in left:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            wait_until(lambda: not any(_start_time(p) == t and _pid_alive(p) for p, t in left),
                       timeout=5, what="leftover children to exit")
        except WaitTimeout:
            for p, t in left:
                if _start_time(p) == t:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    def _reap_group(self, proc):
        """Kills whatever is left in the process group of a process we started
        (children of a supervisor that itself died), by the group id."""
        pgid = proc.pid  # start_new_session: the child leads its own group
        if _group_alive(pgid):
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                return
            try:
                wait_until(lambda: not _group_alive(pgid), timeout=5, what="group %d exit" % pgid)
            except WaitTimeout:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _stop_nginx_leftover(self):
        """nginx may daemonize out of our process group: stop it by its pid file,
        only when that pid is an nginx of this test's run directory."""
        pid_file = os.path.join(self.run_dir, "nginx.pid")
        try:
            with open(pid_file) as f:
                pid = int(f.read().strip())
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, ValueError):
            return
        if "nginx" in cmd and self.data_dir in cmd and _pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            try:
                wait_until(lambda: not _pid_alive(pid), timeout=5, what="nginx exit")
            except WaitTimeout:
                os.kill(pid, signal.SIGKILL)

    def stop_all(self, timeout=10.0):
        """Stops every process this System started, newest first. Returns
        {proc name/pid: exit code} for those still running at the call."""
        codes = {}
        for proc in reversed(self.all_procs):
            if proc.alive() or _group_alive(proc.pid):
                codes["%s/%d" % (proc.name, proc.pid)] = self._stop_proc(proc, timeout)
            proc.close_log()
        self._stop_nginx_leftover()
        return codes

    # ------------------------------------------------------------ logs

    def log_lines(self, service=None):
        """Parsed JSON log lines of every process started so far; when service
        is given, only the lines of that service: the lines of its own process
        logs, plus lines of a supervisor log that name it in a service field."""
        out = []
        for proc in list(self.all_procs):
            for obj in read_json_lines(proc.log_path):
                svc = line_service(obj) or proc.name
                if service is None or svc == service:
                    out.append(obj)
        return out

    def log_report(self, n=60):
        parts = []
        for proc in self.all_procs:
            rc = proc.popen.poll()
            parts.append("----- %s (pid %d, %s) %s -----\n%s"
                         % (proc.name, proc.pid, "running" if rc is None else "exit %s" % rc,
                            proc.log_path, tail(proc.log_path, n)))
        return "\n".join(parts)

    # ------------------------------------------------------------ metrics

    def sql(self, service, statement, params=()):
        """One statement on a service's database as an operator would run it,
        on either test stack: its SQLite file, or on PostgreSQL (HC_DB=postgres)
        its schema through psql, rows read back as JSON so that types and
        NULLs survive. ? placeholders take params. Returns all rows (tuples)."""
        if self.env.get("HC_DB") != "postgres":
            return sqlite_sql(os.path.join(self.data_dir, "%s.db" % service), statement, params)
        parts = statement.split("?")
        assert len(parts) == len(params) + 1, statement
        text = parts[0] + "".join(_pg_literal(p) + rest for p, rest in zip(params, parts[1:]))
        select = text.lstrip().upper().startswith("SELECT")
        if select:
            text = "SELECT COALESCE(json_agg(r), '[]') FROM (%s) r" % text
        p = subprocess.run(["psql", self.env["HC_DB_URL"], "-v", "ON_ERROR_STOP=1", "-Atqc",
                            'SET search_path TO "%s"; %s' % (service, text)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, (text, p.stderr)
        return [tuple(row.values()) for row in json.loads(p.stdout)] if select else []

    def metrics(self, name):
        """Parsed /metrics of a service: list of (name, labels-dict, float)."""
        r = request("GET", self.base(name) + "/metrics", timeout=5.0)
        assert r.status == 200, "GET %s /metrics -> %r" % (name, r)
        return parse_prometheus(r.text)

    def backlog(self, names=SERVICES):
        """Sum of every outbox-backlog and consumer-lag gauge over the services,
        or None when a service exposes neither (then idleness cannot be read).
        A gauge of -1 (the service could not count: storage or broker did not
        answer) counts as 1, never as idle."""
        total = 0.0
        for name in names:
            samples = [s for s in self.metrics(name) if is_backlog_metric(s[0])]
            if not samples:
                return None
            total += sum(v if v >= 0 else 1.0 for _, _, v in samples)
        return total

    def wait_idle(self, names=SERVICES, timeout=DEFAULT_TIMEOUT):
        """Waits until every outbox is flushed and every consumer caught up, seen
        on two scrapes in a row. Falls back to a few idle re-polls of the
        metrics when no backlog gauges exist (test_operational flags that)."""
        seen = {"zero": 0, "polls": 0}

        def idle():
            b = self.backlog(names)
            seen["polls"] += 1
            if b is None:
                return seen["polls"] >= 5
            seen["zero"] = seen["zero"] + 1 if b == 0 else 0
            return seen["zero"] >= 2
        try:
            wait_until(idle, timeout=timeout, what="system idle (outbox backlog and consumer lag 0)")
        except WaitTimeout as e:
            raise WaitTimeout("%s; non-zero: %s" % (e, self._backlog_samples(names))) from None

    def _backlog_samples(self, names):
        """The non-zero backlog and lag samples, for a timeout's message."""
        out = []
        for name in names:
            try:
                out += ["%s %s%s=%g" % (name, n, l, v) for n, l, v in self.metrics(name)
                        if is_backlog_metric(n) and v]
            except Exception as e:  # noqa: BLE001 - a message, not a check
                out.append("%s: %r" % (name, e))
        return out


def bus_events(system, oid=None):
    """The events on the system's bus, oldest first, as parsed JSON objects:
    all of them, or those of order oid. On the embedded log (HC_BUS=log) the
    rows of $HC_DATA_DIR/bus/events.db in log order; on Kafka (HC_BUS=kafka)
    every message of HC_TOPIC read with kcat, in (timestamp, partition, offset)
    order: one order's events share a key, hence a partition, so theirs is
    the append order."""
    if system.env.get("HC_BUS") == "kafka":
        return _kafka_events(system, oid)
    import sqlite3
    path = os.path.join(system.data_dir, "bus", "events.db")
    if not os.path.exists(path):
        return []
    conn = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(path), uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT value FROM events ORDER BY pos").fetchall()
    finally:
        conn.close()
    out = []
    for (v,) in rows:
        ev = json.loads(v if isinstance(v, str) else v.decode("utf-8"))
        if oid is None or str(ev.get("orderId")) == str(oid):
            out.append(ev)
    return out


def _kafka_events(system, oid):
    # -e: exit at the end of every partition; -q: no informational lines.
    r = subprocess.run(["kcat", "-C", "-b", system.env["HC_KAFKA_BROKERS"], "-t",
                        system.env["HC_TOPIC"], "-o", "beginning", "-e", "-q",
                        "-f", "%T %p %o %S %s\\n"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, "kcat -C %s: %s" % (system.env["HC_TOPIC"], r.stderr[-500:])
    msgs = []
    for line in r.stdout.split(b"\n"):
        if not line.strip():
            continue
        ts, part, off, size, rest = line.split(b" ", 4)
        value = rest[:int(size)]
        msgs.append((int(ts), int(part), int(off), json.loads(value.decode("utf-8"))))
    msgs.sort(key=lambda m: m[:3])
    return [ev for _, _, _, ev in msgs if oid is None or str(ev.get("orderId")) == str(oid)]


BACKLOG_RE = re.compile(r"(outbox|backlog|lag)", re.I)


def sqlite_sql(path, statement, params=()):
    """Runs one statement on the SQLite file at path (as an operator would) and
    returns all rows."""
    import sqlite3
    con = sqlite3.connect(path, timeout=10)
    try:
        rows = con.execute(statement, params).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def _pg_literal(v):
    """v as a PostgreSQL literal (System.sql's parameters: tests' own values)."""
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    return "'%s'" % str(v).replace("'", "''")


def is_backlog_metric(name):
    return bool(BACKLOG_RE.search(name)) and not name.endswith(("_bucket", "_sum", "_count",
                                                                 "_total", "_created"))


SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    """Parses Prometheus text format into (name, labels, value) samples.
    Fails on a line that is neither a comment, blank, nor a sample."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, "not a Prometheus sample line: %r" % line
        labels = dict(LABEL_RE.findall(m.group(3) or ""))
        v = m.group(4)
        value = float("inf") if v == "+Inf" else float("-inf") if v == "-Inf" else float(v)
        out.append((m.group(1), labels, value))
    return out
