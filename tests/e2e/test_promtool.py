"""Every service's /metrics passes Prometheus's own checker (`promtool check
metrics`, Debian package prometheus, installed by scripts/install-deps.sh),
after traffic that makes every kind of family appear, and carries the
process_* metrics and healthcenter_build_info."""

import shutil
import subprocess
import time

import pytest

import hc
from hc import wait_until

PROCESS_METRICS = {
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_start_time_seconds": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
}


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool")
    if not path:  # never skipped: a missing checker must not pass as a clean exposition
        pytest.fail("promtool not found: install the Debian package prometheus "
                    "(scripts/install-deps.sh does)", pytrace=False)
    return path


def check(promtool, text):
    """(exit code, what promtool said) for one exposition."""
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).strip()


def test_promtool_catches_a_family_without_help(promtool):
    """The checker itself: the fault /metrics had (a counter without HELP)."""
    rc, said = check(promtool, '# TYPE hc_sms_sent_total counter\n'
                               'hc_sms_sent_total{service="notification",type="log"} 2\n')
    assert rc != 0 and "no help text" in said, (rc, said)
    rc, said = check(promtool, '# HELP hc_sms_sent_total SMS delivered.\n'
                               '# TYPE hc_sms_sent_total counter\n'
                               'hc_sms_sent_total{service="notification",type="log"} 2\n')
    assert rc == 0 and said == "", (rc, said)


def test_every_service_metrics_pass_promtool(system, promtool):
    # A booking, a declined card and a cancel: requests by route and status,
    # events applied, SMS sent, refunds.
    g = system.gateway
    r = g.post("/orders", hc.booking())
    assert r.status == 201, r
    oid = r.json["id"]
    assert g.post("/orders", hc.booking(cardNo=hc.DECLINED_CARD)).status == 402
    wait_until(lambda: g.get("/orders/%d" % oid).json["status"] == "REQUESTED",
               what="order %d REQUESTED" % oid)
    assert g.delete("/orders/%d" % oid).status == 200
    wait_until(lambda: any(n == "hc_sms_sent_total" and v >= 3
                           for n, _, v in system.metrics("notification")),
               what="three SMS counted (PAID, REQUESTED, CANCELED)")
    system.wait_idle()

    version = subprocess.run([system.bin, "version"], capture_output=True, text=True,
                             check=True).stdout.split()[-1]
    now = time.time()
    for service in hc.SERVICES:
        r = system.client(service).get("/metrics")
        assert r.status == 200, r
        rc, said = check(promtool, r.text)
        assert rc == 0 and said == "", "%s /metrics fails promtool check metrics:\n%s" % (
            service, said)
        samples = {n: (l, v) for n, l, v in hc.parse_prometheus(r.text)}
        for name, kind in PROCESS_METRICS.items():
            assert "# TYPE %s %s\n" % (name, kind) in r.text, (service, name)
            assert name in samples, (service, name)
        assert samples["healthcenter_build_info"] == ({"version": version, "service": service},
                                                      1.0)
        assert samples["process_resident_memory_bytes"][1] > 1e6
        assert 0 < samples["process_open_fds"][1] <= samples["process_max_fds"][1]
        started = samples["process_start_time_seconds"][1]
        assert now - 600 < started <= now + 1, (service, started, now)
