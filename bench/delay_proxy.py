#!/usr/bin/python3
"""delay_proxy.py: a delaying HTTP proxy for benchmarks and tests only.

It listens on 127.0.0.1:PORT and forwards every request to TARGET unchanged
(headers, the services' signatures and the body pass through), holding each
POST whose path starts with one of --paths for a random time drawn uniformly
from --delay-ms LO-HI before forwarding it. Put in front of payment
(HC_PAYMENT_URL=http://127.0.0.1:PORT) it reproduces the original project's
slow payment (a sleep of 400 + random * 220 ms in Payment.onPrePersist):
payment is slow to act, then acts. `bench/breaker.py` (`make bench-breaker`)
starts it. It is not part of the product and never runs in production.

A request whose client gave up during the delay (order's call timeout) is
still forwarded, as the original's payment went on with its transaction.
On SIGTERM or SIGINT it prints one JSON line of counts on stdout and exits.

Standard library only (asyncio): one process, one thread, keep-alive on both
sides.
"""

import argparse
import asyncio
import json
import random
import signal
import sys
import time

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}


class Stats:
    def __init__(self):
        self.requests = 0      # requests received
        self.delayed = 0       # of them held before forwarding
        self.forwarded = 0     # answered by the target
        self.upstream_errors = 0
        self.client_gone = 0   # the answer could not be written back (client gave up)
        # Per held request, in ms: (connection accepted -> request read (0 on
        # a kept-alive connection's later requests),
        # drawn delay, sleep overrun (the event loop's lag), the target's
        # answer time, writing the answer back, accepted -> answer written).
        self.held = []

    def summary(self, timeout_ms):
        """The counts, plus where the time of held requests went: p50/p99/max
        of each phase, and the mean phases of those that took longer than
        timeout_ms from accept to answer (order had given up on them)."""
        out = {k: v for k, v in vars(self).items() if k != "held"}
        names = ("accept_to_read_ms", "drawn_ms", "overrun_ms", "target_ms", "write_ms",
                 "total_ms")
        if not self.held:
            return out
        phases = {}
        for i, name in enumerate(names):
            xs = sorted(h[i] for h in self.held)
            phases[name] = {"p50": round(xs[len(xs) // 2], 1),
                            "p99": round(xs[min(len(xs) - 1, int(len(xs) * 0.99))], 1),
                            "max": round(xs[-1], 1)}
        late = [h for h in self.held if h[5] > timeout_ms]
        out["phases"] = phases
        out["over_timeout"] = {"n": len(late), "timeout_ms": timeout_ms}
        if late:
            out["over_timeout"]["mean"] = {
                name: round(sum(h[i] for h in late) / len(late), 1)
                for i, name in enumerate(names)}
        return out


async def read_head(reader):
    """(start line, [(name, value)]) of the next HTTP message, or None at EOF."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.append((k.strip(), v.strip()))
    return lines[0], headers


def header(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


async def read_body(reader, headers):
    """The body of a message with these headers (Content-Length or chunked)."""
    if (header(headers, "transfer-encoding") or "").lower() == "chunked":
        out = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # (no trailers from our services)
                return out
            out += await reader.readexactly(size)
            await reader.readexactly(2)
    n = int(header(headers, "content-length") or 0)
    return await reader.readexactly(n) if n else b""


class Upstream:
    """Kept-alive connections to the target, reused one request at a time."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.idle = []

    async def call(self, method, path, headers, body):
        """Forwards one request; returns (start line, headers, body)."""
        for attempt in (0, 1):
            conn = self.idle.pop() if self.idle else None
            fresh = conn is None
            if fresh:
                conn = await asyncio.open_connection(self.host, self.port)
            reader, writer = conn
            try:
                out = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (self.host, self.port)]
                out += ["%s: %s" % (k, v) for k, v in headers
                        if k.lower() not in HOP and k.lower() not in ("host", "content-length")]
                out.append("Content-Length: %d" % len(body))
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)
                await writer.drain()
                head = await read_head(reader)
                if head is None:
                    raise ConnectionError("target closed the connection")
                rbody = await read_body(reader, head[1])
            except (OSError, asyncio.IncompleteReadError, ValueError):
                writer.close()
                if fresh or attempt:
                    raise
                continue  # a kept-alive connection the target had closed: once more, fresh
            if (header(head[1], "connection") or "").lower() == "close":
                writer.close()
            else:
                self.idle.append(conn)
            return head[0], head[1], rbody
        raise ConnectionError("unreachable")


