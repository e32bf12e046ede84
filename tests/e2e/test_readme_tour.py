"""The README's curl tour stays true: its commands, taken from README.md between
the tour markers, run verbatim with bash and curl against a system of this
test's own, and every answer is checked against what the README says.

How the README is read (the README states the same rules above the tour):
- the ```sh blocks between <!-- tour:begin --> and <!-- tour:end --> hold the
  commands; a command may go on over lines (a trailing backslash, or an open
  quote);
- `GW=...` is the one line replaced: GW becomes this test's gateway. Other
  assignments (`D=$(...)`) run as written and their value is kept for the
  commands after them;
- a `# →` comment, at the end of a command or on the lines right after it,
  gives the HTTP status and parts of the answer: each `"key":value` must
  appear in the body as written, and each `Name: value` header in the output
  of a command run with `-i`. A command without one must answer 2xx;
- a GET whose answer depends on events (the reservation, mypage, SMS) is
  asked again until it matches, within a deadline; a command that changes
  something runs once.

curl reads a config file of this test (CURL_HOME) that adds `--write-out` for
the status and a time limit; the commands themselves are not changed.
"""

import os
import re
import subprocess
import time

import pytest

import hc

BEGIN = "<!-- tour:begin -->"
END = "<!-- tour:end -->"
README_GW = "GW=http://localhost:8080"
STATUS_MARK = "\n__hc_tour_status__:"
DEADLINE = 15.0  # seconds for an answer that follows from events

JSON_FRAGMENT = re.compile(r'"[A-Za-z_][A-Za-z0-9_]*":(?:"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)')
HEADER_FRAGMENT = re.compile(r"(?:^|[\s,])([A-Z][A-Za-z-]*): ([^\s,]+)")
ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=")


class Command:
    def __init__(self, text, comments, line):
        self.text = text.strip()
        self.comments = comments
        self.line = line  # README line number of its first line

    @property
    def expectation(self):
        """The text after the first '→' of its comments, or None."""
        for c in self.comments:
            if "→" in c:
                return c.split("→", 1)[1]
        return None

    def __repr__(self):
        return "README.md:%d: %s" % (self.line, self.text)


