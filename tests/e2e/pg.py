"""A PostgreSQL 15 server for the end-to-end tests of HC_DB=postgres: one per
test session (scripts/postgres.sh in a temporary directory, 127.0.0.1 on a
free port, run as a non-root user), a database of its own per test, and a
watchdog that stops the server and removes its directory when the pytest
process ends in any way (it holds the read end of a pipe only pytest
writes to; a crash of pytest closes it too)."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

import hc

PG_BIN = "/usr/lib/postgresql/15/bin"

# Runs in its own session: waits for EOF on stdin (pytest gone or done), then
# stops the server and removes its directory.
_WATCHDOG = r"""
import os, shutil, subprocess, sys
script, root, port = sys.argv[1:4]
sys.stdin.buffer.read()
env = dict(os.environ, HC_PG_PORT=port)
subprocess.run([script, "stop", os.path.join(root, "data")], env=env,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
shutil.rmtree(root, ignore_errors=True)
"""


class PgServer:
    """The session's server: start(), stop(), a fresh database per test."""

    def __init__(self):
        if not os.path.exists(os.path.join(PG_BIN, "pg_ctl")):
            raise AssertionError("PostgreSQL 15 is not installed (%s/pg_ctl missing): run "
                                 "scripts/install-deps.sh" % PG_BIN)
        self.script = os.path.join(hc.repo_root(), "scripts", "postgres.sh")
        self.root = tempfile.mkdtemp(prefix="hc-pg-")
        os.chmod(self.root, 0o755)  # the server's user must reach its data dir
        self.data = os.path.join(self.root, "data")
        self.port = hc.free_ports(1)[0]
        # fsync=off: these tests kill processes (the server's too: an
        # immediate shutdown is a crash), never the machine, so a committed
        # transaction is in the OS's page cache and survives; without it a
        # database per test costs seconds of fsync on this disk.
        self.env = dict(os.environ, HC_PG_PORT=str(self.port), HC_PG_DATABASES="postgres",
                        HC_PG_OPTIONS="-c fsync=off")
        r, w = os.pipe()
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, self.script, self.root, str(self.port)],
            stdin=r, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        os.close(r)
        self._pipe = w
        self.databases = 0
        self.start()

    def _script(self, cmd):
        p = subprocess.run([self.script, cmd, self.data], env=self.env, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0 or cmd == "status", \
            "postgres.sh %s failed (%d): %s %s" % (cmd, p.returncode, p.stdout, p.stderr)
        return p

    def start(self):
        self._script("start")

    def stop(self):
        self._script("stop")

    def running(self):
        return self._script("status").returncode == 0

    def psql(self, sql, db="postgres"):
        p = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            "-d", db, "-v", "ON_ERROR_STOP=1", "-Atqc", sql],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, "psql %r: %s" % (sql, p.stderr)
        return p.stdout.strip()

    def url(self, db, password=None):
        user = "postgres" + (":" + password if password else "")
        return "postgresql://%s@127.0.0.1:%d/%s" % (user, self.port, db)

    def new_database(self, name):
        """Creates a database for one test and returns its URL."""
        self.databases += 1
        db = "t%d_%s" % (self.databases, hashlib.sha1(name.encode()).hexdigest()[:8])
        self.psql('CREATE DATABASE "%s"' % db)
        return db

    def close(self):
        """Stops the server (through the watchdog) and waits for it."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
            try:
                self._watchdog.wait(150)
            finally:
                if os.path.exists(self.root):
                    shutil.rmtree(self.root, ignore_errors=True)
