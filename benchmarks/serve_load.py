"""`facemotion serve` under load, against 127.0.0.1 only: N concurrent clients for T seconds.

Starts its own server (``facemotion serve --port 0``, a free port on 127.0.0.1), then runs:

- the baseline: one client posting two_people.jpg to /v1/detect back to back, sequentially;
- each HTTP load: N clients doing the same at once, each on its own kept-alive connection;
- the WebSocket baseline and load: streams sending test.mp4's frames to /v1/stream, each
  waiting for the answer before sending the next (as the page does).

Each row: requests/s and as a ratio of its baseline, latency percentiles, answers other than
2xx, connection resets/errors, and the server's resident memory (start -> end of the load, and
its peak). Every loop stops at its deadline; a request may take at most 60 s.

    python benchmarks/serve_load.py                       # 10 x 30 s, 50 x 60 s, 20 streams x 30 s
    python benchmarks/serve_load.py --loads 50x60 --streams 20x30 -- --workers 2   # server options after --
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import re
import statistics
import subprocess
import sys
import threading
import time

import cv2

from _common import MEDIA, machine, table

REQUEST_TIMEOUT = 60


class Server:
    def __init__(self, args: list[str]):
        self.proc = subprocess.Popen([sys.executable, "-m", "facemotion", "serve", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout], daemon=True).start()
        line = lines.get(timeout=120)
        self.port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmRSS:")) / 1024

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Memory:
    """The server's RSS sampled every 0.25 s while a load runs."""

    def __init__(self, server: Server):
        self.server, self.samples, self._stop = server, [server.rss_mb()], threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.wait(0.25):
            self.samples.append(self.server.rss_mb())

    def stop(self) -> str:
        self._stop.set()
        self._t.join()
        self.samples.append(self.server.rss_mb())
        return f"{self.samples[0]:.0f} -> {self.samples[-1]:.0f} ({max(self.samples):.0f})"


def http_client(port: int, body: bytes, deadline: float, out: list) -> None:
    conn = None
    while time.monotonic() < deadline:
        t = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
            conn.request("POST", "/v1/detect", body, {"Content-Type": "image/jpeg"})
            r = conn.getresponse()
            r.read()
            out.append((t, time.perf_counter() - t, r.status))
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            out.append((t, time.perf_counter() - t, "reset"))
            conn = None
        except Exception as e:  # a timeout or anything else: counted, and the client goes on
            out.append((t, time.perf_counter() - t, type(e).__name__))
            conn = None
    if conn is not None:
        conn.close()


def ws_client(port: int, frames: list[bytes], deadline: float, out: list) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    k = 0
    try:
        with connect(f"ws://127.0.0.1:{port}/v1/stream", open_timeout=REQUEST_TIMEOUT) as ws:
            while time.monotonic() < deadline:
                t = time.perf_counter()
                ws.send(frames[k % len(frames)])
                reply = json.loads(ws.recv(timeout=REQUEST_TIMEOUT))
                out.append((t, time.perf_counter() - t, 200 if "faces" in reply else "error"))
                k += 1
    except (ConnectionClosed, OSError):
        out.append((time.perf_counter(), 0.0, "reset"))


def run_load(client, clients: int, seconds: float, *args) -> tuple[float, list]:
    """(when it started on the perf_counter clock, [(start, latency, status or error name)])."""
    out: list = []
    t0 = time.perf_counter()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(*args, deadline, out)) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return t0, out


def row(name, clients, seconds, run, base_rps, memory, warmup: float):
    """Statistics of the requests started after the first ``warmup`` of the run: in a closed loop
    the queue fills during the first round, whose latencies range from one service time to N."""
    t0, results = run
    duration, skip = seconds, warmup * seconds
    results = [(t - t0, lat, s) for t, lat, s in results]
    errors = sum(1 for _, _, s in results if not isinstance(s, int))  # counted over the whole run
    results = [r for r in results if r[0] >= skip]
    seconds -= skip
    lat = sorted(1000 * t for _, t, s in results if isinstance(s, int))
    ok = [s for _, _, s in results if isinstance(s, int)]
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [float("nan")] * 99
    rps = sum(1 for s in ok if 200 <= s < 300) / seconds
    return {"load": name, "clients": clients, "s": f"{duration:g}", "done": len(ok), "per s": f"{rps:.1f}",
            "vs 1 client": f"{rps / base_rps:.2f}x" if base_rps else "1.00x (baseline)",
            "p50 ms": f"{q[49]:.0f}", "p95 ms": f"{q[94]:.0f}", "p99 ms": f"{q[98]:.0f}",
            "p99/p50": f"{q[98] / q[49]:.2f}", "same, in 5 s": windowed_spread(results),
            "non-2xx": sum(1 for s in ok if not 200 <= s < 300),
            "resets/errors": errors, "server MB": memory,
            "_rps": rps}


