"""Shared pieces of the tests of what ships as containers (tests/deploy): the
podman command with the project's containers.conf, and the image under test
(HC_IMAGE, default healthcenter:latest, built by `make image`). These tests
run rootful podman: `make image-test` and `make kube-test`."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "deploy", "k8s"))

IMAGE = os.environ.get("HC_IMAGE") or "healthcenter:latest"
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(ROOT, "deploy", "podman", "containers.conf"))


def podman(*args, check=True, timeout=180, input=None):
    """Runs podman with the project's containers.conf; returns the
    CompletedProcess (text). check: fail the test on a non-zero exit."""
    cmd = ["podman", *args]
    if os.geteuid() != 0:
        cmd = ["sudo", "env", "CONTAINERS_CONF=" + ENV["CONTAINERS_CONF"], *cmd]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        pytest.fail("podman %s: exit %d\n%s%s" % (" ".join(args), p.returncode, p.stdout[-3000:],
                                                   p.stderr[-3000:]), pytrace=False)
    return p


@pytest.fixture(scope="session")
def image():
    """The image under test; fails (never skips) when it is not built."""
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        pytest.fail("image %s not found: run `make image` first" % IMAGE, pytrace=False)
    return IMAGE


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """A Kafka broker of this session (tests/e2e/broker.py, scripts/kafka.sh)."""
    import broker
    b = broker.Broker(tmp_path_factory.mktemp("kafka"))
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server of this session (tests/e2e/pg.py, scripts/postgres.sh)."""
    import pg
    server = pg.PgServer()
    yield server
    server.close()
