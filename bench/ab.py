#!/usr/bin/env python3
"""Compare two healthcenter binaries side by side: `make bench-ab` (docs/benchmark.md).

Each round starts bench/bench.py for binary A and for binary B at the same time
(each its own system: ports, data directory, nginx), so that whatever else
shares the machine during the round weighs on both alike, and alternates which
one starts first. On a virtual machine whose speed moves from minute to minute,
runs one after the other differ by more than most changes do; two runs side by
side do not. The systems compete for the cores, so the rates are each system's
share, and latencies are those of a machine running both: compare A with B,
not with a lone `make bench`.

Prints ONE JSON line on stdout: every round's figures for A and B, and for each
figure the ratio B / A per round with their median. Progress goes to stderr.
Exit 0 when every run succeeded, 1 otherwise.

    bench/ab.py --a /tmp/healthcenter-main --b build/healthcenter --rounds 3 \\
        -- --duration 8 --warmup 2        (arguments after -- go to bench.py)
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# The figures compared: (name in the output, path in bench.py's JSON line).
FIGURES = (
    ("cpu_ms_per_booking", ("cpu_ms_per_booking", "total")),
    ("bookings_per_s", ("bookings_per_s",)),
    ("write_kb_per_booking", ("write_kb_per_booking", "total")),
    ("pss_mb", ("pss_mb", "total")),
    ("post_p50_ms", ("post_latency_ms", "p50")),
    ("post_p99_ms", ("post_latency_ms", "p99")),
    ("event_to_mypage_p99_ms", ("event_to_mypage_lag_ms", "p99")),
)


def log(fmt, *args):
    print("ab: " + (fmt % args if args else fmt), file=sys.stderr, flush=True)


def figure(result, path):
    """The number at path in one bench.py result, or None."""
    v = result
    for k in path:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def summarise(rounds):
    """rounds: [{"a": bench result, "b": bench result}, ...] -> the figures
    of each run, and per figure the ratios B / A per round and their median
    (null where a run lacks the figure or A's is 0)."""
    out = {"rounds": [], "ratio_b_over_a": {}}
    for r in rounds:
        out["rounds"].append({side: {name: figure(r[side], path) for name, path in FIGURES}
                              | {"ok": bool(r[side].get("ok"))} for side in ("a", "b")})
    for name, path in FIGURES:
        ratios = []
        for r in rounds:
            a, b = figure(r["a"], path), figure(r["b"], path)
            ratios.append(round(b / a, 3) if a and b is not None else None)
        known = [x for x in ratios if x is not None]
        out["ratio_b_over_a"][name] = {
            "rounds": ratios,
            "median": round(statistics.median(known), 3) if known else None,
        }
    out["ok"] = all(r["a"].get("ok") and r["b"].get("ok") for r in rounds) and bool(rounds)
    return out


def run_pair(first, second, bench_args, timeout):
    """Starts bench.py for first and second at once; returns their results
    ({"ok": False, "problems": [...]} for a run that printed no JSON)."""
    procs = []
    for binary in (first, second):
        cmd = [sys.executable, os.path.join(HERE, "bench.py"), "--bin", binary, *bench_args]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGINT)  # bench.py stops its system on SIGINT
            try:
                out, err = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()  # its children have PR_SET_PDEATHSIG
                out, err = p.communicate()
            err += "\nab: bench.py timed out after %d s" % timeout
        line = out.strip().splitlines()[-1] if out.strip() else ""
        try:
            results.append(json.loads(line))
        except ValueError:
            tail = err.strip().splitlines()[-3:]
            results.append({"ok": False, "problems": ["bench.py printed no result"] + tail})
    return results


def main():
    ap = argparse.ArgumentParser(description="Run two healthcenter binaries through bench.py "
                                 "side by side (docs/benchmark.md, make bench-ab).")
    ap.add_argument("--a", required=True, help="binary A (e.g. main's)")
    ap.add_argument("--b", required=True, help="binary B (e.g. the change's)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--timeout", type=int, default=600, help="per round, seconds (default 600)")
    ap.add_argument("bench_args", nargs="*", help="after --: bench.py's arguments")
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error("--rounds must be >= 1")
    bins = {}
    for side in ("a", "b"):
        path = os.path.abspath(getattr(a, side))
        if not os.access(path, os.X_OK):
            log("no executable at %s", path)
            return 1
        bins[side] = path
    bad = [x for x in a.bench_args if x in ("--bin", "--check", "--record-baseline", "--keep-data")]
    if bad:
        ap.error("bench.py's %s cannot be passed through ab.py" % bad[0])
    if "--rate" in a.bench_args and "--loadgen" not in a.bench_args:
        # bench.py looks for hc-loadgen beside --bin, which a copied binary lacks.
        a.bench_args += ["--loadgen", os.path.join(HERE, "..", "build", "hc-loadgen")]
    rounds = []
    for i in range(a.rounds):
        order = ("a", "b") if i % 2 == 0 else ("b", "a")
        log("round %d of %d: %s started first", i + 1, a.rounds, order[0].upper())
        t0 = time.monotonic()
        res = dict(zip(order, run_pair(bins[order[0]], bins[order[1]], a.bench_args, a.timeout)))
        rounds.append(res)
        for side in ("a", "b"):
            r = res[side]
            log("  %s: ok=%s cpu %s ms/booking, %s bookings/s%s", side.upper(), r.get("ok"),
                figure(r, FIGURES[0][1]), figure(r, FIGURES[1][1]),
                "" if r.get("ok") else ", problems: %s" % r.get("problems"))
        log("  round took %.0f s", time.monotonic() - t0)
    out = summarise(rounds)
    out["a"], out["b"] = bins["a"], bins["b"]
    out["bench_args"] = a.bench_args
    out["results"] = rounds
    print(json.dumps(out), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