# The tasks serving connections: asyncio keeps only a weak reference to a
# connection's task once its client has gone, and a task still waiting for
# payment's answer would otherwise be collected mid-request.
SERVING = set()


async def serve(reader, writer, args, up, stats):
    lo, hi = args.delay
    me = asyncio.current_task()
    SERVING.add(me)
    clock = time.monotonic
    t_acc = clock()  # the connection's accept (of its first request)
    try:
        while True:
            head = await read_head(reader)
            if head is None:
                return
            start, headers = head
            method, path, _ = start.split(" ", 2)
            body = await read_body(reader, headers)
            t_read = clock()
            if t_acc is None:  # a later request on a kept-alive connection
                t_acc = t_read
            stats.requests += 1
            held = method == "POST" and any(path.startswith(p) for p in args.paths)
            drawn = 0.0
            if held:
                stats.delayed += 1
                drawn = random.uniform(lo, hi) / 1000.0
                await asyncio.sleep(drawn)  # the injected slowness
            t_slept = clock()
            try:
                status, rheaders, rbody = await up.call(method, path, headers, body)
                stats.forwarded += 1
            except (OSError, asyncio.IncompleteReadError, ValueError):
                stats.upstream_errors += 1
                status, rheaders, rbody = "HTTP/1.1 502 Bad Gateway", [], b""
            t_up = clock()
            out = [status] + ["%s: %s" % (k, v) for k, v in rheaders
                              if k.lower() not in HOP and k.lower() != "content-length"]
            out.append("Content-Length: %d" % len(rbody))
            try:
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + rbody)
                await writer.drain()
            except OSError:
                stats.client_gone += 1
                return
            finally:
                if held:
                    t_out = clock()
                    stats.held.append(((t_read - t_acc) * 1e3, drawn * 1e3,
                                       (t_slept - t_read - drawn) * 1e3, (t_up - t_slept) * 1e3,
                                       (t_out - t_up) * 1e3, (t_out - t_acc) * 1e3))
            t_acc = None
            if (header(headers, "connection") or "").lower() == "close":
                return
    except (OSError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        writer.close()
        SERVING.discard(me)


def parse_delay(text):
    lo, _, hi = text.partition("-")
    lo, hi = int(lo), int(hi or lo)
    if lo < 0 or hi < lo:
        raise argparse.ArgumentTypeError("expected LO-HI milliseconds, LO <= HI")
    return lo, hi


async def main_async(args):
    host, _, port = args.target.replace("http://", "").rstrip("/").partition(":")
    up = Upstream(host, int(port or 80))
    stats = Stats()
    server = await asyncio.start_server(lambda r, w: serve(r, w, args, up, stats),
                                        "127.0.0.1", args.port, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sys.stderr.write("delay_proxy: 127.0.0.1:%d -> %s, POST %s held %d-%d ms\n"
                     % (server.sockets[0].getsockname()[1], args.target, ",".join(args.paths),
                        args.delay[0], args.delay[1]))
    sys.stderr.flush()
    await stop.wait()
    server.close()
    sys.stdout.write(json.dumps(stats.summary(args.timeout_ms)) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description="A delaying HTTP proxy (benchmarks and tests only).")
    ap.add_argument("--port", type=int, required=True, help="port to listen on (127.0.0.1)")
    ap.add_argument("--target", required=True, help="base URL to forward to, http://host:port")
    ap.add_argument("--delay-ms", dest="delay", type=parse_delay, default=(400, 620),
                    help="hold each matching POST this long, uniform LO-HI ms (default 400-620)")
    ap.add_argument("--timeout-ms", type=int, default=610,
                    help="report the phases of held requests slower than this (order's timeout)")
    ap.add_argument("--paths", default="/paymentHistories",
                    help="comma list of path prefixes whose POSTs are held")
    args = ap.parse_args()
    args.paths = [p for p in args.paths.split(",") if p]
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
