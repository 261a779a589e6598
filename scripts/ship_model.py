"""Release a trained run as a shipped model.

1. slim the selected checkpoint (best.pt: lowest PublicTest loss) to weights + metadata
   -> models/<name>.pt (committed; fine-tune or evaluate it with torch);
2. fit the softmax temperature on PublicTest (flip TTA logits; ``--tta none``: plain) and store it;
3. export ONNX with that TTA and the temperature baked into the graph, checked against
   torch -> src/facemotion/weights/<name>.onnx;
4. record PublicTest accuracy and, for reporting only, PrivateTest accuracy in the model's
   card (facemotion.card.ModelCard) in the checkpoint, the ONNX file and the index
   src/facemotion/weights/models.json. Nothing here feeds PrivateTest back into a choice.

    python scripts/ship_model.py runs/mini_xception/best.pt --name fer2013_mini_xception [--default]

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

from facemotion import zoo  # noqa: E402
from facemotion.classify import load_classifier  # noqa: E402
from facemotion.datasets.ferplus import majority  # noqa: E402
from facemotion.fileio import atomic_path  # noqa: E402
from facemotion.labels import FERPLUS_EMOTIONS  # noqa: E402
from facemotion.metrics import fit_temperature, softmax  # noqa: E402
from facemotion.protocol import card_metrics, load_protocol_split, protocol_report  # noqa: E402
from facemotion.training.checkpoint import (  # noqa: E402
    atomic_torch_save,
    checkpoint_compute,
    load_checkpoint,
    model_from_checkpoint,
    slim,
)
from facemotion.training.engine import predict_logits  # noqa: E402
from facemotion.training.evaluate import ensemble_probs, model_logits  # noqa: E402
from facemotion.training.export import export_onnx, set_metadata  # noqa: E402

from _common import FER_ZIP  # noqa: E402


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
    p.add_argument("--prior-tau", type=float, default=0.0, metavar="TAU",
                   help="logit adjustment: subtract TAU x log(prior) from the output layer's bias, the prior "
                        "being the FER+ majority's share of each emotion in Training (docs/training-log.md, "
                        "'Real faces'); the temperature is fitted afterwards")
    p.add_argument("--data", default=str(FER_ZIP))
    p.add_argument("--default", action="store_true", help="make it the package's default model")
    p.add_argument("--retire", nargs="+", metavar="NAME", default=None,
                   help="take shipped models out of the package (their ONNX files and index entries; "
                        "checkpoints in models/ stay)")
    p.add_argument("--set-default", metavar="NAME", default=None,
                   help="make an already shipped model the default (nothing else changes)")
    p.add_argument("--device", default="CPU (2 cores)", help="where it was trained, for the record")
    p.add_argument("--teacher-hours", type=float, default=0.0,
                   help="compute spent on its distillation teachers, for the record (reported next to its own)")
    p.add_argument("--checkpoint-only", action="store_true",
                   help="write only models/<name>.pt (a teacher/ensemble member): no ONNX, not in models.json")
    p.add_argument("--tta", choices=("flip", "none"), default="flip",
                   help="average each face with its mirror inside the graph (2 passes), or not (half the cost)")
    p.add_argument("--weights", choices=("float32", "float16"), default="float32",
                   help="storage precision of the packaged ONNX weights (float16: half the file size)")
    p.add_argument("--protocol", action="store_true",
                   help="score every shipped model's file by the test protocol (docs/labels.md: FER+ majority, "
                        "FER2013 with and without the training duplicates, ECE, crowd cross-entropy) into its card")
    a = p.parse_args()
    if a.robustness:
        return record_robustness(a.robustness)
    if a.protocol:
        return record_protocol(a)
    if a.retire or a.set_default:
        return edit_index(p, a.retire or [], a.set_default)
    if a.int8:
        return ship_int8(a)
    if not a.checkpoint or not a.name:
        p.error("give the checkpoint(s) and --name (or --int8 MODEL)")
    if len(a.checkpoint) > 1:
        return ship_ensemble(a)
    a.checkpoint = a.checkpoint[0]

    ck = load_checkpoint(a.checkpoint)
    if a.prior_tau:
        adjust_priors(ck, a.prior_tau, a.data)
    # the whole run (last.pt's history, not only best.pt's), plus the run it was --init-ed from
    compute = checkpoint_compute(a.checkpoint)
    model, _ = model_from_checkpoint(ck)
    d = protocol_data(a.data)
    flip = a.tta == "flip"
    z = {s: predict_logits(model, torch.from_numpy(d[s][0].images).unsqueeze(1), tta=flip).numpy() for s in d}
    t = fit_temperature(*fit_target(z["val"], d["val"], ck["labels"]))  # PublicTest only
    acc = {s: metrics_of(np.log(np.clip(softmax(z[s], t), 1e-12, 1)), d[s], ck["labels"])["accuracy"] for s in d}
    out = slim(ck)
    out["temperature"] = t
    out["tta"] = a.tta  # the card's metrics are measured with its own tta
    out["name"] = a.name
    out["training"] = {**compute, "selected_epoch": ck["epoch"], "device": a.device, "args": ck.get("train_args", {})}
    if "logit_adjustment" in ck:
        out["training"]["logit_adjustment"] = ck["logit_adjustment"]
    if offsets := (ck.get("training") or {}).get("class_offsets"):  # folded in by training/offsets.py
        out["training"]["class_offsets"] = offsets
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
    r = export_onnx(pt, onnx_path, name=a.name, tta=flip, check_images=d["val"][0].images[:256], weights=a.weights,
                    extra_meta={"training": out["training"] | {"args": {}}})
    acc = _score_file(onnx_path, d)
    _record(a, onnx_path, acc)
    print(f"{a.name}: epoch {ck['epoch']}, T={t:.3f}, PublicTest {acc['val'] * 100:.2f}%, "
          f"PrivateTest {acc['test'] * 100:.2f}% (tta {a.tta}, the ONNX file); {pt} ({pt.stat().st_size // 1024} KiB), "
          f"{onnx_path} ({_describe(r)})")


def edit_index(p, retire: list, default: str | None) -> None:
    """Take ``retire``'d models out of the package (their ONNX files and index entries) and/or
    make the shipped ``default`` the default; nothing else in the index changes."""
    shipped = zoo.shipped_models()
    default = default or zoo.default_model_name()
    if default not in shipped:
        p.error(f"--set-default: {default} is not shipped ({', '.join(shipped)})")
    if gone := [n for n in retire if n not in shipped or n == default]:
        p.error(f"--retire: {', '.join(gone)}: not shipped, or the default")
    for n in retire:
        shipped[n].path.unlink()
    zoo.write_index(default, {n: (e.path.name, e.card) for n, e in shipped.items() if n not in retire})
    print(f"default {default}" + (f"; retired {', '.join(retire)}" if retire else ""))
    if new := [n for n in retire if n not in zoo.RETIRED]:  # the names keep meaning something
        print(f"add {', '.join(new)} to RETIRED in src/facemotion/zoo.py with the last commit that holds their files, "
              "and their rows to docs/history/models.md")


def adjust_priors(ck: dict, tau: float, data) -> None:
    """Logit adjustment (Menon et al. 2021) baked into the weights: the output layer's bias
    minus ``tau`` x log(prior), so a face no longer leans towards what Training holds most of
    (neutral, happy) at the cost of what it holds least (disgust, fear, contempt). The prior is
    the FER+ majority's share of each label among the Training faces FER+ keeps."""
    from facemotion.datasets import load_splits
    from facemotion.datasets.ferplus import as_ferplus, read_votes

    labels = tuple(ck["labels"])
    train = load_splits(data, ("train",))["train"]
    y = as_ferplus(train, read_votes()).labels if labels == FERPLUS_EMOTIONS else train.labels
    prior = np.bincount(y, minlength=len(labels)) / len(y)
    shift = torch.tensor(-tau * np.log(prior), dtype=torch.float32)
    for key in ("model_state", "ema_state"):
        state = ck.get(key)
        if state:  # the last bias with one entry per label is the output layer's
            name = [k for k, v in state.items() if k.endswith(".bias") and v.shape == (len(labels),)][-1]
            state[name] = state[name] + shift
    ck["logit_adjustment"] = {"tau": tau, "prior": dict(zip(labels, prior.round(5).tolist()))}


