"""README's "When things fail" stays true: its commands, between the failures
markers, run verbatim with bash against a system of this test's own (started
by `healthcenter up`, on the default limits and timeouts), and what each
`# →` comment promises is checked.

How the section is read (the parser is the tour's, test_readme_tour.py):
- `GW=...` and `PATH=...` are the lines replaced: GW becomes this test's
  gateway, PATH gets the directory of the binary under test. Other
  assignments (`PAY=$(...)`) run as written and their value is kept for the
  commands after them;
- each `` `text` `` of a command's `# →` comment must appear in its output
  (stdout and stderr); every command must exit 0;
- a `curl` command that changes nothing (no -X, no -d) is run again until its
  output holds what the comment says, within a deadline (a restart or a
  probe takes its time); every other command runs once.

The commands run in the environment a reader's shell would have: the
system's HC_* settings (its ports and data directory, as `make run` in the
same directory would give), nothing else of the test's.
"""

import os
import re
import subprocess
import time

import hc
from test_readme_tour import ASSIGNMENT, README_GW, parse_commands, readme_section

BEGIN = "<!-- failures:begin -->"
END = "<!-- failures:end -->"
README_PATH = "PATH=$PWD/build:$PATH"
DEADLINE = 30.0  # seconds for a read to show what a restart or a probe brings
FRAGMENT = re.compile(r"`([^`]+)`")


def promised(cmd):
    """The `text` fragments of the command's `# →` comments."""
    return [f for c in cmd.comments if "→" in c for f in FRAGMENT.findall(c.split("→", 1)[1])]


def is_read_only(cmd):
    return cmd.text.startswith("curl ") and not re.search(
        r"(^|\s)(-X|--request|-d|--data\S*)(\s|=)", cmd.text)


def run(text, env):
    p = subprocess.run(["bash", "-c", text], capture_output=True, text=True, env=env, timeout=90)
    return p.returncode, p.stdout + p.stderr


def check(cmd, env):
    fragments = promised(cmd)
    deadline = time.monotonic() + (DEADLINE if is_read_only(cmd) else 0)
    while True:
        rc, out = run(cmd.text, env)
        problems = [] if rc == 0 else ["exited %d" % rc]
        problems += ["no `%s` in the output" % f for f in fragments if f not in out]
        if not problems:
            return out
        if time.monotonic() >= deadline:
            raise AssertionError("%r\n  %s\n  output: %s" % (cmd, "\n  ".join(problems), out[:2000]))
        time.sleep(0.1)  # poll interval of a read that waits on a restart or a probe


def test_the_section_is_parsed_as_intended():
    """Every scenario is there and each command that does something promises
    something checkable."""
    text, first = readme_section(BEGIN, END)
    commands = parse_commands(text, first)
    assert commands[0].text == README_GW and commands[1].text == README_PATH, commands[:2]
    texts = [c.text for c in commands]
    for needle in ("kill -STOP $PAY", "kill -9 $ORD", "kill -STOP $RES", "healthcenter restart order",
                   "healthcenter up"):
        assert any(needle in t for t in texts), "no %r in the section" % needle
    for c in commands:
        if c.text.startswith(("curl", "for ", "until ", "healthcenter")):
            assert promised(c), "%r promises nothing checkable" % c


def test_readme_failures_run_verbatim(make_system):
    # The defaults a reader has (README's centers, rate limits, payment
    # timeout), not the suite's relaxed ones.
    s = make_system(HC_CENTERS=None, HC_PAYMENT_TIMEOUT_MS=None, HC_RATE_LIMIT_RPS=None,
                    HC_RATE_LIMIT_BURST=None, HC_RATE_LIMIT_CONNECTIONS=None)
    s.start_all()
    text, first = readme_section(BEGIN, END)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HC_", "CURL_HOME"))}
    env.update({k: v for k, v in s.env.items() if k.startswith("HC_")})
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        env.pop(k, None)
    ran = 0
    for cmd in parse_commands(text, first):
        if cmd.text == README_GW:
            env["GW"] = s.base("gateway")
            continue
        if cmd.text == README_PATH:
            env["PATH"] = os.path.dirname(os.path.abspath(s.bin)) + os.pathsep + env["PATH"]
            continue
        m = ASSIGNMENT.match(cmd.text)
        if m:
            name = m.group(1)
            rc, out = run("%s\nprintf '%%s' \"$%s\"" % (cmd.text, name), env)
            assert rc == 0 and out, "%r failed: %s" % (cmd, out)
            env[name] = out
            continue
        check(cmd, env)
        ran += 1
    assert ran >= 10
    # What the section did left the system whole: the breaker closed again,
    # every service up, and the one owner still the test's `up`.
    health = hc.wait_until(
        lambda: (lambda r: r.json if r.status == 200 else None)(
            hc.request("GET", s.base("gateway") + "/actuator/health")),
        what="the whole system UP after the section")
    assert set(health["components"]) >= {"order", "reservation", "payment", "notification", "gateway"}
