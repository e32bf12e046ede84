"""pytest fixtures for the end-to-end suite: a fresh healthcenter System per test,
stopped at teardown whatever happened, with the tail of its logs attached to
the report of a failed test.

HC_TEST_STACK picks the stack every make_system() system runs on:
`embedded` (default: SQLite files, the embedded log) or `distributed`
(PostgreSQL and Kafka: the session's one server and one broker, a fresh
database, topic and consumer-group prefix per system). Tests about the
embedded stack itself carry the `embedded_only` mark and are deselected in
the distributed pass (-m "not embedded_only"; docs/distributed.md lists them
and says why)."""

import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hc  # noqa: E402

STACKS = ("embedded", "distributed")
STACK = os.environ.get("HC_TEST_STACK") or "embedded"


def pytest_configure(config):
    if STACK not in STACKS:
        raise pytest.UsageError("HC_TEST_STACK=%s: expected one of %s" % (STACK, ", ".join(STACKS)))


def pytest_report_header(config):
    return "healthcenter stack: %s (HC_TEST_STACK)" % STACK


@pytest.hookimpl(trylast=True)  # after -m has deselected
def pytest_collection_modifyitems(config, items):
    """An embedded_only test collected in the distributed pass would test the
    embedded stack under the wrong name: refuse to run it rather than skip it."""
    if STACK != "distributed":
        return
    bad = [i.nodeid for i in items if i.get_closest_marker("embedded_only")]
    if bad:
        raise pytest.UsageError("HC_TEST_STACK=distributed: deselect the embedded_only tests "
                                "(-m \"not embedded_only\"): %s" % ", ".join(bad[:5]))


def stack_env(request, tag):
    """The HC_* settings that put one system on the session's distributed
    stack: a fresh database on the PostgreSQL server, a fresh topic and
    consumer-group prefix on the broker. Empty on the embedded stack."""
    if STACK != "distributed":
        return {}
    pg_server = request.getfixturevalue("pg_server")
    broker = request.getfixturevalue("kafka_broker")
    db = pg_server.new_database("%s#%s" % (request.node.nodeid, tag))
    return {"HC_DB": "postgres", "HC_DB_URL": pg_server.url(db),
            "HC_BUS": "kafka", "HC_KAFKA_BROKERS": broker.brokers,
            "HC_TOPIC": "hc-test-%s" % tag, "HC_KAFKA_GROUP_PREFIX": "t%s-" % tag,
            # A member killed with -9 leaves its group after 6 s, not 45.
            "HC_KAFKA_SESSION_TIMEOUT_MS": "6000"}


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
        full = stack_env(request, uuid.uuid4().hex[:8])
        full.update(env)
        s = hc.System(d, hc_bin, full)
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
def kafka_broker(tmp_path_factory):
    """The session's Kafka broker (tests/e2e/broker.py). A broker that cannot
    start fails the tests: it never skips them (scripts/install-deps.sh
    installs what it needs)."""
    import broker
    b = broker.Broker(tmp_path_factory.mktemp("kafka"))
    # The jars come from Maven Central on a machine's first run (cached in ~/.m2).
    b.start()
    print("\nkafka broker %s ready in %.1f s" % (b.brokers, b.start_seconds[0]))
    yield b
    b.stop()


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
