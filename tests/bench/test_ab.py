"""bench/ab.py (`make bench-ab`): its summary of paired runs, its refusals, and
one real round of two systems side by side. HC_BIN names the healthcenter
binary (ctest sets it). Counts and structure only, no timing asserts."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
AB = os.path.join(HERE, "..", "..", "bench", "ab.py")
BIN = os.environ.get("HC_BIN") or os.path.join(HERE, "..", "..", "build", "healthcenter")

sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import ab  # noqa: E402


def result(cpu, rate, ok=True, e2m=None):
    r = {"ok": ok, "cpu_ms_per_booking": {"total": cpu, "order": cpu / 2},
         "bookings_per_s": rate, "post_latency_ms": {"p50": 10.0, "p99": 20.0}}
    if e2m is not None:
        r["event_to_mypage_lag_ms"] = {"p99": e2m}
    return r


def test_ratios_per_round_and_median():
    rounds = [{"a": result(1.0, 1000), "b": result(0.9, 1100)},
              {"a": result(2.0, 500), "b": result(1.9, 520)},
              {"a": result(1.0, 800), "b": result(1.2, 700)}]
    s = ab.summarise(rounds)
    cpu = s["ratio_b_over_a"]["cpu_ms_per_booking"]
    assert cpu["rounds"] == [0.9, 0.95, 1.2]
    assert cpu["median"] == 0.95
    assert s["ratio_b_over_a"]["bookings_per_s"]["rounds"] == [1.1, 1.04, 0.875]
    assert s["rounds"][1]["a"]["cpu_ms_per_booking"] == 2.0
    assert s["rounds"][1]["b"]["post_p99_ms"] == 20.0
    assert s["ok"] is True


def test_missing_figures_and_failed_runs():
    rounds = [{"a": result(1.0, 1000, e2m=10), "b": result(1.1, 900)},
              {"a": {"ok": False, "problems": ["x"]}, "b": result(1.0, 1000, e2m=12)}]
    s = ab.summarise(rounds)
    # a figure one side lacks gives no ratio; the median is of the rest
    assert s["ratio_b_over_a"]["event_to_mypage_p99_ms"] == {"rounds": [None, None],
                                                             "median": None}
    assert s["ratio_b_over_a"]["cpu_ms_per_booking"] == {"rounds": [1.1, None], "median": 1.1}
    assert s["rounds"][1]["a"]["ok"] is False
    assert s["ok"] is False
    assert ab.summarise([])["ok"] is False


def test_refuses_what_it_cannot_pass_through(tmp_path):
    p = subprocess.run([sys.executable, AB, "--a", BIN, "--b", BIN, "--", "--bin", BIN],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--bin" in p.stderr
    p = subprocess.run([sys.executable, AB, "--a", str(tmp_path / "none"), "--b", BIN],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "no executable" in p.stderr
    assert p.stdout == ""


def test_one_round_side_by_side():
    p = subprocess.run([sys.executable, AB, "--a", BIN, "--b", BIN, "--rounds", "1", "--",
                        "--duration", "1", "--warmup", "0", "--concurrency", "4"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["ok"] is True
    assert len(out["rounds"]) == 1 and len(out["results"]) == 1
    for side in ("a", "b"):
        run = out["rounds"][0][side]
        assert run["ok"] is True
        assert run["bookings_per_s"] > 0 and run["cpu_ms_per_booking"] > 0
    # two systems: each holds its own bookings (and those still in flight when
    # its load stopped), not the other's
    res = out["results"][0]
    both = res["a"]["bookings"] + res["b"]["bookings"]
    for side in ("a", "b"):
        assert res[side]["bookings"] <= res[side]["orders_total"] < both
    assert out["ratio_b_over_a"]["cpu_ms_per_booking"]["median"] > 0
