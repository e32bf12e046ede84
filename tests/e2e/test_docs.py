"""The README stays true to the binary: its configuration table is exactly what
`healthcenter config --markdown` prints, and `--help` names every subcommand and
every variable."""

import os
import re
import subprocess

import hc

BEGIN = "<!-- config-table:begin -->\n"
END = "<!-- config-table:end -->"


def run(*args):
    return subprocess.run([hc.binary_path(), *args], capture_output=True, text=True,
                          timeout=10, check=True).stdout


def readme():
    with open(os.path.join(hc.repo_root(), "README.md"), encoding="utf-8") as f:
        return f.read()


def test_readme_config_table_matches_the_binary():
    text = readme()
    assert BEGIN in text and END in text, "README lacks the config-table markers"
    table = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    assert table == run("config", "--markdown"), \
        "README's configuration table is stale: regenerate it with `healthcenter config --markdown`"


def test_help_names_every_subcommand_and_variable():
    out = run("--help")
    for cmd in ("up", "order", "payment", "reservation", "notification", "version", "config"):
        assert re.search(r"^\s+%s\b" % cmd, out, re.M), "--help does not list %s" % cmd
    names = re.findall(r"^\| `(HC_[A-Z0-9_]+)`", run("config", "--markdown"), re.M)
    assert len(names) >= 20, names
    for name in names:
        assert name in out, "--help does not mention %s" % name


def test_version_prints_the_project_version():
    out = run("version").strip()
    assert re.search(r"\d+\.\d+\.\d+", out), out