def protocol_data(data) -> dict:
    """split -> (the split with FER2013 labels, its FER+ votes, its training-duplicate mask)."""
    return {s: load_protocol_split(data, s, required=True) for s in ("val", "test")}


def fit_target(logits, sdata, labels):
    """(logits, labels) a temperature is fitted on: FER2013's labels for a 7-class model; for a
    FER+ model the faces' FER+ majority over its eight emotions (the faces that have one)."""
    split, votes, _ = sdata
    if tuple(labels) != FERPLUS_EMOTIONS:
        return logits, split.labels
    m = majority(votes, FERPLUS_EMOTIONS)
    return logits[m >= 0], m[m >= 0]


def metrics_of(logp, sdata, labels) -> dict:
    """A model's protocol report on one split from its log-probabilities; ``accuracy`` is the
    headline of the model's own labels: FER+ majority (7-class protocol) for a FER+ model, FER2013
    accuracy for a 7-class one."""
    split, votes, dup = sdata
    r = protocol_report(np.exp(logp), labels, split.labels, votes, dup)
    r["accuracy"] = r["ferplus7"]["accuracy"] if tuple(labels) == FERPLUS_EMOTIONS else r["fer2013"]["accuracy"]
    return r


def _score_file(onnx_path, d) -> dict:
    """The card metrics of the packaged file itself (ONNX Runtime, no torch) on each split: what a
    user of it gets, half-precision storage included."""
    clf = load_classifier(str(onnx_path))
    rep = {s: metrics_of(np.log(np.clip(clf.classify_faces(d[s][0].images), 1e-12, 1)), d[s], clf.card.labels)
           for s in d}
    out = {"public_test": rep["val"]["fer2013"]["accuracy"], "private_test": rep["test"]["fer2013"]["accuracy"],
           **card_metrics(rep["test"])}
    if rep["val"]["ferplus7"]:
        out["ferplus_val"] = rep["val"]["ferplus7"]["accuracy"]
    out["val"], out["test"] = rep["val"]["accuracy"], rep["test"]["accuracy"]
    return out


