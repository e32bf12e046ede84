"""A single-node Apache Kafka 3.9 broker for the end-to-end tests, run by
scripts/kafka.sh on free ports of 127.0.0.1: one per test session (conftest.py
`kafka_broker`), stopped with the session, and by the script's watchdog
(KAFKA_WATCH_PID, the pytest process) if the session dies."""

import os
import subprocess
import time

import pytest

import hc

SCRIPT = os.path.join(hc.repo_root(), "scripts", "kafka.sh")


class Broker:
    """One single-node broker run by scripts/kafka.sh, stoppable and
    restartable (its data dir is kept across a restart)."""

    def __init__(self, tmpdir):
        port, controller = hc.free_ports(2)
        self.port = port
        self.brokers = "127.0.0.1:%d" % port
        self.env = dict(os.environ, KAFKA_PORT=str(port), KAFKA_CONTROLLER_PORT=str(controller),
                        KAFKA_DIR=str(tmpdir), KAFKA_WATCH_PID=str(os.getpid()),
                        KAFKA_READY_TIMEOUT="90")
        self.start_seconds = []

    def _run(self, cmd, timeout=600):
        return subprocess.run([SCRIPT, cmd], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def start(self):
        t0 = time.monotonic()
        r = self._run("start")
        if r.returncode != 0:
            pytest.fail("scripts/kafka.sh start failed (%d):\n%s\n%s"
                        % (r.returncode, r.stdout, r.stderr), pytrace=False)
        self.start_seconds.append(time.monotonic() - t0)

    def stop(self):
        r = self._run("stop", timeout=60)
        assert r.returncode == 0, (r.stdout, r.stderr)

    def status(self):
        return self._run("status", timeout=30).returncode

    def topic_partitions(self, topic):
        """Partitions of topic from a metadata request (kcat -L)."""
        r = subprocess.run(["kcat", "-b", self.brokers, "-L", "-t", topic, "-m", "5"],
                           capture_output=True, text=True, timeout=30)
        for line in r.stdout.splitlines():
            line = line.strip()
            if line.startswith('topic "%s" with ' % topic):
                return int(line.split(" with ")[1].split()[0])
        return None
