"""The GPU against the CPU, in one run on one machine: ``--device cuda`` against ``--device cpu``.

- the classifier alone: faces/s at batch 256 (the default model: ONNX Runtime on the CPU as
  ``precision auto`` runs it, int8, and as float32; torch on the GPU in bfloat16 and float32);
- the shared photos through the API in float32 on both devices: the top emotions that agree;
- ``facemotion batch`` over ``--n`` photos (the shared photos repeated as links in a temporary
  folder) with ``--device cuda`` (the batched path: docs/gpu.md) and with the CPU, and how many
  faces get the same top emotion, beside the same photos decoded alone (what bounds any device
  while the CPU decodes), and the JPEGs decoded on the GPU alone (nvJPEG through torchvision);
  the line ``batch cuda / cpu: R.Rx`` (target 2.0x) naming the GPU and the host;
- ``facemotion video`` frames/s with each device (default outputs: the MP4, the CSV), the faces'
  top emotions and boxes compared frame by frame, beside the clip's decoding alone and the CPU
  run's milliseconds a frame outside the networks; the line ``video cuda / cpu: R.Rx`` (3.0x);
- the start: each device's whole command over one photo (``start-up cpu: S s``, ``start-up
  cuda: S s``), and over ``--small`` photos with cpu, cuda and auto (what auto chose): no slower
  than the CPU is the target for auto;
- the default model's accuracy on PublicTest (FER+ majority, 7 classes; FER2013's labels without
  the copies of Training faces) at each precision on each device: bfloat16 is the GPU's
  ``precision auto`` only where it stays within 0.1 point of float32 (``--data``: the FER2013
  archive or ``facemotion data subset``'s file; the loan carries the latter).

    python benchmarks/gpu.py --out benchmarks/results/gpu_inference

Sections run in that order, and OUT.txt/OUT.json are rewritten after each, so a call that runs
out of time keeps what it measured. Without a CUDA device it measures the CPU side and says the
GPU side needs one; with FACEMOTION_CUDA_ON_CPU=1 (scripts/gpu_run.sh's dry run) torch's CPU
device stands in for the GPU, to check the script, never for a figure. The lines after the
command name the CPU (``_common.machine``) and the GPU.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from _gpu.measures import (
    agreement,
    auto_choice,
    classifier_speed,
    decode_fps,
    decode_photos_gpu_per_s,
    decode_photos_per_s,
    detector_ms,
    gpu_name,
    precision_accuracy,
    same_top_on_photos,
    startup_parts,
    steps_besides_networks_ms,
    video_rows,
    whole_command,
)

from _common import FER_ZIP, cli_batch, cli_video, command_line, machine, photo_list, shared_clips, table, write_results


def _where(gpu: str) -> str:
    """The GPU and the host a ratio was measured on, for its line."""
    return f"{gpu}; host: {machine().split(';')[0]}"


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
        out.append(f"batch cuda / cpu: {ratio:.1f}x (photos/s, the commands' own; target >= 2.0x: "
                   f"{'met' if ratio >= 2 else 'NOT met'}; {_where(gpu)})")
        out.append(f"same top emotion on {same} of {len(set(a) | set(b))} faces (cpu: int8 as auto runs it; cuda: "
                   "the float model in bfloat16)")
    return out


def video_section(gpu: str | None, clip_name: str, data: dict, max_frames: int | None = None) -> list[str]:
    out = ["", "facemotion video (frames/s, the summary's processing_fps; default outputs: MP4 and CSV):"]
    rows, cap = [], ["--max-frames", str(max_frames)] if max_frames else []
    for clip in shared_clips([clip_name]):
        with tempfile.TemporaryDirectory(prefix="facemotion-gpu-") as tmp:
            dec = decode_fps(clip)
            cpu = cli_video(clip, cap, keep=Path(tmp) / "cpu")["fps"]
            row = {"decode_only": dec, "cpu": cpu, "cpu_steps_besides_networks_ms": steps_besides_networks_ms(clip)}
            # the CPU path at fewer threads than its default (every free core): one small frame's
            # networks split over many cores may cost more in handing over than they save
            row["cpu_threads"] = {n: cli_video(clip, ["--threads", str(n), "--no-video", *cap])["fps"]
                                  for n in (1, 2, 4, os.cpu_count() or 1)}
            if gpu:
                try:
                    row["cuda"] = cli_video(clip, ["--device", "cuda", *cap], keep=Path(tmp) / "cuda")["fps"]
                    row["cuda_no_video"] = cli_video(clip, ["--device", "cuda", "--no-video", *cap])["fps"]
                    row["same_top"], row["faces"], row["box_px_max"] = agreement(
                        video_rows(Path(tmp) / "cpu"), video_rows(Path(tmp) / "cuda"))
                    # the same with the float model on both: the path's own share of any difference
                    f32 = ["--precision", "float32", "--no-video", *cap]
                    cli_video(clip, f32, keep=Path(tmp) / "cpu32")
                    cli_video(clip, ["--device", "cuda", *f32], keep=Path(tmp) / "cuda32")
                    row["same_top_float32"] = agreement(video_rows(Path(tmp) / "cpu32"),
                                                        video_rows(Path(tmp) / "cuda32"))
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
    for name, row in data.get("video", {}).items():
        out.append(f"video on the CPU by --threads ({name}, --no-video, frames/s): " +
                   ", ".join(f"{n}: {v:.1f}" for n, v in row["cpu_threads"].items()))
        if "cuda" in row:
            ratio = row["ratio"] = row["cuda"] / row["cpu"]
            out.append(f"video cuda / cpu: {ratio:.1f}x ({name}, frames/s; target >= 3.0x: "
                       f"{'met' if ratio >= 3 else 'NOT met'}; {_where(gpu)})")
            f32 = row["same_top_float32"]
            out.append(f"{name}: same top emotion on {row['same_top']} of {row['faces']} faces (frame by frame; cpu "
                       f"int8, cuda bfloat16), boxes within {row['box_px_max']} px; float32 on both: {f32[0]} of "
                       f"{f32[1]}, within {f32[2]} px")
    return out


def startup_section(gpu: str | None, n_small: int, data: dict) -> list[str]:
    """Each device's start (the whole command over one photo), and a small job's whole command on
    cpu, cuda and auto: what auto chose, and whether it is no slower than the CPU."""
    out, fig = [""], data.setdefault("startup", {})
    with tempfile.TemporaryDirectory(prefix="facemotion-gpu-") as tmp:
        tmp = Path(tmp)
        for sub in ("one", "small"):
            (tmp / sub).mkdir()
        one, small = photo_list(1, tmp / "one"), photo_list(n_small, tmp / "small")
        # cuda also without cuDNN (torch's own convolutions): its plans, made at each new shape,
        # are most of the GPU's start; whether the start saved outweighs slower convolutions
        for device, env in [("cpu", {}), ("cuda", {}), (NO_CUDNN, {"FACEMOTION_CUDNN": "0"})][:3 if gpu else 1]:
            try:
                fig[device] = whole_command(["batch", str(one), "--to", str(tmp / "1.csv"), "--no-progress",
                                             "--overwrite", "--device", device.split()[0]], env)
                out.append(f"start-up {device}: {fig[device]:.1f} s (the whole command over one photo; "
                           f"{_where(gpu) if device != 'cpu' else machine().split(';')[0]})")
            except RuntimeError as e:
                out.append(f"start-up {device}: failed: {str(e).splitlines()[0]}")
        for device, env in [("cuda", {}), (NO_CUDNN, {"FACEMOTION_CUDNN": "0"})] if gpu else []:
            try:
                fig[f"{device}_parts"] = parts = startup_parts(env)
                out.append(f"start-up {device}, its parts (s): " + ", ".join(
                    f"{k} {v:.2f}" for part in ("parts", "warm") for k, v in parts[part].items()))
            except RuntimeError as e:
                out.append(f"start-up {device}, its parts: {str(e).splitlines()[0]}")
        runs = {}
        for device in ("cpu", "cuda", NO_CUDNN, "auto") if gpu else ("cpu",):
            env = {"FACEMOTION_CUDNN": "0"} if device == NO_CUDNN else {}
            try:  # a job of seconds: the median of three (cuda's, of seconds more, once: the loan's time)
                runs[device] = float(np.median([whole_command(["batch", str(small), "--to", str(tmp / "small.csv"),
                                                               "--no-progress", "--overwrite", "--device",
                                                               device.split()[0]], env)
                                                for _ in range(1 if device.startswith("cuda") else 3)]))
            except RuntimeError as e:
                out.append(f"{n_small} photos, --device {device}: failed: {str(e).splitlines()[0]}")
        fig["small"] = {"photos": n_small, **runs}
        chose = auto_choice(["batch", str(small), "--to", str(tmp / "said.csv"), "--no-progress", "--overwrite"])
    out.append(f"a batch of {n_small} photos, the whole command: " +
               ", ".join(f"{d} {s:.1f} s" for d, s in runs.items()) + f" (auto chose {chose})")
    if "auto" in runs:
        met = "met" if runs["auto"] <= 1.05 * runs["cpu"] else "NOT met"
        out.append(f"{n_small} photos --device auto / cpu, whole command: {runs['cpu'] / runs['auto']:.2f}x "
                   f"(target: no slower, >= 1.0x within noise: {met})")
    return out


NO_CUDNN = "cuda without cuDNN"  # FACEMOTION_CUDNN=0
SECTIONS = ("classifier", "photos", "batch", "video", "startup", "precision")


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
    p.add_argument("--small", type=int, default=180, help="photos in the small job of the start-up section")
    p.add_argument("--max-frames", type=int, default=None, help="video runs: at most this many frames (dry runs)")
    args = p.parse_args(argv)
    sections = set(args.sections.split(","))
    if sections - set(SECTIONS):
        p.error(f"--sections: unknown {','.join(sorted(sections - set(SECTIONS)))} (known: {','.join(SECTIONS)})")
    gpu = gpu_name()
    lines = [command_line(__file__, argv), f"CPU: {machine()}", f"GPU: {gpu or 'none (torch sees no CUDA device)'}"]
    if gpu:
        from facemotion.cuda import AUTO_LEAST

        kept = [f"every {k}" if v is None else f"under {v:,} {k}" for k, v in AUTO_LEAST.items()]
        lines.append(f"(--device auto keeps {' and '.join(kept)} on the CPU)")
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
        emit(video_section(gpu, args.clip, data, args.max_frames))
    if "startup" in sections:
        emit(startup_section(gpu, args.small, data))
    fer = args.data if args.data is not None else next(
        (f for f in (Path("gpu/fer2013_trainval.tar.gz"), FER_ZIP) if f.exists()), None)
    if "precision" in sections and fer and str(fer) not in ("", "."):
        out, data["precision_accuracy"] = precision_accuracy(fer, gpu)
        emit(out)
    return data


if __name__ == "__main__":
    main()
