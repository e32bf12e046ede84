"""The operator's view: every command's --help, `healthcenter config` showing
the values in effect (secrets hidden), bad enumerated variables refused like
any other, the text log format, and one request id in the gateway's access log
and in every service line of that request."""

import json
import os
import re
import subprocess

import pytest

import hc
from hc import wait_until

COMMANDS = ("up", "order", "payment", "reservation", "notification", "check", "dead-letters",
            "config", "version", "help")


def run(*args, env=None, timeout=10):
    """Runs the binary with env (default: no HC_* variable at all)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    base.update(env or {})
    return subprocess.run([hc.binary_path(), *args], capture_output=True, text=True,
                          timeout=timeout, env=base, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_help_exits_0(cmd, tmp_path):
    """Regression: `healthcenter up --help` exited 2 ("unexpected argument")."""
    # A broken configuration must not stand between an operator and the help.
    env = {"HC_LOG_LEVEL": "loud", "HC_DATA_DIR": str(tmp_path / "data")}
    for flag in ("--help", "-h"):
        p = run(cmd, flag, env=env)
        assert p.returncode == 0, (cmd, flag, p.returncode, p.stderr)
        assert p.stdout.startswith("usage: healthcenter"), p.stdout
        if cmd != "help":
            assert re.search(r"^usage: healthcenter %s\b" % cmd, p.stdout, re.M), p.stdout
        assert p.stderr == "", p.stderr
    # help never starts anything: no data directory appears
    assert not (tmp_path / "data").exists()
    if cmd != "help":
        p = run("help", cmd)
        assert p.returncode == 0 and re.search(r"^usage: healthcenter %s\b" % cmd, p.stdout, re.M)


def test_help_of_an_unknown_command_fails():
    p = run("frobnicate", "--help")
    assert p.returncode == 2 and "unknown command" in p.stderr, p
    p = run("help", "frobnicate")
    assert p.returncode == 2 and "unknown command" in p.stderr, p


def test_dead_letters_help_shows_both_forms():
    p = run("dead-letters", "list", "--help")
    assert p.returncode == 0, p
    assert "healthcenter dead-letters list [SERVICE]" in p.stdout
    assert "healthcenter dead-letters retry SERVICE (ID|--all)" in p.stdout


# --------------------------------------------------------------------------- config


def parse_config(text):
    """`healthcenter config`'s lines -> {name: (value as printed, source)}."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^(HC_[A-Z0-9_]+)=(.*?)\s+# (.+)$", line)
        assert m, "not a config line: %r" % line
        out[m.group(1)] = (m.group(2), m.group(3))
    return out


def test_config_shows_the_values_in_effect(tmp_path):
    """Regression: `healthcenter config` printed the defaults whatever the
    environment said."""
    secret = "correct-horse-battery-staple-0123456789"
    env = {"HC_GATEWAY_PORT": "18080", "HC_DATA_DIR": str(tmp_path), "HC_LOG_LEVEL": "warn",
           "HC_TZ": "UTC", "HC_SERVICE_SECRET": secret, "HC_SMS_PROVIDER": "http",
           "HC_SMS_URL": "https://ops:hunter2@sms.example/v1/send", "HC_SMS_API_KEY": "sk-live-777"}
    p = run("config", env=env)
    assert p.returncode == 0, p.stderr
    cfg = parse_config(p.stdout)
    assert cfg["HC_GATEWAY_PORT"] == ("18080", "env")
    assert cfg["HC_DATA_DIR"] == (str(tmp_path), "env")
    assert cfg["HC_LOG_LEVEL"] == ("warn", "env")
    assert cfg["HC_TZ"] == ("UTC", "env")
    assert cfg["HC_ORDER_PORT"] == ("8081", "default")
    # derived from what is in effect, as the services derive them
    assert cfg["HC_PUBLIC_URL"] == ("http://localhost:18080", "derived")
    assert cfg["HC_RUN_DIR"] == (str(tmp_path) + "/run", "derived")
    assert cfg["HC_LOG_FORMAT"] == ("json", "derived")  # stderr is not a terminal here
    assert cfg["HC_GATEWAY_TEMPLATE"][1] == "derived"
    # every variable of the table, once
    names = re.findall(r"^\| `(HC_[A-Z0-9_]+)`", run("config", "--markdown").stdout, re.M)
    assert sorted(cfg) == sorted(names)
    # secrets never appear, nor a URL's password
    for leak in (secret, "hunter2", "sk-live-777", "ops:"):
        assert leak not in p.stdout, "config printed %r" % leak
    assert cfg["HC_SERVICE_SECRET"] == ("'********'", "env, hidden")
    assert cfg["HC_SMS_API_KEY"] == ("'********'", "env, hidden")
    assert cfg["HC_SMS_URL"] == ("'https://***@sms.example/v1/send'", "env")


