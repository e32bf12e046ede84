#!/usr/bin/python3
"""profile.py: where the health-checkup system spends its time (`make profile`).

It starts `healthcenter up` the way bench/bench.py does (free ports, a fresh
data directory, tokens from `healthcenter token`), warms it up with wrk and
bench/book.lua, then, as --what asks:

  perf    `perf record -F 999 --call-graph dwarf` (or fp) on every service
          process and the nginx processes (all their threads, the ones made
          during the run too) for a fixed-length wrk load; the samples are
          grouped per service process, per thread name, per DSO kind (kernel,
          sqlite, jansson, libc, healthcenter, ...) and per symbol (self and
          inclusive). Written to perf.md / perf.json.
  flame   an SVG flame graph of those samples (whole system, root = process
          then thread name), drawn here by a small collapse + SVG renderer
          (standard library): flame.svg, and the collapsed stacks flame.folded.
  strace  `strace -c -f -p PID` on every service process (and the nginx
          workers) while exactly --bookings bookings are made through the
          gateway and until the asynchronous side is done; the counts divided
          by the bookings: strace.md / strace.json.
  wal     what the databases write: right after a wrk load of --duration s,
          a copy of each service's WAL and of the event log's, whose frames
          (since the WAL last started over) are counted per commit and per
          table or index (page numbers mapped with SQLite's dbstat on a copy
          of the database file): wal.md / wal.json. SQLite writes whole
          pages, so this says which tables make a commit expensive.

Tools: perf is Debian's `linux-perf`, strace is `strace`, wrk is `wrk`.
Everything goes to --out (a new directory under /tmp unless given; printed at
the end). Standard library only; nothing sleeps for a fixed time (every wait
polls with a deadline); only processes this script started are signalled, by
their PID. See docs/profile.md.
"""

import argparse
import collections
import html
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sqlite3
import struct
import tempfile
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (bench/bench.py: System, free_ports, build_env, run_wrk, ...)

SERVICES = bench.SERVICES
TOOLS = {"perf": "linux-perf", "strace": "strace", "wrk": "wrk"}
WHATS = ("perf", "flame", "strace", "wal")
WAL_DBS = tuple("%s.db" % s for s in SERVICES) + ("bus/events.db",)


def snap_name(db):
    """The file name of database db (a WAL_DBS path) among the WAL copies."""
    return db.replace("/", "_")


class ProfileError(Exception):
    """A failure that ends the profile with a message and exit code 1."""


def log(msg, *args):
    sys.stderr.write("profile: " + (msg % args if args else msg) + "\n")
    sys.stderr.flush()


def need_tools(names):
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise ProfileError("missing tool(s): %s; install the Debian package(s): apt-get install %s"
                           % (", ".join(missing), " ".join(TOOLS[n] for n in missing)))
    if "perf" in names:
        p = subprocess.run(["perf", "--version"], capture_output=True, text=True, timeout=30)
        if p.returncode != 0:  # the /usr/bin/perf wrapper without a matching perf_X.Y
            raise ProfileError("perf does not run (%s): apt-get install linux-perf"
                               % (p.stderr.strip() or p.stdout.strip())[:300])


def wait_for(cond, timeout, what, interval=0.02):
    """Polls cond() until it is true; ProfileError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise ProfileError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)  # poll interval


def targets(sup_pid):
    """{name: pid} of the four services and the nginx processes under the supervisor."""
    out = {}
    for name, pid in bench.named_processes(sup_pid):
        if name in SERVICES or name.startswith("nginx"):
            out[name] = pid
    return out


def group_of(name):
    """The report's group of a process name: a service, or "gateway" for nginx."""
    return "gateway" if name.startswith("nginx") else name


# --------------------------------------------------------------------------- DSO kinds

DSO_KINDS = (  # (kind, regex on the DSO path), first match wins
    ("kernel", re.compile(r"^\[kernel|^\[vdso\]|^\[vsyscall\]|\.ko$")),
    ("healthcenter", re.compile(r"/healthcenter$")),
    ("nginx", re.compile(r"/nginx$|ngx_")),
    ("sqlite", re.compile(r"libsqlite3")),
    ("jansson", re.compile(r"libjansson")),
    ("microhttpd", re.compile(r"libmicrohttpd")),
    ("curl", re.compile(r"libcurl|libnghttp|libssh|libidn|libpsl|librtmp|libbrotli")),
    ("crypto", re.compile(r"libsodium|libcrypto|libssl|libgnutls|libnettle|libhogweed|libgmp|libjwt")),
    ("zlib", re.compile(r"libz\.so")),
    ("libc", re.compile(r"libc\.so|libc-|libpthread|libm\.so|ld-linux")),
)
KIND_COLORS = {  # base RGB of each kind in the flame graph
    "kernel": (230, 140, 50), "healthcenter": (90, 190, 90), "nginx": (80, 180, 180),
    "sqlite": (90, 140, 230), "jansson": (170, 110, 220), "microhttpd": (220, 200, 70),
    "curl": (200, 120, 160), "crypto": (150, 150, 100), "zlib": (120, 170, 140),
    "libc": (225, 90, 80), "other": (160, 160, 160), "root": (200, 200, 200),
}


def dso_kind(dso):
    for kind, rx in DSO_KINDS:
        if rx.search(dso or ""):
            return kind
    return "other"


# --------------------------------------------------------------------------- perf


