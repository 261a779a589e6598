"""Release a trained run as a shipped model.

1. slim the selected checkpoint (best.pt: lowest PublicTest loss) to weights + metadata
   -> models/<name>.pt (committed; fine-tune or evaluate it with torch);
2. fit the softmax temperature on PublicTest (flip TTA logits; ``--tta none``: plain) and store it;
3. export ONNX with that TTA and the temperature baked into the graph, checked against
   torch -> src/facemotion/weights/<name>.onnx;
4. record PublicTest accuracy and, for reporting only, PrivateTest accuracy in the model's
   card (facemotion.card.ModelCard) in the checkpoint, the ONNX file and the index
   src/facemotion/weights/models.json. Nothing here feeds PrivateTest back into a choice.

    python scripts/ship_model.py runs/mini_xception/best.pt --name mini_xception [--default]

``--checkpoint-only`` stops after step 2: a model kept in models/ as a teacher or ensemble
member, not packaged in the wheel.

Several (already shipped) checkpoints make one packaged ensemble: their flip-TTA softmax
outputs averaged, one temperature fitted on PublicTest, exported as a single ONNX graph:

    python scripts/ship_model.py models/a.pt models/b.pt models/c.pt --name ensemble --weights float16

``--weights float16`` stores the weights in half precision (half the file; ONNX Runtime computes
in float32 as before). The accuracy recorded for a packaged model is always that of the written
ONNX file itself, so it includes whatever the storage costs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import FER_ZIP  # noqa: E402
from facemotion import zoo  # noqa: E402
from facemotion.classify import load_classifier  # noqa: E402
from facemotion.datasets import load_splits  # noqa: E402
from facemotion.fileio import atomic_path  # noqa: E402
from facemotion.metrics import classification_report, fit_temperature, softmax  # noqa: E402
from facemotion.training.checkpoint import (  # noqa: E402
    atomic_torch_save, checkpoint_compute, load_checkpoint, model_from_checkpoint, slim)
from facemotion.training.engine import predict_logits  # noqa: E402
from facemotion.training.evaluate import ensemble_probs, model_logits  # noqa: E402
from facemotion.training.export import export_onnx, set_metadata  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="*", help="a run's best.pt; several models/*.pt = one ensemble")
    p.add_argument("--name", help="the shipped name (with --int8: default <model>_int8)")
    p.add_argument("--robustness", metavar="JSON", default=None,
                   help="record each shipped model's mean corrupted accuracy from benchmarks/robustness.py's "
                        "JSON (a PrivateTest run) in its card")
    p.add_argument("--int8", metavar="MODEL", default=None,
                   help="ship the int8 variant of the shipped MODEL (facemotion quantize, calibrated on Training "
                        "faces) as <MODEL>_int8")
    p.add_argument("--data", default=str(FER_ZIP))
    p.add_argument("--default", action="store_true", help="make it the package's default model")
    p.add_argument("--device", default="CPU (2 cores)", help="where it was trained, for the record")
    p.add_argument("--teacher-hours", type=float, default=0.0,
                   help="compute spent on its distillation teachers, for the record (reported next to its own)")
    p.add_argument("--checkpoint-only", action="store_true",
                   help="write only models/<name>.pt (a teacher/ensemble member): no ONNX, not in models.json")
    p.add_argument("--tta", choices=("flip", "none"), default="flip",
                   help="average each face with its mirror inside the graph (2 passes), or not (half the cost)")
    p.add_argument("--weights", choices=("float32", "float16"), default="float32",
                   help="storage precision of the packaged ONNX weights (float16: half the file size)")
    a = p.parse_args()
    if a.robustness:
        return record_robustness(a.robustness)
    if a.int8:
        return ship_int8(a)
    if not a.checkpoint or not a.name:
        p.error("give the checkpoint(s) and --name (or --int8 MODEL)")
    if len(a.checkpoint) > 1:
        return ship_ensemble(a)
    a.checkpoint = a.checkpoint[0]

    ck = load_checkpoint(a.checkpoint)
    # the whole run (last.pt's history, not only best.pt's), plus the run it was --init-ed from
    compute = checkpoint_compute(a.checkpoint)
    model, _ = model_from_checkpoint(ck)
    d = load_splits(a.data, ("val", "test"))
    flip = a.tta == "flip"
    z = {s: predict_logits(model, torch.from_numpy(d[s].images).unsqueeze(1), tta=flip).numpy() for s in d}
    t = fit_temperature(z["val"], d["val"].labels)  # PublicTest only
    acc = {s: classification_report(d[s].labels, softmax(z[s], t))["accuracy"] for s in d}
    out = slim(ck)
    out["temperature"] = t
    out["tta"] = a.tta  # the card's metrics are measured with its own tta
    out["name"] = a.name
    out["training"] = {**compute, "selected_epoch": ck["epoch"], "device": a.device, "args": ck.get("train_args", {})}
    if a.teacher_hours:
        out["training"]["teacher_cpu_hours"] = a.teacher_hours
    out["metrics"] = {"public_test": acc["val"], "private_test": acc["test"]}
    (ROOT / "models").mkdir(exist_ok=True)
    pt = ROOT / "models" / f"{a.name}.pt"
    atomic_torch_save(out, pt)
    if a.checkpoint_only:
        print(f"{a.name}: epoch {ck['epoch']}, T={t:.3f}, PublicTest {acc['val'] * 100:.2f}% (tta {a.tta}); "
              f"{pt} ({pt.stat().st_size // 1024} KiB); not packaged")
        return
    onnx_path = ROOT / "src" / "facemotion" / "weights" / f"{a.name}.onnx"
    r = export_onnx(pt, onnx_path, name=a.name, tta=flip, check_images=d["val"].images[:256], weights=a.weights,
                    extra_meta={"training": out["training"] | {"args": {}}})
    acc = _score_file(onnx_path, d)
    _record(a, onnx_path, acc)
    print(f"{a.name}: epoch {ck['epoch']}, T={t:.3f}, PublicTest {acc['val'] * 100:.2f}%, "
          f"PrivateTest {acc['test'] * 100:.2f}% (tta {a.tta}, the ONNX file); {pt} ({pt.stat().st_size // 1024} KiB), "
          f"{onnx_path} ({_describe(r)})")


def _score_file(onnx_path, d) -> dict:
    """Accuracy of the packaged file itself (ONNX Runtime, no torch) on each split: what a user
    of it gets, half-precision storage included."""
    clf = load_classifier(str(onnx_path))
    return {s: float((clf.classify_faces(d[s].images).argmax(1) == d[s].labels).mean()) for s in d}


def _describe(r: dict) -> str:
    text = f"{r['bytes'] // 1024} KiB, {r['metadata']['weights_dtype']} weights, torch vs ORT max |dp| {r['max_abs_diff']:.1e}"
    if "fp16_max_abs_diff" in r:
        text += (f", float16 storage max |dp| {r['fp16_max_abs_diff']:.1e}, "
                 f"top-1 unchanged on {r['fp16_argmax_agreement'] * 100:.1f}% of {r['checked_inputs']} inputs")
    return text


def _record(a, onnx_path: Path, acc: dict) -> None:
    """The file's card, with the accuracy measured on the file itself, into the file and the index."""
    _set_metadata(onnx_path, {"metrics": {"public_test": acc["val"], "private_test": acc["test"]}})
    card = load_classifier(str(onnx_path)).card
    shipped = zoo.shipped_models()
    default = a.name if a.default or not shipped else zoo.default_model_name()
    entries = {n: (e.path.name, e.card) for n, e in shipped.items()}
    entries[a.name] = (onnx_path.name, card)
    zoo.write_index(default, entries)