def test_config_markdown_is_the_defaults_table_whatever_the_environment():
    plain = run("config", "--markdown")
    assert plain.returncode == 0
    custom = run("config", "--markdown", env={"HC_GATEWAY_PORT": "18080", "HC_TZ": "UTC"})
    assert custom.stdout == plain.stdout
    assert "| `HC_GATEWAY_PORT` | `8080` |" in plain.stdout


BAD = [
    ("HC_LOG_LEVEL", "verbose", "expected debug, info, warn or error"),
    ("HC_LOG_FORMAT", "xml", "expected json or text"),
    ("HC_TZ", "Asia/Nowhere", "expected a time zone of the tz database"),
    ("HC_TZ", "../../../etc/passwd", "expected a time zone of the tz database"),
    ("HC_DB_SYNC", "sometimes", "expected FULL or NORMAL"),
    ("HC_BUS", "pigeon", "expected log or kafka"),
    ("HC_SMS_PROVIDER", "pigeon", "expected log or http"),
    ("HC_ORDER_PORT", "80x", "expected an integer from 1 to 65535"),  # the model of the others
]


@pytest.mark.parametrize("var,value,why", BAD, ids=["%s=%s" % (v, x) for v, x, _ in BAD])
def test_a_bad_variable_is_refused_clearly(var, value, why, tmp_path):
    """Regression: a bad HC_LOG_LEVEL or HC_TZ was taken silently (info, UTC)
    while other bad variables were refused. Every command that reads the
    configuration refuses it the same way: exit 2 and one line naming it."""
    env = {"HC_DATA_DIR": str(tmp_path / "data"), var: value}
    for cmd in ("config", "order", "up", "check"):
        p = run(cmd, env=env)
        assert p.returncode == 2, (cmd, p.returncode, p.stdout, p.stderr)
        assert re.fullmatch(r'healthcenter: invalid configuration: %s: %s.*, got "%s"\n'
                            % (var, re.escape(why), re.escape(value)), p.stderr), (cmd, p.stderr)
    assert not (tmp_path / "data").exists(), "a refused configuration started something"


# --------------------------------------------------------------------------- logs


TEXT_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (DEBUG|INFO |WARN |ERROR) "
                       r"(\S+)\s+(.*)$")


def test_text_log_format(make_system):
    s = make_system(HC_LOG_FORMAT="text")
    s.start("payment", "order")
    rid = "ops-check.1:2_3"
    r = s.order.post("/orders", hc.booking(), headers={"X-Request-Id": rid})
    assert r.status == 201, r
    order_id = r.json["id"]
    log = s.procs["order"].log_path

    def paid_line():
        for line in open(log, encoding="utf-8").read().splitlines():
            if "order %d paid" % order_id in line:
                return line
        return None
    line = wait_until(paid_line, what="the order's 'paid' line")
    m = TEXT_LINE.match(line)
    assert m, line
    assert m.group(2) == "INFO " and m.group(3) == "order", line
    assert re.search(r" orderId=%d traceId=[0-9a-f]{32} requestId=%s$" % (order_id, re.escape(rid)),
                     m.group(4)), line
    for path in (log, s.procs["payment"].log_path):
        lines = open(path, encoding="utf-8").read().splitlines()
        assert lines and not [ln for ln in lines if ln.startswith("{")], "JSON in a text log"
        assert all(TEXT_LINE.match(ln) for ln in lines), [ln for ln in lines
                                                          if not TEXT_LINE.match(ln)]


def test_readme_log_examples_are_the_formats():
    """README's "Logs" shows one line in each format: they must be lines the
    services write (the text line's shape, the JSON line's keys)."""
    with open(os.path.join(hc.repo_root(), "README.md"), encoding="utf-8") as f:
        readme = f.read()
    section = readme.split("## Logs\n", 1)[1].split("\n## ", 1)[0]
    assert "HC_LOG_FORMAT" in section and "requestId" in section and "X-Request-Id" in section
    block = section.split("```\n", 1)[1].split("```", 1)[0].splitlines()
    text, js = block
    m = TEXT_LINE.match(text)
    assert m and re.search(r" orderId=\d+ traceId=[0-9a-f]{32} requestId=\S+$", m.group(4)), text
    obj = json.loads(js)
    assert list(obj) == ["ts", "level", "service", "msg", "orderId", "traceId", "requestId"]
    assert TEXT_LINE.match(text).group(1) == obj["ts"] and obj["requestId"] in text


