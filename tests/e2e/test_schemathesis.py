"""Schemathesis (PyPI, pinned in tests/requirements.txt) against the running
system from docs/openapi.yaml, with every check on (the two exceptions and
their reasons are in tests/e2e/schemathesis.toml) and zero failures allowed.

Bounded and repeatable: a fixed seed, a fixed number of examples per
operation, one worker (Debian's Python 3.11.2 trips over concurrent AST
parsing inside hypothesis with more). The resource paths go through the
gateway, the operational ones to each service's own port."""

import datetime
import os
import re
import shutil
import subprocess

import hc

SEED = "20261201"
EXAMPLES = "25"


def schemathesis_bin():
    path = os.environ.get("HC_SCHEMATHESIS") or os.path.join(hc.repo_root(), ".venv-test", "bin",
                                                             "schemathesis")
    assert os.access(path, os.X_OK), (
        "schemathesis not found at %s: run `make venv` (scripts/test-venv.sh installs the pinned "
        "tests/requirements.txt)" % path)
    return path


def run_schemathesis(system, workdir, base, *selection):
    """Runs schemathesis on base for the operations selected; returns (code, output)."""
    cmd = [schemathesis_bin(), "--config-file", os.path.join(workdir, "schemathesis.toml"), "run",
           os.path.join(hc.repo_root(), "docs", "openapi.yaml"), "--url", base, "--seed", SEED,
           "--max-examples", EXAMPLES, "--workers", "1", "--generation-database", "none",
           "--request-timeout", "10",
           # the super-admin's token: every operation is open to it (the ignored_auth
           # check still sends requests without it and expects the 401 documented)
           "--header", "Authorization: Bearer %s" % hc.DEFAULT_TOKEN, *selection]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    env.update({"NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""})
    r = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    return r.returncode, r.stdout + r.stderr


def prepare(tmp_path):
    """The config file and its dictionary of bookable dates (tomorrow and the
    89 days after it, in Asia/Seoul as the harness configures the system)."""
    workdir = str(tmp_path / "schemathesis")
    os.makedirs(workdir)
    shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis.toml"),
                workdir)
    today = hc.today_seoul()
    with open(os.path.join(workdir, "dates.txt"), "w") as f:
        for i in range(1, 90):
            f.write('"%s"\n' % (today + datetime.timedelta(days=i)).isoformat())
    return workdir


def test_schemathesis_finds_nothing_wrong(system, tmp_path):
    workdir = prepare(tmp_path)
    # A few bookings first, so that ids 1-5 name real orders, payments,
    # reservations and mypages.
    for i in range(5):
        assert system.gateway.post("/orders", hc.booking(phone="010-4000-%04d" % i)).status == 201
    system.wait_idle()
    runs = [("gateway", system.base("gateway"), ("--exclude-tag", "operational"))]
    runs += [(name, system.base(name), ("--include-tag", "operational")) for name in hc.SERVICES]
    for name, base, selection in runs:
        code, out = run_schemathesis(system, workdir, base, *selection)
        assert code == 0, "schemathesis against %s (%s) exited %d:\n%s" % (name, base, code,
                                                                          out[-12000:])
        generated = re.search(r"(\d+) generated", out)
        assert generated and int(generated.group(1)) > 0, "no test cases ran:\n%s" % out[-3000:]