def readme_section(begin, end):
    """(README's text between the markers begin and end, the line it starts on)."""
    with open(os.path.join(hc.repo_root(), "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert begin in text and end in text, "README.md lacks the markers %s ... %s" % (begin, end)
    start = text.index(begin)
    return text[start:text.index(end)], text[:start].count("\n") + 1


def readme_tour():
    """(the tour's text, the README line number it starts on)."""
    return readme_section(BEGIN, END)


def parse_commands(tour, first_line):
    """The tour's commands, in order, each with its comments."""
    commands = []
    in_sh = False
    cur, comments, cur_line = "", [], 0
    quote = None
    for n, line in enumerate(tour.split("\n"), first_line):
        if not cur and line.startswith("```"):
            in_sh = line.strip() == "```sh" if not in_sh else False
            continue
        if not in_sh:
            continue
        if not cur:
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("#"):
                # "# → ..." right after a command belongs to it; other
                # comment lines are the README's prose.
                if stripped.startswith("# →") and commands:
                    commands[-1].comments.append(stripped[1:])
                continue
            cur_line = n
        code, comment, quote = split_line(line, quote)
        if comment is not None:
            comments.append(comment)
        cur += code + "\n"
        if quote is None and not code.rstrip().endswith("\\"):
            commands.append(Command(cur, comments, cur_line))
            cur, comments = "", []
    assert not cur, "the tour ends inside a command: %r" % cur
    return commands


def split_line(line, quote):
    """Splits one line of shell into (code, comment or None, open quote after it)."""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == quote:
                quote = None
            elif ch == "\\" and quote == '"':
                i += 1
        elif ch in "'\"":
            quote = ch
        elif ch == "\\":
            i += 1
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i + 1:].strip(), None
        i += 1
    return line, None, quote


def parse_expectation(text, with_headers):
    """(status or None, JSON fragments, headers) stated by a '→' comment."""
    if text is None:
        return None, [], []
    m = re.match(r"\s*,?\s*(\d{3})\b", text)
    status = int(m.group(1)) if m else None
    fragments = JSON_FRAGMENT.findall(text)
    headers = HEADER_FRAGMENT.findall(text) if with_headers else []
    return status, fragments, headers


def fragment_in(fragment, body):
    """fragment appears in body as written (a number not as the start of a longer one)."""
    tail = r"(?![0-9.])" if fragment[-1].isdigit() else ""
    return re.search(re.escape(fragment) + tail, body) is not None


def is_read_only(cmd):
    return not re.search(r"(^|\s)(-X|--request|-d|--data\S*)(\s|=)", cmd.text)


@pytest.fixture
def curl_home(tmp_path):
    """A curl config that reports the status after each answer and bounds the time."""
    d = tmp_path / "curl"
    d.mkdir()
    (d / ".curlrc").write_text('write-out = "%s%%{http_code}"\nmax-time = 10\n'
                               % STATUS_MARK.replace("\n", "\\n"))
    return str(d)


def run(cmd_text, env, cwd=None):
    return subprocess.run(["bash", "-c", cmd_text], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=30)


def check_command(cmd, env, cwd=None):
    """Runs one curl command of the tour (again, for a read-only one, until its
    answer is the README's); fails the test with what differs."""
    status, fragments, headers = parse_expectation(cmd.expectation, " -i " in " %s " % cmd.text)
    deadline = time.monotonic() + (DEADLINE if is_read_only(cmd) else 0)
    while True:
        p = run(cmd.text, env, cwd)
        problems = []
        if p.returncode != 0:
            problems.append("curl exited %d: %s" % (p.returncode, p.stderr.strip()))
        out, sep, code = p.stdout.rpartition(STATUS_MARK)
        got = int(code) if sep and code.strip().isdigit() else None
        if not problems:
            if got is None:
                problems.append("no status in the output")
            elif status is not None and got != status:
                problems.append("status %s, the README says %d" % (got, status))
            elif status is None and not 200 <= got < 300:
                problems.append("status %s, expected 2xx (the README states none)" % got)
            for f in fragments:
                if not fragment_in(f, out):
                    problems.append("no %s in the answer" % f)
            for name, value in headers:
                if not re.search(r"(?im)^%s: %s\r?$" % (re.escape(name), re.escape(value)), out):
                    problems.append("no header %s: %s" % (name, value))
        if not problems:
            return out
        if time.monotonic() >= deadline:
            pytest.fail("%r\n  %s\n  output: %s" % (cmd, "\n  ".join(problems), out[:1500]),
                        pytrace=False)
        time.sleep(0.05)  # poll interval while the events arrive


def test_the_tour_is_parsed_as_intended():
    """The parser finds the tour's commands, the GW line first, and a claim on
    each command that changes something (so a wrong README cannot pass by
    stating nothing)."""
    tour, first = readme_tour()
    commands = parse_commands(tour, first)
    assert commands[0].text == README_GW, commands[0]
    curls = [c for c in commands if c.text.startswith("curl ")]
    assert len(curls) >= 20, commands
    assert any(ASSIGNMENT.match(c.text) and c.text.startswith("D=") for c in commands)
    for c in curls:
        assert "$GW/" in c.text or '"$GW/' in c.text, "%r does not go through $GW" % c
        if not is_read_only(c):
            assert parse_expectation(c.expectation, True)[0], "%r states no status" % c
    booking = next(c for c in curls if "7f1c2a" in c.text)
    status, fragments, headers = parse_expectation(booking.expectation, True)
    assert status == 201 and '"status":"PAID"' in fragments, booking.comments
    assert ("Location", "http://localhost:8080/orders/1") in headers, booking.comments


@pytest.mark.embedded_only  # the tour is `make run`'s: `healthcenter token` reads ./data's SQLite accounts
def test_readme_tour_runs_verbatim(make_system, curl_home, tmp_path):
    # The README's centers and links: the defaults, and the README's public URL;
    # the token key in the data directory (no HC_JWT_SECRET), as in a clone.
    s = make_system(HC_CENTERS=None, HC_PUBLIC_URL="http://localhost:8080", HC_JWT_SECRET=None)
    s.start_all()
    # The tour runs where a clone's `make run` leaves things: ./build/healthcenter
    # (for `healthcenter token`) and ./data (its key and accounts).
    clone = tmp_path / "clone"
    (clone / "build").mkdir(parents=True)
    os.symlink(s.bin, clone / "build" / "healthcenter")
    os.symlink(s.data_dir, clone / "data")
    cwd = str(clone)
    tour, first = readme_tour()
    commands = parse_commands(tour, first)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    env["CURL_HOME"] = curl_home
    env.pop("XDG_CONFIG_HOME", None)  # curl would look there before CURL_HOME
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        env.pop(k, None)
    ran = 0
    for cmd in commands:
        m = ASSIGNMENT.match(cmd.text)
        if cmd.text == README_GW:
            env["GW"] = s.base("gateway")
            continue
        if m:
            name = m.group(1)
            p = run("%s\nprintf '%%s' \"$%s\"" % (cmd.text, name), env, cwd)
            assert p.returncode == 0 and p.stdout, "%r failed: %s" % (cmd, p.stderr)
            env[name] = p.stdout
            continue
        assert "GW" in env, "%r comes before the GW= line" % cmd
        check_command(cmd, env, cwd)
        ran += 1
    assert ran >= 20