def test_the_tests_run_with_json_logs(make_system):
    """The default off a terminal is JSON: the e2e suite reads the logs so."""
    s = make_system()
    s.start("order")
    lines = wait_until(lambda: s.log_lines("order"), what="order's JSON lines")
    assert all(isinstance(o, dict) and o.get("msg") for o in lines)


# --------------------------------------------------------------------------- request ids


def access_log(system):
    return hc.read_json_lines(os.path.join(system.run_dir, "access.log"))


def test_one_request_id_in_the_access_log_and_every_service_line(system):
    """One booking through the gateway: nginx's access-log line, order's lines
    and payment's lines (order's call to payment) carry the same request id,
    the one the client got back."""
    r = system.gateway.post("/orders", hc.booking())
    assert r.status == 201, r
    rid = r.headers.get("X-Request-Id")
    assert rid and re.fullmatch(r"[0-9a-f]{32}", rid), r.headers
    order_id = r.json["id"]

    entry = wait_until(lambda: [e for e in access_log(system) if e.get("requestId") == rid],
                       what="the access-log line of request %s" % rid)  # flushed every second
    assert len(entry) == 1 and entry[0]["uri"] == "/orders" and entry[0]["status"] == 201, entry

    def lines_of(service):
        return [o for o in system.log_lines(service) if o.get("requestId") == rid]
    order_lines = wait_until(lambda: lines_of("order"), what="order lines with the request id")
    payment_lines = wait_until(lambda: lines_of("payment"), what="payment lines with it")
    assert any("order %d paid" % order_id in o["msg"] for o in order_lines), order_lines
    assert any("approved" in o["msg"] for o in payment_lines), payment_lines
    # every line of that request names its order and trace too
    for o in order_lines + payment_lines:
        assert o.get("orderId") == order_id and o.get("traceId"), o
    # the id belongs to that request only: every line carrying it is about this
    # order, in one trace, and no start-up line (before the request) carries an id
    traces = {o["traceId"] for o in order_lines + payment_lines}
    assert len(traces) == 1, traces
    for service in ("order", "payment"):
        startup = [o for o in system.log_lines(service) if "migration" in o.get("msg", "")]
        assert startup and all("requestId" not in o for o in startup), (service, startup)


def test_a_client_request_id_is_kept_when_it_is_sane(system):
    mine = "client-7f1c2a.retry:1"
    r = system.gateway.post("/orders", hc.booking(), headers={"X-Request-Id": mine})
    assert r.status == 201 and r.headers.get("X-Request-Id") == mine, r.headers
    wait_until(lambda: [o for o in system.log_lines("payment") if o.get("requestId") == mine],
               what="payment's line with the client's id")
    # an id that could break a log line is replaced by nginx's own
    bad = 'x" injected="1'
    r = system.gateway.get("/orders", headers={"X-Request-Id": bad})
    assert r.status == 200 and re.fullmatch(r"[0-9a-f]{32}", r.headers.get("X-Request-Id")), r


def test_a_service_takes_only_a_sane_request_id(services):
    """Reached directly (not through the gateway), a service checks the id
    itself: bounded, letters, digits and ._:- only; anything else is left out
    of its lines, never copied into them."""
    good, bad = "direct-1", "a" * 129
    r = services.order.post("/orders", hc.booking(), headers={"X-Request-Id": good})
    assert r.status == 201, r
    r = services.order.post("/orders", hc.booking(), headers={"X-Request-Id": bad})
    assert r.status == 201, r
    oid_bad = r.json["id"]
    wait_until(lambda: [o for o in services.log_lines("payment") if o.get("requestId") == good],
               what="payment's line with the direct caller's id")

    def paid_line(oid):
        return [o for o in services.log_lines("order")
                if o.get("orderId") == oid and "paid" in o.get("msg", "")]
    lines = wait_until(lambda: paid_line(oid_bad), what="order's line for the long id")
    assert all("requestId" not in o for o in lines), lines
    assert not [o for o in services.log_lines() if json.dumps(o).count("a" * 129)]