def windowed_spread(results, window: float = 5.0) -> str:
    """The median over 5-second windows of p99/p50 within each: how evenly the queue serves
    clients at one moment, apart from the machine's speed drifting over the run (it is shared)."""
    by_window: dict[int, list] = {}
    for start, lat, s in results:
        if isinstance(s, int):
            by_window.setdefault(int(start // window), []).append(lat)
    spreads = []
    for lats in by_window.values():
        if len(lats) >= 5:
            q = statistics.quantiles(lats, n=100, method="inclusive")
            spreads.append(q[98] / q[49])
    return f"{statistics.median(spreads):.2f}" if spreads else "-"


def parse_loads(values):
    return [tuple(float(x) for x in v.split("x")) for v in values]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loads", nargs="+", default=["10x30", "50x60"], help="HTTP loads, CLIENTSxSECONDS")
    p.add_argument("--streams", nargs="+", default=["20x30"], help="WebSocket loads, STREAMSxSECONDS")
    p.add_argument("--baseline-seconds", type=float, default=20)
    p.add_argument("--warmup", type=float, default=0.1, help="share of each run left out of its statistics")
    p.add_argument("--image", default=str(MEDIA / "two_people.jpg"))
    p.add_argument("--video", default=str(MEDIA / "test.mp4"))
    p.add_argument("server_args", nargs="*", help="options for `facemotion serve` (after --)")
    a = p.parse_args()
    body = open(a.image, "rb").read()
    cap = cv2.VideoCapture(a.video)
    frames = []
    while len(frames) < 60:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    cap.release()

    server = Server(a.server_args)
    rows = []
    load_before = os.getloadavg()[0]
    try:
        run_load(http_client, 1, 3, server.port, body)  # warm-up: first requests load lazily
        for kind, client, arg, loads in (("HTTP", http_client, body, a.loads), ("WS", ws_client, frames, a.streams)):
            mem = Memory(server)
            res = run_load(client, 1, a.baseline_seconds, server.port, arg)
            base = row(f"{kind} sequential", 1, a.baseline_seconds, res, None, mem.stop(), a.warmup)
            rows.append(base)
            print(f"  {base['load']}: {base['per s']}/s", file=sys.stderr, flush=True)
            for clients, seconds in parse_loads(loads):
                mem = Memory(server)
                res = run_load(client, int(clients), seconds, server.port, arg)
                rows.append(row(f"{kind} {int(clients)} {'streams' if kind == 'WS' else 'clients'}", int(clients),
                                seconds, res, base["_rps"], mem.stop(), a.warmup))
                print(f"  {rows[-1]['load']}: {rows[-1]['per s']}/s", file=sys.stderr, flush=True)
                time.sleep(1)  # let the last connections close before the next load
    finally:
        server.stop()

    cols = [c for c in rows[0] if not c.startswith("_")]
    print(f"facemotion serve {' '.join(a.server_args)} on {machine()} (load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after); POST {a.image.split('/')[-1]} to "
          f"/v1/detect, WS frames of {a.video.split('/')[-1]} (60 JPEG frames, quality 80)")
    print(table(cols, [[r[c] for c in cols] for r in rows]))
    print(f"statistics over each run but its first {a.warmup:.0%} (the queue filling); resets/errors over all of "
          "it; 'same, in 5 s': the median over 5 s windows of p99/p50 within each; server MB: resident memory at "
          "the start -> end of the load (peak)")
    fails = [r["load"] for r in rows if "sequential" not in r["load"] and not (
        r["non-2xx"] == 0 and r["resets/errors"] == 0 and float(r["vs 1 client"][:-1]) >= 0.9
        and float(r["p99/p50"]) <= 1.5)]
    print("targets (0 errors, 0 resets, >= 0.90x the sequential rate, p99 <= 1.5 x p50): "
          + ("all met" if not fails else "not met by " + ", ".join(fails)))


if __name__ == "__main__":
    main()