def ship_ensemble(a) -> None:
    d = load_splits(a.data, ("val", "test"))
    z = {s: [model_logits(c, d[s].images, tta="flip") for c in a.checkpoint] for s in d}
    logp = {s: np.log(np.clip(ensemble_probs(z[s]), 1e-12, 1)) for s in d}
    t = fit_temperature(logp["val"], d["val"].labels)  # PublicTest only
    onnx_path = ROOT / "src" / "facemotion" / "weights" / f"{a.name}.onnx"
    r = export_onnx(a.checkpoint, onnx_path, name=a.name, tta=True, temperature=t, check_images=d["val"].images[:256],
                    weights=a.weights)
    acc = _score_file(onnx_path, d)
    _record(a, onnx_path, acc)
    members = [Path(c).stem for c in a.checkpoint]
    print(f"{a.name}: ensemble of {', '.join(members)}; T={t:.3f}, PublicTest {acc['val'] * 100:.2f}%, "
          f"PrivateTest {acc['test'] * 100:.2f}% (flip TTA, the ONNX file); {onnx_path} ({_describe(r)})")


def ship_int8(a) -> None:
    from facemotion.training.quantize import quantize_model

    a.name = a.name or f"{a.int8}_int8"
    onnx_path = ROOT / "src" / "facemotion" / "weights" / f"{a.name}.onnx"
    check = quantize_model(a.int8, onnx_path, data=a.data, name=a.name)  # calibrated on Training faces
    (onnx_path.with_name(onnx_path.name + ".check.json")).unlink()  # its numbers go into the card below
    d = load_splits(a.data, ("val", "test"))
    acc = _score_file(onnx_path, d)
    _record(a, onnx_path, acc)
    print(f"{a.name}: int8 of {a.int8}; PublicTest {acc['val'] * 100:.2f}% (float {check['float_public_test'] * 100:.2f}%), "
          f"PrivateTest {acc['test'] * 100:.2f}%, top-1 agreement with float on PublicTest "
          f"{check['top1_agreement'] * 100:.1f}%; {onnx_path} ({onnx_path.stat().st_size // 1024} KiB)")


def record_robustness(path) -> None:
    """The robustness benchmark's mean corrupted accuracy into each shipped model's card
    (the ONNX file's metadata and the index), as ``private_test_mean_corrupted``."""
    import json

    report = json.loads(Path(path).read_text())
    if report.get("split") not in ("test", "PrivateTest") or not report.get("complete", True):
        raise SystemExit(f"{path}: not a complete PrivateTest run of benchmarks/robustness.py")
    for name, e in zoo.shipped_models().items():
        r = report["models"].get(name)
        if r is None:
            continue
        metrics = {**e.card.metrics, "private_test_mean_corrupted": r["mean_corrupted_accuracy"]}
        _set_metadata(e.path, {"metrics": metrics})
        card = load_classifier(str(e.path)).card
        entries = {n: (x.path.name, card if n == name else x.card) for n, x in zoo.shipped_models().items()}
        zoo.write_index(zoo.default_model_name(), entries)
        print(f"{name}: mean corrupted {r['mean_corrupted_accuracy'] * 100:.1f}% on {report['n']} PrivateTest faces")


def _set_metadata(onnx_path, values: dict) -> None:
    """Add/replace metadata entries of a written ONNX file (atomically)."""
    import onnx

    proto = onnx.load(str(onnx_path))
    set_metadata(proto, values)
    with atomic_path(onnx_path) as tmp:
        onnx.save(proto, str(tmp))


if __name__ == "__main__":
    main()