def _describe(r: dict) -> str:
    text = f"{r['bytes'] // 1024} KiB, {r['metadata']['weights_dtype']} weights, torch vs ORT max |dp| {r['max_abs_diff']:.1e}"
    if "fp16_max_abs_diff" in r:
        text += (f", float16 storage max |dp| {r['fp16_max_abs_diff']:.1e}, "
                 f"top-1 unchanged on {r['fp16_argmax_agreement'] * 100:.1f}% of {r['checked_inputs']} inputs")
    return text


def _record(a, onnx_path: Path, acc: dict) -> None:
    """The file's card, with the accuracy measured on the file itself, into the file and the index."""
    metrics = {k: v for k, v in acc.items() if k not in ("val", "test")}
    if "private_test_mean_corrupted" in (old := _card_metrics(onnx_path)):
        metrics["private_test_mean_corrupted"] = old["private_test_mean_corrupted"]
    _set_metadata(onnx_path, {"metrics": metrics})
    card = load_classifier(str(onnx_path)).card
    shipped = zoo.shipped_models()
    default = a.name if a.default or not shipped else zoo.default_model_name()
    entries = {n: (e.path.name, e.card) for n, e in shipped.items()}
    entries[a.name] = (onnx_path.name, card)
    zoo.write_index(default, entries)


def ship_ensemble(a) -> None:
    d = protocol_data(a.data)
    labels = load_checkpoint(a.checkpoint[0])["labels"]
    z = {s: [model_logits(c, d[s][0].images, tta="flip") for c in a.checkpoint] for s in d}
    logp = {s: np.log(np.clip(ensemble_probs(z[s]), 1e-12, 1)) for s in d}
    t = fit_temperature(*fit_target(logp["val"], d["val"], labels))  # PublicTest only
    onnx_path = ROOT / "src" / "facemotion" / "weights" / f"{a.name}.onnx"
    r = export_onnx(a.checkpoint, onnx_path, name=a.name, tta=True, temperature=t,
                    check_images=d["val"][0].images[:256], weights=a.weights)
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
    acc = _score_file(onnx_path, protocol_data(a.data))
    _record(a, onnx_path, acc)
    # the quantizer's check reads every PublicTest face with a label of its kind (for FER+: ties
    # and contempt included), so it is set beside the float on those faces, not beside acc['val']
    print(f"{a.name}: int8 of {a.int8}; PublicTest {acc['val'] * 100:.2f}%, PrivateTest {acc['test'] * 100:.2f}% "
          f"(the protocol of the card); on the quantizer's check ({check['faces']} PublicTest faces, "
          f"{check['labels']} labels) int8 {check['int8_public_test'] * 100:.2f}% against float "
          f"{check['float_public_test'] * 100:.2f}%, top-1 agreement {check['top1_agreement'] * 100:.1f}%; "
          f"{onnx_path} ({onnx_path.stat().st_size // 1024} KiB)")


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


def record_protocol(a) -> None:
    """Every shipped model's file scored by the test protocol, into its card in the index (the
    index's metrics may be re-measured; the file itself is not rewritten)."""
    import dataclasses

    d = protocol_data(a.data)
    for name, e in zoo.shipped_models().items():
        acc = _score_file(e.path, d)
        # the protocol's new columns; the accuracies the file itself recorded at release stay (the
        # index and the file must agree on them)
        metrics = {**{k: v for k, v in acc.items() if k not in ("val", "test")}, **e.card.metrics}
        card = dataclasses.replace(e.card, metrics=metrics).validate(name)
        entries = {n: (x.path.name, card if n == name else x.card) for n, x in zoo.shipped_models().items()}
        zoo.write_index(zoo.default_model_name(), entries)
        print(f"{name}: FER+ 7-class PrivateTest {acc.get('ferplus_test', float('nan')) * 100:.2f}%, FER2013 "
              f"{acc['private_test'] * 100:.2f}% ({acc.get('private_test_dedup', float('nan')) * 100:.2f}% without "
              f"duplicates), ECE {acc.get('ece_ferplus', float('nan')):.3f}, crowd CE {acc.get('crowd_ce', float('nan')):.3f}")


def _card_metrics(onnx_path) -> dict:
    try:
        return dict(load_classifier(str(onnx_path)).card.metrics)
    except Exception:  # noqa: BLE001  (a file being written for the first time)
        return {}


def _set_metadata(onnx_path, values: dict) -> None:
    """Add/replace metadata entries of a written ONNX file (atomically)."""
    import onnx

    proto = onnx.load(str(onnx_path))
    set_metadata(proto, values)
    with atomic_path(onnx_path) as tmp:
        onnx.save(proto, str(tmp))


if __name__ == "__main__":
    main()