class PerfRecorder:
    """perf record started disabled (-D -1) with a control FIFO, so the samples
    cover exactly the load: enable -> ack -> load -> disable -> ack -> SIGINT."""

    def __init__(self, out_dir, pids, freq, callgraph):
        self.data = os.path.join(out_dir, "perf.data")
        # the FIFOs in a directory of their own: --control splits its argument at commas
        self.fifo_dir = tempfile.mkdtemp(prefix="hc-perf-ctl-")
        self.ctl = os.path.join(self.fifo_dir, "ctl.fifo")
        self.ack = os.path.join(self.fifo_dir, "ack.fifo")
        for f in (self.ctl, self.ack):
            os.mkfifo(f)
        cg = callgraph  # "fp", "dwarf" or "dwarf,STACK_BYTES"
        self.cmd = ["perf", "record", "-F", str(freq), "--call-graph", cg, "-D", "-1",
                    "--control", "fifo:%s,%s" % (self.ctl, self.ack), "-o", self.data,
                    "-p", ",".join(str(p) for p in sorted(pids))]
        self.proc = None
        self.stderr = os.path.join(out_dir, "perf-record.log")
        self.ctl_fd = self.ack_fd = None

    def start(self):
        log("perf: %s", " ".join(self.cmd))
        self.errf = open(self.stderr, "w")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self.errf,
                                     stderr=self.errf)
        # opening the FIFOs blocks until perf opens its ends: do it without blocking
        self.ctl_fd = self._open(self.ctl, os.O_WRONLY)
        self.ack_fd = self._open(self.ack, os.O_RDONLY)

    def _open(self, path, mode):
        def attempt():
            if self.proc.poll() is not None:
                raise ProfileError("perf record exited (%s): %s" % (self.proc.returncode,
                                                                    self._err()))
            try:
                return os.open(path, mode | os.O_NONBLOCK) + 1  # +1: fd 0 is true too
            except OSError:
                return None
        return wait_for(attempt, 60, "perf record to open %s" % path) - 1

    def _err(self):
        try:
            with open(self.stderr, errors="replace") as f:
                return f.read()[-1500:]
        except OSError:
            return ""

    def command(self, word, timeout=30):
        os.write(self.ctl_fd, (word + "\n").encode())
        buf = b""

        def acked():
            nonlocal buf
            if self.proc.poll() is not None:
                raise ProfileError("perf record exited during '%s': %s" % (word, self._err()))
            try:
                buf += os.read(self.ack_fd, 64)
            except BlockingIOError:
                pass
            return b"ack" in buf
        wait_for(acked, timeout, "perf to acknowledge '%s'" % word, interval=0.005)

    def stop(self, timeout=300):
        """SIGINT to perf (it writes perf.data out); returns problems."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                problems.append("perf record did not exit within %d s of SIGINT; killed" % timeout)
                self.proc.kill()
                self.proc.wait()
        for fd in (self.ctl_fd, self.ack_fd):
            if fd is not None:
                os.close(fd)
        self.ctl_fd = self.ack_fd = None
        shutil.rmtree(self.fifo_dir, ignore_errors=True)
        self.errf.close()
        if self.proc.returncode not in (0, -signal.SIGINT, 130):
            problems.append("perf record exited with %s: %s" % (self.proc.returncode, self._err()))
        return problems


HDR_RE = re.compile(r"^(\S.*?)\s+(\d+)/(\d+)\s*:?\s*$")
FRAME_RE = re.compile(r"^\s+([0-9a-fA-F]+)\s+(.*?)\s+\((.*)\)\s*$")


def perf_samples(data_file, out_dir):
    """Yields (comm, pid, tid, [(sym, dso), ...] leaf first) from `perf script`."""
    cmd = ["perf", "script", "-i", data_file, "-F", "comm,pid,tid,ip,sym,dso"]
    errf = open(os.path.join(out_dir, "perf-script.log"), "w")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL,
                         text=True, errors="replace", bufsize=1 << 20)
    cur = None
    try:
        for line in p.stdout:
            if not line.strip():
                if cur is not None:
                    yield cur
                    cur = None
                continue
            if not line[0].isspace():
                if cur is not None:
                    yield cur
                m = HDR_RE.match(line.rstrip("\n"))
                cur = (m.group(1).strip(), int(m.group(2)), int(m.group(3)), []) if m else None
                continue
            if cur is not None:
                m = FRAME_RE.match(line.rstrip("\n"))
                if m:
                    sym = m.group(2)
                    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
                    cur[3].append((sym, m.group(3)))
                    fix_inlined(cur[3])
        if cur is not None:
            yield cur
    finally:
        p.stdout.close()
        rc = p.wait(timeout=600)
        errf.close()
        if rc != 0:
            raise ProfileError("perf script exited with %d (see %s)"
                               % (rc, os.path.join(out_dir, "perf-script.log")))


def fix_inlined(frames):
    """perf prints an inlined function's DSO as "inlined": it is the DSO of the
    physical frame printed after it; fill it in once that frame has come."""
    if frames[-1][1] != "inlined":
        for i in range(len(frames) - 2, -1, -1):
            if frames[i][1] != "inlined":
                break
            frames[i] = (frames[i][0], frames[-1][1])


SYNC_SYMS = ("fdatasync", "fsync", "__libc_fdatasync", "__libc_fsync", "__x64_sys_fdatasync",
             "__x64_sys_fsync")
ROOT_SYMS = ("clone3", "clone", "__clone", "__clone3", "_start", "start_thread",
             "__libc_start_main", "__libc_start_call_main", "ret_from_fork",
             "entry_SYSCALL_64_after_hwframe")


def frame_label(sym, dso):
    if sym and sym != "[unknown]":
        return sym
    return "[%s]" % os.path.basename(dso or "unknown")


def analyse_perf(samples, names, top):
    """Aggregates the samples: per group (service / gateway), per thread, per DSO kind,
    per symbol (self and inclusive); plus the folded stacks for the flame graph."""
    total = 0
    complete = 0
    per_group = collections.Counter()
    per_kind = collections.Counter()
    g_thread = collections.defaultdict(collections.Counter)
    g_kind = collections.defaultdict(collections.Counter)
    g_self = collections.defaultdict(collections.Counter)
    g_incl = collections.defaultdict(collections.Counter)
    t_self = collections.defaultdict(collections.Counter)
    folded = collections.Counter()
    g_sync = collections.defaultdict(collections.Counter)  # fsync time by own-code caller
    depth_sum = 0
    for comm, pid, tid, frames in samples:
        name = names.get(pid)
        if name is None:
            continue  # not one of ours (should not happen with -p)
        g = group_of(name)
        while len(frames) > 1 and frames[-1][0] in ("[unknown]", ""):
            frames.pop()  # an unwinding that lost its way past the thread's entry
        total += 1
        per_group[g] += 1
        thread = comm if g != "gateway" else name
        g_thread[g][thread] += 1
        depth_sum += len(frames)
        if frames:
            leaf_sym, leaf_dso = frames[0]
            kind = dso_kind(leaf_dso)
            label = frame_label(leaf_sym, leaf_dso)
            if frames[-1][0] in ROOT_SYMS or frames[-1][0].endswith("_main"):
                complete += 1
        else:
            kind, label, leaf_dso = "other", "[no stack]", ""
        per_kind[kind] += 1
        g_kind[g][kind] += 1
        key = (label, os.path.basename(leaf_dso or ""), kind)
        g_self[g][key] += 1
        t_self[(g, thread)][key] += 1
        seen = set()
        for s, d in frames:
            k = (frame_label(s, d), os.path.basename(d or ""), dso_kind(d))
            if k not in seen:
                seen.add(k)
                g_incl[g][k] += 1
        for i, (s, d) in enumerate(frames):
            if s in SYNC_SYMS:
                own = [frame_label(s2, d2) for s2, d2 in frames[i + 1:]
                       if dso_kind(d2) in ("healthcenter", "nginx")]
                caller = " < ".join(own[:4]) or "?"  # the own-code chain, innermost first
                g_sync[g][caller] += 1
                break
        stack = [(g, "root"), (thread, "root")]
        stack += [(frame_label(s, d), dso_kind(d)) for s, d in reversed(frames)]
        folded[tuple(stack)] += 1

    def pct(n, d):
        return round(100.0 * n / d, 2) if d else 0.0

    def symrows(counter, d, n):
        return [{"symbol": k[0], "dso": k[1], "kind": k[2], "samples": c, "pct": pct(c, d)}
                for k, c in counter.most_common(n)]

    groups = {}
    for g, n in per_group.most_common():
        threads = []
        for t, c in g_thread[g].most_common():
            threads.append({"thread": t, "samples": c, "pct": pct(c, n),
                            "top": symrows(t_self[(g, t)], c, 3)})
        incl_hc = collections.Counter({k: c for k, c in g_incl[g].items()
                                       if k[2] in ("healthcenter", "nginx")})
        groups[g] = {
            "samples": n, "pct_of_all": pct(n, total),
            "threads": threads,
            "dso_kinds": {k: {"samples": c, "pct": pct(c, n)} for k, c in g_kind[g].most_common()},
            "top_self": symrows(g_self[g], n, top),
            "top_inclusive_own_code": symrows(incl_hc, n, top),
            "fsync_samples": sum(g_sync[g].values()),
            "fsync_pct": pct(sum(g_sync[g].values()), n),
            "fsync_by_caller": [{"caller": k, "samples": c, "pct": pct(c, n)}
                                for k, c in g_sync[g].most_common(8)],
        }
    summary = {
        "samples": total,
        "stacks_reaching_thread_entry_pct": pct(complete, total),
        "mean_stack_depth": round(depth_sum / total, 1) if total else 0,
        "dso_kinds": {k: {"samples": c, "pct": pct(c, total)} for k, c in per_kind.most_common()},
        "groups": groups,
    }
    return summary, folded


def perf_markdown(s, meta):
    out = ["# perf profile", ""]
    out.append("Recorded: `%s` during `%s` (%s s); %d samples; %.1f%% of stacks reach a thread "
               "entry (clone3, _start or a *_main function), mean depth %.1f frames."
               % (meta["perf_cmd"], meta["wrk_cmd"], meta["duration_s"], s["samples"],
                  s["stacks_reaching_thread_entry_pct"], s["mean_stack_depth"]))
    out.append("")
    out.append("Event: %s. Bookings in the recorded load: %s (%s/s through the gateway)."
               % (meta.get("event") or "?", meta.get("bookings"), meta.get("bookings_per_s")))
    if meta.get("perf_lost"):
        out += ["", "perf reported: %s." % ", ".join(meta["perf_lost"])]
    allsync = sum(d["fsync_samples"] for d in s["groups"].values())
    out += ["", "Samples with fsync/fdatasync on the stack: %d (%.1f%% of all)."
            % (allsync, 100.0 * allsync / s["samples"] if s["samples"] else 0)]
    out += ["", "## Samples per process and DSO kind (self time, whole system)", "",
            "| process | samples | % of all |", "|---|---:|---:|"]
    for g, d in s["groups"].items():
        out.append("| %s | %d | %.1f |" % (g, d["samples"], d["pct_of_all"]))
    out += ["", "| DSO kind | samples | % of all |", "|---|---:|---:|"]
    for k, d in s["dso_kinds"].items():
        out.append("| %s | %d | %.1f |" % (k, d["samples"], d["pct"]))
    for g, d in s["groups"].items():
        out += ["", "## %s (%d samples, %.1f%% of all)" % (g, d["samples"], d["pct_of_all"]), ""]
        out.append("DSO kinds: " + ", ".join("%s %.1f%%" % (k, v["pct"])
                                              for k, v in d["dso_kinds"].items()))
        out += ["", "| thread | samples | % of process | top self symbols |", "|---|---:|---:|---|"]
        for t in d["threads"]:
            out.append("| %s | %d | %.1f | %s |" % (
                t["thread"], t["samples"], t["pct"],
                ", ".join("%s %.0f%%" % (r["symbol"], r["pct"]) for r in t["top"])))
        out += ["", "Top symbols by self time (% of this process's samples):", "",
                "| symbol | DSO | samples | % |", "|---|---|---:|---:|"]
        for r in d["top_self"]:
            out.append("| `%s` | %s | %d | %.1f |" % (r["symbol"], r["dso"], r["samples"], r["pct"]))
        if d["fsync_samples"]:
            out += ["", "In fsync/fdatasync (on the stack): %d samples, %.1f%% of this process; "
                    "by own-code call chain (innermost first):" % (d["fsync_samples"],
                                                                  d["fsync_pct"]), ""]
            out += ["- `%s`: %.1f%%" % (r["caller"], r["pct"]) for r in d["fsync_by_caller"]]
        if d["top_inclusive_own_code"]:
            out += ["", "Own-code functions by inclusive time (on the stack; % of this process):",
                    "", "| function | samples | % |", "|---|---:|---:|"]
            for r in d["top_inclusive_own_code"]:
                out.append("| `%s` | %d | %.1f |" % (r["symbol"], r["samples"], r["pct"]))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- flame graph


def write_folded(folded, path):
    """Brendan Gregg's collapsed format (frames ';'-joined, kernel frames suffixed _[k])."""
    with open(path, "w") as f:
        for stack, n in sorted(folded.items()):
            f.write(";".join((l + "_[k]") if k == "kernel" else l for l, k in stack)
                    + " %d\n" % n)


