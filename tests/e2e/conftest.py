"""pytest fixtures for the end-to-end suite: a fresh healthcenter System per test,
stopped at teardown whatever happened, with the tail of its logs attached to
the report of a failed test."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hc  # noqa: E402


@pytest.fixture(scope="session")
def hc_bin():
    path = hc.binary_path()
    if not os.access(path, os.X_OK):
        pytest.fail("healthcenter binary not found or not executable at %s "
                    "(build it, or set HC_BIN)" % path, pytrace=False)
    return path


@pytest.fixture
def make_system(request, tmp_path, hc_bin):
    """Factory: make_system(**env) -> an unstarted hc.System with its own free
    ports and data dir; env values override the HC_* defaults (None removes).
    Every System made is stopped at teardown."""
    systems = []
    request.node._hc_systems = systems

    def make(**env):
        d = tmp_path / ("data%d" % len(systems) if systems else "data")
        d.mkdir()
        s = hc.System(d, hc_bin, env)
        systems.append(s)
        return s

    yield make
    leftovers = []
    for s in systems:
        s.stop_all()
        for proc in s.all_procs:
            if proc.alive():
                leftovers.append("%s/%d" % (proc.name, proc.pid))
    assert not leftovers, "processes outlived the test: %s" % leftovers


@pytest.fixture(scope="session")
def pg_server():
    """The session's one PostgreSQL server (tests/e2e/pg.py), stopped at the
    end of the session, also when pytest dies."""
    import pg
    server = pg.PgServer()
    yield server
    server.close()


@pytest.fixture
def pg_db(request, pg_server):
    """A fresh PostgreSQL database for this test: its name."""
    return pg_server.new_database(request.node.nodeid)


@pytest.fixture
def system(make_system):
    """The whole system started with `healthcenter up` (gateway included)."""
    s = make_system()
    s.start_all()
    return s


@pytest.fixture
def services(make_system):
    """The four services started as separate processes (no gateway)."""
    s = make_system()
    s.start_services()
    return s


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        for i, s in enumerate(getattr(item, "_hc_systems", [])):
            rep.sections.append(("healthcenter logs%s" % (" #%d" % i if i else ""),
                                 s.log_report()))
