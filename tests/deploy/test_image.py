"""The container image (Dockerfile, `make image`): `up` in one container on
the host network, read-only root file system, data on a volume; it books, its
HEALTHCHECK passes, it runs as the unprivileged user with no compiler
inside, and SIGTERM (its STOPSIGNAL) stops it cleanly with exit 0. Every
container and volume made here is removed. docs/deploy.md."""

import json
import uuid

import hc
from conftest import podman


def test_image_serves_the_whole_system(image):
    tag = "hc-image-test-" + uuid.uuid4().hex[:8]
    gw, order, res, pay, noti = hc.free_ports(5)
    env = {"HC_BIND_ADDR": "127.0.0.1", "HC_GATEWAY_PORT": gw, "HC_ORDER_PORT": order,
           "HC_RESERVATION_PORT": res, "HC_PAYMENT_PORT": pay, "HC_NOTIFICATION_PORT": noti,
           "HC_PAYMENT_URL": "http://127.0.0.1:%d" % pay,
           "HC_ORDER_URL": "http://127.0.0.1:%d" % order,
           "HC_JWT_SECRET": hc.JWT_SECRET, "HC_CENTERS": "1:Test Center:100",
           "HC_PAYMENT_TIMEOUT_MS": "5000",  # as the e2e harness: a busy machine
           # --read-only gives the container tmpfs /tmp (1777) and /run; a
           # tmpfs on /run/healthcenter would be root's (podman 4.3 copies the
           # image directory's owner and ignores uid= and mode=)
           "HC_RUN_DIR": "/tmp/healthcenter"}
    args = ["run", "-d", "--name", tag, "--network", "host", "--read-only",
            "-v", "%s:/data" % tag]
    for k, v in env.items():
        args += ["-e", "%s=%s" % (k, v)]
    try:
        podman(*args, image)
        base = "http://127.0.0.1:%d" % gw

        def up_or_stopped():
            if not json.loads(podman("inspect", tag).stdout)[0]["State"]["Running"]:
                return "stopped"
            return hc.request("GET", base + "/packages", timeout=2).status == 200
        if hc.wait_until(up_or_stopped, timeout=60, what="the gateway in the container") != True:
            raise AssertionError("the container stopped:\n%s" % podman("logs", tag).stderr[-3000:])

        conf = json.loads(podman("inspect", tag).stdout)[0]["Config"]
        assert conf["User"] == "10001:10001"
        assert conf["StopSignal"] in (15, "SIGTERM"), conf["StopSignal"]
        assert conf["Healthcheck"]["Test"][-1] == "/usr/share/healthcenter/healthcheck.sh"
        assert podman("healthcheck", "run", tag, check=False).returncode == 0

        # the web app is in the image and the gateway serves it
        page = hc.request("GET", base + "/")
        assert page.status == 200 and "text/html" in page.headers.get("Content-Type", ""), page

        customer = hc.Client(base).as_customer()
        r = customer.post("/orders", hc.booking())
        assert r.status == 201, r
        oid = r.json["id"]
        hc.wait_until(lambda: customer.get("/mypages/%d" % oid).status == 200,
                      what="mypage of the booking")
        assert customer.get("/orders/%d" % oid).json["status"] in ("PAID", "REQUESTED")

        # no compiler or build tool in the runtime image
        found = podman("exec", tag, "/bin/sh", "-c",
                       "for c in cc gcc c99 clang make cmake ld as; do command -v $c; done; true")
        assert found.stdout.strip() == ""
        assert podman("exec", tag, "id", "-u").stdout.strip() == "10001"

        podman("stop", "-t", "40", tag, timeout=60)
        state = json.loads(podman("inspect", tag).stdout)[0]["State"]
        logs = podman("logs", tag).stderr + podman("logs", tag).stdout
        assert state["ExitCode"] == 0, logs[-3000:]
        assert "all processes stopped" in logs
    finally:
        podman("rm", "-f", "-t", "0", tag, check=False)
        podman("volume", "rm", "-f", tag, check=False)
        assert podman("container", "exists", tag, check=False).returncode != 0
        assert podman("volume", "exists", tag, check=False).returncode != 0