def frame_color(label, kind):
    r, g, b = KIND_COLORS.get(kind, KIND_COLORS["other"])
    v = zlib.crc32(label.encode()) % 40 - 20  # a stable shade per function
    return "rgb(%d,%d,%d)" % tuple(max(0, min(255, c + v)) for c in (r, g, b))


def render_flame(folded, path, title, subtitle="", width=1200, frame_h=16, min_px=0.3):
    """A classic flame graph (root at the bottom, width proportional to samples)."""
    root = {"n": 0, "kids": {}}
    for stack, n in folded.items():
        node = root
        node["n"] += n
        for fr in stack:
            node = node["kids"].setdefault(fr, {"n": 0, "kids": {}})
            node["n"] += n
    total = root["n"] or 1
    pad_top, pad_bot, side = 50, 40, 10
    scale = (width - 2 * side) / float(total)
    rects = []
    max_depth = [0]

    def walk(node, x, depth):
        for fr, kid in sorted(node["kids"].items(), key=lambda kv: kv[0][0]):
            w = kid["n"] * scale
            if w >= min_px:
                rects.append((x, depth, w, fr, kid["n"]))
                max_depth[0] = max(max_depth[0], depth)
                walk(kid, x, depth + 1)
            x += w
    walk(root, side, 0)
    height = pad_top + pad_bot + (max_depth[0] + 1) * frame_h
    o = ['<?xml version="1.0" standalone="no"?>',
         '<svg version="1.1" width="%d" height="%d" viewBox="0 0 %d %d" '
         'xmlns="http://www.w3.org/2000/svg">' % (width, height, width, height),
         '<style>text{font-family:Verdana,sans-serif;font-size:11px;fill:#000}'
         '.t{font-size:17px;text-anchor:middle}.s{font-size:12px;fill:#444;text-anchor:middle}'
         'g:hover rect{stroke:#000;stroke-width:0.6}</style>',
         '<rect x="0" y="0" width="%d" height="%d" fill="#f8f8f0"/>' % (width, height),
         '<text class="t" x="%d" y="22">%s</text>' % (width // 2, html.escape(title)),
         '<text class="s" x="%d" y="40">%s</text>' % (width // 2, html.escape(subtitle))]
    for x, depth, w, (label, kind), n in rects:
        y = height - pad_bot - (depth + 1) * frame_h
        tip = "%s [%s] - %d samples, %.2f%%" % (label, kind, n, 100.0 * n / total)
        o.append('<g><title>%s</title><rect x="%.1f" y="%d" width="%.1f" height="%d" '
                 'fill="%s" rx="1"/>' % (html.escape(tip), x, y, w, frame_h - 1,
                                         frame_color(label, kind)))
        chars = int((w - 4) / 6.6)
        if chars >= 3:
            text = label if len(label) <= chars else label[:chars - 2] + ".."
            o.append('<text x="%.1f" y="%d">%s</text>' % (x + 2, y + frame_h - 4,
                                                          html.escape(text)))
        o.append("</g>")
    # legend: the DSO kinds' colours
    lx = side
    for kind in ("kernel", "healthcenter", "nginx", "sqlite", "jansson", "microhttpd", "curl",
                 "crypto", "zlib", "libc", "other"):
        o.append('<rect x="%d" y="%d" width="12" height="12" fill="rgb(%d,%d,%d)"/>'
                 % ((lx, height - 25) + KIND_COLORS[kind]))
        o.append('<text x="%d" y="%d">%s</text>' % (lx + 16, height - 15, kind))
        lx += 30 + 7 * len(kind)
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


# --------------------------------------------------------------------------- strace


STRACE_ROW = re.compile(r"^\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(\d*)\s*(\S+)\s*$")


def parse_strace_c(path):
    """{syscall: {"calls": n, "errors": n}} from an `strace -c` summary file."""
    rows = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = STRACE_ROW.match(line)
            if m and m.group(6) != "total":
                rows[m.group(6)] = {"calls": int(m.group(4)), "errors": int(m.group(5) or 0)}
    return rows


class Straces:
    """One `strace -c -f -p PID` per target process, detached with SIGINT."""

    def __init__(self, out_dir, pids, tag="bookings"):
        self.out_dir, self.pids, self.tag = out_dir, pids, tag  # pids: {name: pid}
        self.procs = {}

    def start(self, timeout=60):
        for name, pid in sorted(self.pids.items()):
            out = os.path.join(self.out_dir, "strace-%s-%s.txt" % (self.tag, name))
            err = open(os.path.join(self.out_dir, "strace-%s-%s.log" % (self.tag, name)), "w+")
            cmd = ["strace", "-c", "-f", "-o", out, "-p", str(pid)]
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
            self.procs[name] = (p, err, out, pid)
        # attached when strace has said so for every thread the process had
        for name, (p, err, out, pid) in self.procs.items():
            try:
                ntask = len(os.listdir("/proc/%d/task" % pid))
            except OSError:
                raise ProfileError("%s (pid %d) is gone" % (name, pid))

            def attached(p=p, err=err, pid=pid, name=name):
                if p.poll() is not None:
                    err.seek(0)
                    raise ProfileError("strace on %s exited: %s" % (name, err.read()[-800:]))
                err.seek(0)
                # "Process PID attached with N threads" (-f attaches them all first)
                return ("Process %d attached" % pid) in err.read()
            wait_for(attached, timeout, "strace to attach to %s's %d threads" % (name, ntask))
        log("strace attached to %s", ", ".join("%s (%d)" % (n, v[3])
                                               for n, v in sorted(self.procs.items())))

    def stop(self, timeout=60):
        """SIGINT to each strace (it detaches and writes its summary); problems."""
        problems = []
        for name, (p, err, out, pid) in self.procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for name, (p, err, out, pid) in self.procs.items():
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                problems.append("strace on %s did not exit within %d s; killed" % (name, timeout))
                p.kill()
                p.wait()
            err.close()
        return problems

    def results(self):
        return {name: parse_strace_c(out) for name, (p, err, out, pid) in self.procs.items()}


def book_exactly(gw_port, date, n, concurrency, timeout=30.0):
    """Exactly n POST /orders through the gateway from `concurrency` keep-alive
    connections; returns (201 count, {status: count}, samples of failures)."""
    body = json.dumps({"name": "Bench", "phone": "010-1234-5678", "orderType": "basic",
                       "checkupDate": date, "centerId": 1, "payMethod": "card",
                       "cardNo": "4111111111111111"})
    headers = {"Content-Type": "application/json", "User-Agent": "hc-profile",
               "Authorization": "Bearer " + bench.TOKENS["customer"]}
    lock = threading.Lock()
    left = [n]
    statuses = collections.Counter()
    samples = []

    def worker():
        conn = None
        while True:
            with lock:
                if left[0] <= 0:
                    break
                left[0] -= 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", gw_port, timeout=timeout)
                conn.request("POST", "/orders", body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                st = str(r.status)
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                st, data = "error", repr(e).encode()
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                statuses[st] += 1
                if st != "201" and len(samples) < 3:
                    samples.append("%s %s" % (st, data[:200].decode("utf-8", "replace")))
        if conn is not None:
            conn.close()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout * (n / max(1, concurrency) + 2)
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            raise ProfileError("bookings did not finish before the deadline")
    return statuses.get("201", 0), dict(statuses), samples


def wait_drained(state, timeout, interval):
    """Polls the cheap condition (gauges 0, as many mypages as orders) every
    `interval` s (few polls: they are traced too); returns the poll count."""
    deadline = time.monotonic() + timeout
    polls = 0
    last = None
    while True:
        polls += 1
        try:
            ok, last = state.cheap_check()
            if ok:
                return polls
        except (OSError, ValueError, KeyError, http.client.HTTPException, bench.BenchError) as e:
            last = repr(e)
        if time.monotonic() > deadline:
            raise ProfileError("the asynchronous side did not finish within %.0f s (last: %s)"
                               % (timeout, last))
        time.sleep(interval)  # poll interval


def strace_idle_rates(raw, seconds):
    """{group: {"per_s": calls/s, "top": [(syscall, calls/s)]}} of an idle window."""
    out = {}
    for name, rows in raw.items():
        acc = out.setdefault(group_of(name), collections.Counter())
        for sc, d in rows.items():
            acc[sc] += d["calls"]
    return {g: {"per_s": round(sum(acc.values()) / seconds, 1),
                "top": [{"syscall": sc, "per_s": round(c / seconds, 1)}
                        for sc, c in acc.most_common(5)]} for g, acc in out.items()}


def strace_summary(raw, n, top):
    per = {}
    for name, rows in raw.items():
        g = group_of(name)
        acc = per.setdefault(g, collections.Counter())
        err = per.setdefault(g + "\0err", collections.Counter())
        for sc, d in rows.items():
            acc[sc] += d["calls"]
            err[sc] += d["errors"]
    out = {}
    for g in [k for k in per if "\0" not in k]:
        acc, err = per[g], per[g + "\0err"]
        total = sum(acc.values())
        out[g] = {
            "calls": total,
            "per_booking": round(total / n, 1) if n else None,
            "fsync_per_booking": round((acc["fsync"] + acc["fdatasync"]) / n, 2) if n else None,
            "fsync": acc["fsync"], "fdatasync": acc["fdatasync"],
            "top": [{"syscall": sc, "calls": c, "per_booking": round(c / n, 2) if n else None,
                     "errors": err[sc]} for sc, c in acc.most_common(top)],
        }
    return out


def strace_markdown(s, meta):
    out = ["# strace: system calls per booking", ""]
    out.append("`strace -c -f -p PID` on each process while %d bookings were made through the "
               "gateway (%d x 201, %d concurrent connections) and until the asynchronous side "
               "was done (%d status polls of the services, every %.2f s, traced too); window "
               "%.1f s. Counts divided by the %d bookings."
               % (meta["bookings_requested"], meta["bookings"], meta["concurrency"],
                  meta["polls"], meta["poll_interval_s"], meta["window_s"], meta["bookings"]))
    order = [g for g in list(SERVICES) + ["gateway"] if g in s]
    out += ["", "| process | syscalls / booking | fsync+fdatasync / booking | top syscalls / booking |",
            "|---|---:|---:|---|"]
    for g in order:
        d = s[g]
        out.append("| %s | %.1f | %.2f | %s |" % (
            g, d["per_booking"], d["fsync_per_booking"],
            ", ".join("%s %.1f" % (r["syscall"], r["per_booking"]) for r in d["top"][:6])))
    tot = sum(s[g]["calls"] for g in SERVICES if g in s)
    fs = sum(s[g]["fsync"] + s[g]["fdatasync"] for g in SERVICES if g in s)
    if meta["bookings"]:
        out += ["", "Four services together: %.1f syscalls and %.2f fsync/fdatasync per booking."
                % (tot / meta["bookings"], fs / meta["bookings"])]
    idle = meta.get("idle")
    if idle:
        out += ["", "Idle baseline: the same straces for %.1f s with no load, before the bookings "
                "(background threads: relays, consumers, the SMS sender polling). Its rate times "
                "the %.1f s window, per booking, is the part of the numbers above that is not the "
                "bookings' own:" % (meta["idle_s"], meta["window_s"]), "",
                "| process | idle syscalls/s | of which | idle share / booking |",
                "|---|---:|---|---:|"]
        for g in order:
            if g in idle:
                d = idle[g]
                out.append("| %s | %.1f | %s | %.1f |" % (
                    g, d["per_s"], ", ".join("%s %.1f" % (r["syscall"], r["per_s"])
                                             for r in d["top"]),
                    d["per_s"] * meta["window_s"] / meta["bookings"] if meta["bookings"] else 0))
    for g in order:
        d = s[g]
        out += ["", "## %s: %d calls, %.1f per booking (fsync %d, fdatasync %d)"
                % (g, d["calls"], d["per_booking"], d["fsync"], d["fdatasync"]), "",
                "| syscall | calls | per booking | errors |", "|---|---:|---:|---:|"]
        for r in d["top"]:
            out.append("| %s | %d | %.2f | %d |" % (r["syscall"], r["calls"], r["per_booking"],
                                                   r["errors"]))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- main


def wal_frames(wal_path):
    """{page number: frames} of the WAL file's current frames (those with its
    header's salts: written since it last started over), and the number of
    commit frames. ({}, 0) for a missing or empty WAL."""
    try:
        with open(wal_path, "rb") as f:
            data = f.read()
    except OSError:
        return {}, 0
    if len(data) < 32:
        return {}, 0
    page_size, salts = struct.unpack(">I", data[8:12])[0], data[16:24]
    pages, commits, off = collections.Counter(), 0, 32
    while off + 24 + page_size <= len(data) and data[off + 8:off + 16] == salts:
        page, commit = struct.unpack(">II", data[off:off + 8])
        pages[page] += 1
        commits += commit != 0
        off += 24 + page_size
    return pages, commits


def page_owners(db_path):
    """{page number: table or index name} of a copied database, its copied WAL
    included (SQLite recovers it on opening, so pages the WAL added past the
    file's end are named too; the copy may be checkpointed by this)."""
    con = sqlite3.connect(db_path)
    try:
        return {pg: name for name, pg in con.execute("SELECT name, pageno FROM dbstat")}
    finally:
        con.close()


def wal_snapshot(data_dir, out_dir):
    """Copies every WAL_DBS database and its WAL into out_dir/wal (the WAL first:
    a checkpoint running meanwhile only adds to the file what the WAL holds)."""
    dest = os.path.join(out_dir, "wal")
    os.makedirs(dest, exist_ok=True)
    for db in WAL_DBS:
        name = snap_name(db)
        for suffix in ("-wal", ""):
            try:
                shutil.copyfile(os.path.join(data_dir, db + suffix),
                                os.path.join(dest, name + suffix))
            except OSError:
                pass
    return dest


def wal_summary(snap_dir, top):
    """Per database: frames, commits, frames per commit and the top tables."""
    out = {}
    for db in WAL_DBS:
        name = snap_name(db)
        pages, commits = wal_frames(os.path.join(snap_dir, name + "-wal"))  # before opening
        frames = sum(pages.values())
        owners = page_owners(os.path.join(snap_dir, name)) if frames else {}
        by = collections.Counter()
        for pg, n in pages.items():
            by[owners.get(pg, "(free page)")] += n
        out[db] = {"frames": frames, "commits": commits, "distinct_pages": len(pages),
                   "frames_per_commit": round(frames / commits, 1) if commits else None,
                   "tables": [{"name": k, "frames": v, "pct": round(100.0 * v / frames, 1)}
                              for k, v in by.most_common(top)]}
    return out


def wal_markdown(wsum, meta):
    out = ["# What the databases write", "",
           "Copied right after `%s` (%d s, %d bookings): each WAL's frames since it last "
           "started over, counted per commit and per table or index (SQLite writes whole "
           "pages, one frame each; `(free page)`: a page no table holds any more)."
           % (meta["wrk_cmd"], meta["duration_s"], meta["bookings"]), "",
           "| database | frames | commits | frames / commit | distinct pages "
           "| top tables (% of frames) |",
           "|---|---:|---:|---:|---:|---|"]
    for db, d in wsum.items():
        out.append("| %s | %d | %d | %s | %d | %s |" % (
            db, d["frames"], d["commits"], d["frames_per_commit"], d["distinct_pages"],
            ", ".join("%s %.1f" % (t["name"], t["pct"]) for t in d["tables"])))
    return "\n".join(out) + "\n"


def drain(state, t0, timeout, label):
    d, _, mypages = bench.wait_async_done(state, t0, timeout, label)
    return d, mypages


def main():
    ap = argparse.ArgumentParser(description="Profile the health-checkup system under the bench "
                                             "load: perf, flame graph, strace (docs/profile.md).")
    ap.add_argument("--what", default="perf,flame,strace",
                    help="comma-separated: perf, flame, strace, wal (default perf,flame,strace; "
                         "flame implies perf)")
    ap.add_argument("--bin", default="./build/healthcenter", help="the healthcenter binary")
    ap.add_argument("--out", default=None, help="output directory (default: new dir under /tmp)")
    ap.add_argument("--duration", type=int, default=10, help="recorded wrk load, seconds")
    ap.add_argument("--warmup", type=int, default=2, help="wrk warm-up before, seconds (0: none)")
    ap.add_argument("--concurrency", type=int, default=32, help="wrk connections (default 32)")
    ap.add_argument("--freq", type=int, default=999, help="perf sampling frequency, Hz")
    ap.add_argument("--call-graph", default="dwarf,32768",
                    help="perf stack unwinding: dwarf[,STACK_BYTES] (default dwarf,32768) or fp "
                         "(frame pointers: the default build has none, see docs/profile.md)")
    ap.add_argument("--top", type=int, default=15, help="rows per table")
    ap.add_argument("--bookings", type=int, default=300, help="bookings under strace")
    ap.add_argument("--strace-concurrency", type=int, default=8,
                    help="client connections for the strace bookings")
    ap.add_argument("--strace-idle", type=float, default=5.0,
                    help="seconds of strace on the idle system first, as a baseline (0: none)")
    ap.add_argument("--poll-interval", type=float, default=0.5,
                    help="seconds between drain polls while strace is attached")
    ap.add_argument("--drain-timeout", type=float, default=180.0)
    ap.add_argument("--ready-timeout", type=float, default=30.0)
    ap.add_argument("--flame-copy", default=None, help="also copy the flame graph SVG here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the data dir and perf.data (removed otherwise)")
    a = ap.parse_args()
    what = set(w.strip() for w in a.what.split(",") if w.strip())
    if not what or what - set(WHATS):
        ap.error("--what takes a comma-separated subset of %s" % ",".join(WHATS))
    if "flame" in what:
        what.add("perf")
    if not re.match(r"^(fp|dwarf(,\d+)?)$", a.call_graph):
        ap.error("--call-graph takes fp, dwarf or dwarf,STACK_BYTES")
    if a.duration < 1 or a.bookings < 1 or a.concurrency < 1 or a.strace_concurrency < 1:
        ap.error("--duration, --bookings, --concurrency, --strace-concurrency must be >= 1")

    def on_term(signum, frame):  # SIGTERM cleans up like Ctrl-C
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    binary = os.path.abspath(a.bin)
    try:
        if not os.access(binary, os.X_OK):
            raise ProfileError("no executable at %s: build it first (make build)" % binary)
        need_tools(["wrk"] + (["perf"] if "perf" in what else [])
                   + (["strace"] if "strace" in what else []))
    except ProfileError as e:
        log("%s", e)
        return 1
    out_dir = os.path.abspath(a.out) if a.out else tempfile.mkdtemp(prefix="hc-profile-")
    os.makedirs(out_dir, exist_ok=True)
    ports = dict(zip(("gateway",) + SERVICES, bench.free_ports(5)))
    data_dir = tempfile.mkdtemp(prefix="hc-profile-data-")
    env = bench.build_env(data_dir, ports)
    date = bench.checkup_date()
    system = bench.System(binary, env, ports)
    recorder = None
    straces = None
    problems = []
    code = 0
    summary = {"binary": binary, "out": out_dir, "what": sorted(what),
               "machine": bench.machine_info(),
               "git": subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"],
                                     capture_output=True, text=True).stdout.strip()}
    try:
        log("starting %s up (data %s, ports %s)", binary, data_dir, ports)
        system.start()
        system.wait_ready(a.ready_timeout)
        system.ready_line.wait(timeout=5.0)
        system.remember_tree()
        bench.issue_tokens(binary, env)
        state = bench.AsyncState(ports)
        if a.warmup > 0:
            warm = bench.run_wrk(ports["gateway"], date, a.concurrency, a.warmup, 10, "warm-up")
            log("warm-up: statuses %s", warm["statuses"])
            d, _ = drain(state, warm["t1"], a.drain_timeout, "warm-up")
            log("warm-up drained %.2f s after its load", d)
        procs = targets(system.proc.pid)
        names = {pid: name for name, pid in procs.items()}
        wrk_cmd = "wrk -t2 -c%d -d%ds -s bench/book.lua" % (a.concurrency, a.duration)
        missing = [s for s in SERVICES if s not in procs]
        if missing:
            raise ProfileError("service processes not found: %s" % missing)

        if "perf" in what:
            recorder = PerfRecorder(out_dir, procs.values(), a.freq, a.call_graph)
            recorder.start()
            recorder.command("enable")
            run = bench.run_wrk(ports["gateway"], date, a.concurrency, a.duration, 10,
                                "recorded load")
            recorder.command("disable")
            problems.extend(recorder.stop())
            ok = int(run["statuses"].get("201", 0))
            wrk_s = float(run.get("duration_us") or a.duration * 1e6) / 1e6
            log("recorded load: %d x 201 (%s), %.1f/s", ok, run["statuses"], ok / wrk_s)
            meta = {"perf_cmd": " ".join(recorder.cmd[:recorder.cmd.index("-p")] + ["-p", "<pids>"]),
                    "wrk_cmd": wrk_cmd,
                    "duration_s": a.duration, "bookings": ok,
                    "bookings_per_s": round(ok / wrk_s, 1), "pids": procs,
                    "call_graph": a.call_graph, "freq": a.freq}
            d, _ = drain(state, run["t1"], a.drain_timeout, "recorded load")
            log("drained %.2f s after the recorded load; reading the samples (perf script)", d)
            t_an = time.monotonic()
            psum, folded = analyse_perf(perf_samples(recorder.data, out_dir), names, a.top)
            log("%d samples analysed in %.1f s", psum["samples"], time.monotonic() - t_an)
            with open(recorder.stderr, errors="replace") as f:
                lost = re.findall(r"lost \d+ chunks|LOST \d+ events", f.read())
            meta["perf_lost"] = lost
            if lost:
                log("perf: %s (the percentages stay valid; raise nothing, rerun if many)",
                    ", ".join(lost))
            ev = subprocess.run(["perf", "evlist", "-i", recorder.data], capture_output=True,
                                text=True, timeout=60)
            meta["event"] = ev.stdout.strip().replace("\n", ", ") or None
            psum["meta"] = meta
            summary["perf"] = psum
            with open(os.path.join(out_dir, "perf.json"), "w") as f:
                json.dump(psum, f, indent=1)
            with open(os.path.join(out_dir, "perf.md"), "w") as f:
                f.write(perf_markdown(psum, meta))
            if "flame" in what:
                write_folded(folded, os.path.join(out_dir, "flame.folded"))
                svg = os.path.join(out_dir, "flame.svg")
                render_flame(folded, svg, "healthcenter under the bench load (perf, %s)"
                             % a.call_graph,
                             "%d samples at %d Hz over %d s of wrk -c%d POST /orders "
                             "(%d bookings); services + nginx; colour = DSO kind; hover for counts"
                             % (psum["samples"], a.freq, a.duration, a.concurrency, ok))
                summary["flame"] = svg
                if a.flame_copy:
                    shutil.copyfile(svg, a.flame_copy)
                    log("flame graph copied to %s", a.flame_copy)

        if "wal" in what:
            run = bench.run_wrk(ports["gateway"], date, a.concurrency, a.duration, 10,
                                "load for the WAL copies")
            snap = wal_snapshot(data_dir, out_dir)
            ok = int(run["statuses"].get("201", 0))
            log("WAL load: %d x 201 (%s); WALs copied to %s", ok, run["statuses"], snap)
            meta = {"wrk_cmd": wrk_cmd,
                    "duration_s": a.duration, "bookings": ok}
            wsum = wal_summary(snap, a.top)
            summary["wal"] = {"meta": meta, "per_database": wsum}
            with open(os.path.join(out_dir, "wal.json"), "w") as f:
                json.dump(summary["wal"], f, indent=1)
            with open(os.path.join(out_dir, "wal.md"), "w") as f:
                f.write(wal_markdown(wsum, meta))
            drain(state, run["t1"], a.drain_timeout, "WAL load")

        if "strace" in what:
            system.remember_tree()
            procs = targets(system.proc.pid)
            traced = {n: p for n, p in procs.items() if n in SERVICES or n.startswith("nginx_worker")}
            idle = None
            if a.strace_idle > 0:
                straces = Straces(out_dir, traced, tag="idle")
                straces.start()
                t_idle = time.monotonic()
                while time.monotonic() - t_idle < a.strace_idle:  # the measured idle window
                    time.sleep(0.05)
                problems.extend(straces.stop())
                idle_s = time.monotonic() - t_idle
                idle = strace_idle_rates(straces.results(), idle_s)
                straces = None
            straces = Straces(out_dir, traced)
            straces.start()
            t0 = time.monotonic()
            ok, statuses, samples = book_exactly(ports["gateway"], date, a.bookings,
                                                 a.strace_concurrency)
            log("strace bookings: %d x 201 of %d (%s)", ok, a.bookings, statuses)
            if samples:
                problems.append("non-201 answers under strace: %s" % samples)
            polls = wait_drained(state, a.drain_timeout, a.poll_interval)
            window = time.monotonic() - t0
            problems.extend(straces.stop())
            raw = straces.results()
            straces = None
            # the strict check, after detaching: every mypage final
            d, mypages = drain(state, t0, a.drain_timeout, "strace bookings")
            ssum = strace_summary(raw, ok, a.top)
            meta = {"bookings_requested": a.bookings, "bookings": ok, "statuses": statuses,
                    "concurrency": a.strace_concurrency, "polls": polls,
                    "poll_interval_s": a.poll_interval, "window_s": round(window, 2),
                    "pids": traced, "idle": idle,
                    "idle_s": round(idle_s, 2) if idle else None}
            summary["strace"] = {"meta": meta, "per_process": ssum}
            with open(os.path.join(out_dir, "strace.json"), "w") as f:
                json.dump(summary["strace"], f, indent=1)
            with open(os.path.join(out_dir, "strace.md"), "w") as f:
                f.write(strace_markdown(ssum, meta))
    except (ProfileError, bench.BenchError) as e:
        log("FAILED: %s", e)
        problems.append(str(e))
        code = 1
    except KeyboardInterrupt:
        log("interrupted")
        problems.append("interrupted")
        code = 130
    finally:
        if straces is not None:
            problems.extend(straces.stop())
        if recorder is not None and recorder.proc is not None and recorder.proc.poll() is None:
            problems.extend(recorder.stop())
        if system.proc is not None:
            log("stopping the system (SIGINT to supervisor %d)", system.proc.pid)
            problems.extend(system.stop())
        if a.keep:
            log("data kept in %s", data_dir)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
            if recorder is not None and os.path.exists(recorder.data):
                os.unlink(recorder.data)
    summary["problems"] = problems
    summary["ok"] = code == 0
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    log("results in %s%s", out_dir, "" if code == 0 else " (FAILED: %s)" % "; ".join(problems))
    print(out_dir)
    return code


if __name__ == "__main__":
    sys.exit(main())
