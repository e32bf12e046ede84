"""The web app served from a tree other users cannot enter (a clone under
/root or in `mktemp -d`, mode 0700): started by root, nginx ran its workers as
`nobody` (no `user` in the config), who could not read web/, so /, /admin and
/assets/... answered the JSON 404 ("Permission denied" in error.log). Now
`up` and `healthcenter gateway` render @WORKER_USER@: `user <user> <group>;`
naming whoever runs them when that is root, nothing for anybody else (the
workers keep the caller's user then). docs/gateway.md, "The template".

Both tests hold whoever runs them: as root they are the regression test (the
workers are root, the config names root); as another user they check that
the config has no `user` and the workers are that user, and the pages load
from a private tree all the same."""

import grp
import os
import pwd
import re
import shutil
import stat

import hc


def private_web(tmp_path):
    """A copy of the repository's web/ inside a mode 0700 directory; its path."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    os.chmod(private, 0o700)  # whatever the umask
    web = private / "web"
    shutil.copytree(os.path.join(os.environ.get("HC_SOURCE_DIR") or hc.repo_root(), "web"), web)
    assert stat.S_IMODE(os.stat(private).st_mode) & 0o077 == 0
    return str(web)


def worker_uids(run_dir):
    """The effective uid of each of nginx's workers (the master's children)."""
    with open(os.path.join(run_dir, "nginx.pid")) as f:
        master = int(f.read().strip())
    uids = {}
    for pid in hc.children_of(master):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Uid:"):
                    uids[pid] = int(line.split()[2])
    assert uids, "nginx (pid %d) has no workers" % master
    return uids


def user_lines(run_dir):
    with open(os.path.join(run_dir, "nginx.conf")) as f:
        return [line.strip() for line in f if re.match(r"\s*user\s", line)]


def assert_config_and_workers(run_dir):
    """The rendered `user` and the workers' uid, for whoever runs the test."""
    if os.geteuid() == 0:
        want = "user %s %s;" % (pwd.getpwuid(0).pw_name, grp.getgrgid(os.getegid()).gr_name)
        assert user_lines(run_dir) == [want]
    else:
        assert user_lines(run_dir) == []
    uids = worker_uids(run_dir)
    assert set(uids.values()) == {os.geteuid()}, uids


def assert_pages_served(base, run_dir, logs=()):
    """/ and /admin are the HTML pages, and an asset they name loads; nginx
    logged no "Permission denied" (in error.log, or logs: its output)."""
    for path, script in (("/", "customer.js"), ("/admin", "admin.js")):
        r = hc.request("GET", base + path, headers={"Accept": "text/html"})
        err = hc.tail(os.path.join(run_dir, "error.log"), 5)
        assert r.status == 200, (path, r, err)
        assert r.headers["Content-Type"].startswith("text/html"), (path, r.headers)
        page = r.raw.decode("utf-8")
        assert "<html" in page.lower()
        m = re.search(r'/assets/[0-9a-f]{16}/%s' % re.escape(script), page)
        assert m, "%s names no %s" % (path, script)
        a = hc.request("GET", base + m.group(0))
        assert a.status == 200, (m.group(0), a, err)
        assert a.headers["Content-Type"].startswith("text/javascript"), a.headers
    for log in (os.path.join(run_dir, "error.log"),) + tuple(logs):
        with open(log, errors="replace") as f:
            assert "Permission denied" not in f.read(), log


def test_up_serves_the_web_app_from_a_private_tree(make_system, tmp_path):
    web = private_web(tmp_path)
    s = make_system(HC_WEB_DIR=web)
    s.start_all()
    assert_pages_served(s.base("gateway"), s.run_dir)
    assert_config_and_workers(s.run_dir)


def test_gateway_mode_serves_the_web_app_from_a_private_tree(make_system, tmp_path):
    web = private_web(tmp_path)
    s = make_system(HC_WEB_DIR=web)
    gw = s._spawn("gateway", ["gateway"])  # no services: the pages need none

    def up():
        assert gw.alive(), hc.tail(gw.log_path, 30)
        try:
            return hc.request("GET", s.base("gateway") + "/gateway/health",
                              timeout=2.0).status == 200
        except OSError:
            return False
    hc.wait_until(up, what="gateway GET /gateway/health")
    assert_pages_served(s.base("gateway"), s.run_dir, logs=(gw.log_path,))
    assert_config_and_workers(s.run_dir)
