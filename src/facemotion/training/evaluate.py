"""``facemotion evaluate``: accuracy, per-class precision/recall/F1, macro-F1, confusion matrix,
calibration (ECE before/after temperature scaling), for one checkpoint or an ensemble.

Several checkpoints are an ensemble: their softmax outputs are averaged. ``--tta`` averages
each model's logits over the image and its mirror. ``--calibrate`` fits one temperature on
the validation split (PublicTest) -- never on the split being reported -- and reports ECE
before and after on the evaluated split. ``--choose-ensemble K`` picks, among the given
models, the subset of at least K members with the best PublicTest accuracy and reports that
subset: weak members drag a softmax average down, and choosing on PublicTest keeps the
reported split out of the choice.

Beside that report, the honest protocol (:mod:`facemotion.protocol`) is printed whenever the FER+
vote file keys the data's faces (FER2013 in the Kaggle layout or fer2013.csv): accuracy against
the FER+ majority over 7 and 8 classes, FER2013 accuracy with and without the faces that copy a
training face, per-class recall, ECE and the cross-entropy to the crowd's votes. ``--labels
ferplus`` makes FER+'s eight-class majority the primary labels (faces without a unique
majority left out), so the confusion matrix and per-class table are FER+'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from itertools import combinations
from pathlib import Path

import numpy as np

from .. import tta as _tta
from ..classify import load_classifier
from ..datasets import SPLITS, available_splits, load_splits
from ..datasets.loading import add_label_options, check_label_options
from ..detect import list_detectors
from ..errors import DataError, FacemotionError, UsageError
from ..labels import EMOTIONS, FERPLUS_EMOTIONS
from ..metrics import classification_report, fit_temperature, reliability_bins, softmax
from ..preprocess import normalize
from ..protocol import in_labels, labels_of, protocol_inputs, protocol_report
from ..validate import HelpFormatter, integer, number, option, output_folder, shown_choices
from .eval_report import format_report, undefined_as_none, write_report  # noqa: F401  (format_report: the API's)


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facemotion evaluate", add_help=add_help,
        description="Evaluate checkpoint(s) or ONNX model(s) on a dataset split. Several models = a softmax-averaged ensemble.",
        formatter_class=HelpFormatter)
    p.add_argument("models", nargs="+", help="checkpoint .pt or exported .onnx files (or shipped model names)")
    p.add_argument("--data", required=True,
                   help="dataset (fer2013.csv or fer2013.tar.gz, the Kaggle folder, zip or tar), or a folder of "
                        "<emotion>/<photo> (photos of any size: the largest face found is scored)")
    p.add_argument("--crops", action="store_true",
                   help="with an <emotion>/<image> folder: the images are face crops already (no detector)")
    p.add_argument("--detector", default=None, choices=list_detectors(aliases=True),
                   metavar=shown_choices(list_detectors()),
                   help="with an <emotion>/<photo> folder: the face detector (default: the recognizer's)")
    p.add_argument("--split", default=None, choices=SPLITS,
                   help="split to report: test = PrivateTest (the default), val = PublicTest")
    p.add_argument("--tta", nargs="?", const="flip", default="none", choices=["none", "flip", "tencrop"],
                   help="test-time augmentation: flip (image + mirror; --tta alone) or tencrop (5 shifted crops "
                        "x mirror)")
    p.add_argument("--calibrate", action="store_true",
                   help="fit a temperature on the val split and report ECE before/after on --split")
    p.add_argument("--choose-ensemble", type=option(integer, 0), default=0, metavar="K",
                   help="use the subset of >= K of the given models with the best accuracy on val (PublicTest); "
                        "0 = all of them")
    p.add_argument("--ensemble-max-params", type=option(number, 0, lo_open=True), default=None, metavar="N",
                   help="with --choose-ensemble: only subsets of at most N parameters in all (e.g. 5e6, "
                        "which keeps an fp32 ONNX ensemble under 20 MB)")
    p.add_argument("-o", "--out", type=option(output_folder), default=None,
                   help="folder for report.json, confusion.png, reliability.png (with --robustness: robustness.json "
                        "and its figures)")
    p.add_argument("--batch-size", type=option(integer, 1), default=512, help="faces a forward pass (memory, not the result)")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip unreadable faces of a dataset; in a folder of photos, count an unreadable photo as a miss")
    p.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    p.add_argument("--groups", default=None, metavar="CSV",
                   help="with an <emotion>/<photo> folder: accuracy per group of people, with intervals and a "
                        "test of the gap (columns: file, optional person, then one column per attribute; "
                        "docs/training.md)")
    p.add_argument("--control", default=None, metavar="COLUMN",
                   help="with --groups: a column of the CSV to hold equal (smile breadth, lighting...): each gap is "
                        "also tested within its levels")
    add_label_options(p)
    from ..robustness import check_corruptions, check_severities

    g = p.add_argument_group("robustness", "accuracy under the seeded corruption suite (docs/robustness.md); "
                             "with several models, each is reported on its own")
    g.add_argument("--robustness", action="store_true",
                   help="clean accuracy, accuracy per corruption and severity, mean corrupted accuracy, the worst "
                        "corruption and per-class recall under each; -o writes robustness.json and figures")
    g.add_argument("--limit", type=option(integer, 0), default=0,
                   help="a stratified subset of N faces (chosen by --seed), for quick runs (0: all)")
    g.add_argument("--corruptions", type=option(check_corruptions), default="all", metavar="LIST",
                   help="comma-separated corruptions or families (docs/robustness.md)")
    g.add_argument("--severities", type=option(check_severities), default="1,2,3", metavar="LIST",
                   help="comma-separated severities among 1,2,3")
    g.add_argument("--seed", type=option(integer, 0, 2**31 - 1), default=0,
                   help="seeds the corruptions, the --limit subset and --groups' permutation test")
    return p


def model_logits(model_ref, images: np.ndarray, tta="none", batch_size: int = 512) -> np.ndarray:
    """Log-probabilities (as logits) of one model on uint8 N x 48 x 48 faces.

    Checkpoints run in torch (raw logits); any other model (ONNX, a shipped name) returns
    probabilities, whose log is used -- softmax of log p is p, so averaging and temperature
    fitting work for both. The views of ``tta`` are averaged as logits (:mod:`facemotion.tta`).
    """
    path = Path(str(model_ref))
    if path.suffix == ".pt":
        import torch

        from .checkpoint import model_from_checkpoint
        from .engine import predict_logits

        model, _ = model_from_checkpoint(path)
        model = model.to(memory_format=torch.channels_last)
        return predict_logits(model, torch.from_numpy(images).unsqueeze(1), batch_size, tta).numpy()
    clf = load_classifier(str(model_ref))
    out = []
    for i in range(0, len(images), batch_size):
        # the views' log-probabilities averaged, as a checkpoint's logits are and an export's
        # graph averages its views: a checkpoint and its export score the same with --tta
        out.append(_tta.apply(lambda v: np.log(np.clip(clf.predict(v), 1e-12, 1)),
                              normalize(images[i:i + batch_size])[:, None], tta))
    return np.concatenate(out) if out else np.zeros((0, len(EMOTIONS)))


def in_graph(model_ref) -> str | None:
    """What an exported model's graph does itself (its card's views and temperature), which a
    report's --tta adds to; None for a checkpoint or a graph that does neither."""
    if Path(str(model_ref)).suffix == ".pt":
        return None
    try:
        card = load_classifier(str(model_ref)).card
    except FacemotionError:  # not a model file this reads (it was scored by other means): nothing to say
        return None
    said = ([f"{card.tta} views"] if card.tta not in (None, "none") else []) + \
        ([f"temperature {card.temperature:.3g}"] if abs(card.temperature - 1.0) > 1e-6 else [])
    return ", ".join(said) or None


def ensemble_probs(logits_list, temperature: float = 1.0) -> np.ndarray:
    """The members' softmax outputs averaged; members with different label sets (7 and 8
    classes) are averaged over the larger one (a 7-class member gives contempt 0)."""
    probs = [softmax(z, temperature) for z in logits_list]
    common = max((labels_of(p) for p in probs), key=len)
    return np.mean([in_labels(p, labels_of(p), common) for p in probs], axis=0)


def primary_labels(split, labels: str = "fer2013", votes=None, where: str = "dataset"):
    """(mask of the faces scored, their labels, the label names) for ``evaluate``'s report:
    the dataset's own labels (``fer2013``), or FER+'s eight-class majority (``ferplus``: faces
    with a unique most-voted emotion; the vote file must key the data)."""
    if labels in (None, "fer2013"):
        return np.ones(len(split), bool), split.labels, tuple(split.label_names)
    if labels != "ferplus":
        raise DataError(f"--labels: unknown label source {labels!r}")
    from ..datasets.ferplus import majority, read_votes, votes_for

    m = majority(votes_for(split.sources, read_votes(votes), where), FERPLUS_EMOTIONS)
    return m >= 0, m[m >= 0], FERPLUS_EMOTIONS


def choose_ensemble(val_probs: dict, y_val: np.ndarray, min_size: int = 3, *, sizes: dict | None = None,
                    max_size: float | None = None) -> list:
    """Names of the subset (>= ``min_size`` members) of ``val_probs`` (name -> N x 7 softmax on
    the validation split) whose averaged probabilities are most accurate on ``y_val``; ties go
    to the lower NLL, then to the smaller subset. Exhaustive: fine for the handful of models
    an ensemble has (2^n subsets). With ``max_size``, only subsets whose ``sizes`` (name ->
    parameters) add up to at most that are considered: a packaging budget, fixed before any
    accuracy is looked at, so the choice is still made on the validation split alone."""
    names = list(val_probs)
    if len(names) <= min_size and (max_size is None or sum(sizes[m] for m in names) <= max_size):
        return names  # no choice to make

    def score(subset):
        r = classification_report(y_val, np.mean([val_probs[m] for m in subset], axis=0))
        return r["accuracy"], -r["nll"], -len(subset)

    subsets = [c for k in range(max(min_size, 1), len(names) + 1) for c in combinations(names, k)
               if max_size is None or sum(sizes[m] for m in c) <= max_size]
    if not subsets:
        raise FacemotionError(f"no ensemble of {min_size}+ of the {len(names)} given models fits {max_size:,.0f} parameters")
    return list(max(subsets, key=score))


def model_parameters(model_ref) -> int:
    """Parameter count of a checkpoint (.pt) or of an exported/shipped ONNX model (its metadata)."""
    path = Path(str(model_ref))
    if path.suffix == ".pt":
        from .checkpoint import model_from_checkpoint
        from .models import count_parameters

        return count_parameters(model_from_checkpoint(path)[0])
    n = load_classifier(str(model_ref)).card.parameters
    if n is None:  # counted as 0 it would slip through any budget
        raise FacemotionError(f"{model_ref}: ONNX metadata has no parameter count (re-export with `facemotion export`)")
    return int(n)


def evaluate_models(models, data, split="test", *, tta="none", calibrate=False, batch_size=512,
                    skip_bad=False, out=None, choose_ensemble_min: int = 0,
                    ensemble_max_params: float | None = None, labels: str = "fer2013", votes=None,
                    protocol: bool = True) -> dict:
    """The report of ``models`` (averaged) on ``split`` of ``data``, against ``labels``
    (fer2013: the dataset's; ferplus: FER+'s 8-class majority), with the honest protocol
    (``report["protocol"]``, :func:`facemotion.protocol.protocol_report`; None where not computed)."""
    from ..zoo import shipped_name

    models = [shipped_name(m) if isinstance(m, str) else m for m in models]  # an older name: as it runs now
    need_val = bool(calibrate or choose_ensemble_min)
    # train only for the protocol's duplicates (a test face copying a training face)
    with_train = protocol and split != "train" and "train" in available_splits(data)
    names = [split] + (["val"] if need_val else []) + (["train"] if with_train else [])
    _check_split(data, split)
    d = load_splits(data, list(dict.fromkeys(names)), skip_bad=skip_bad)
    ev, va = d[split], (d["val"] if need_val else None)
    keep, y_ev, label_names = primary_labels(ev, labels, votes, f"{data} ({split})")
    if va is not None:
        keep_va, y_va, _ = primary_labels(va, labels, votes, f"{data} (val)")
    va_logits = [model_logits(m, va.images, tta, batch_size) for m in models] if va is not None else None
    chosen_from = None
    if choose_ensemble_min and len(models) > 1:
        sizes = {i: model_parameters(m) for i, m in enumerate(models)} if ensemble_max_params else None
        picked = choose_ensemble({i: in_labels(softmax(z), labels_of(z), label_names)[keep_va]
                                  for i, z in enumerate(va_logits)}, y_va, choose_ensemble_min,
                                 sizes=sizes, max_size=ensemble_max_params)
        chosen_from, models, va_logits = [str(m) for m in models], [models[i] for i in picked], \
            [va_logits[i] for i in picked]
    # the reported split is predicted only for the chosen members
    logits = va_logits if va is ev else [model_logits(m, ev.images, tta, batch_size) for m in models]
    all_probs = ensemble_probs(logits)
    probs = in_labels(all_probs, labels_of(all_probs), label_names)[keep]
    report = undefined_as_none(classification_report(y_ev, probs, label_names))
    report.update({"models": [str(m) for m in models], "split": split, "tta": tta, "data": str(data),
                   "label_source": labels or "fer2013"})
    lacking = _note_what_is_not_scored(report, ev, labels_of(all_probs), label_names)
    if graph := {Path(str(m)).name: g for m in models if (g := in_graph(m))}:
        report["in_graph"] = graph  # what --tta adds to: a reader of "tta: none" should know
    if labels == "ferplus":
        report["left_out"] = int((~keep).sum())  # no FER+ row, or no unique emotion majority
    report["protocol"] = None
    if protocol:
        v, dup = protocol_inputs(ev, d.get("train"), votes, where=f"{data} ({split})")
        if v is not None:
            report["protocol"] = protocol_report(all_probs, labels_of(all_probs), ev.labels, v, dup)
    if chosen_from is not None:
        report["ensemble_chosen_on"] = "val"
        report["ensemble_candidates"] = chosen_from
    bins_before, bins_after = (reliability_bins(y_ev, probs) if not lacking else None), None
    if calibrate and not lacking:
        # one temperature for the ensemble, fitted on the log of its averaged probabilities
        pv = ensemble_probs(va_logits)
        cal = calibrated(report, probs, y_ev, in_labels(pv, labels_of(pv), label_names)[keep_va], y_va, label_names)
        bins_after = reliability_bins(y_ev, cal)
    if out is not None:
        write_report(Path(out), report, label_names, bins_before, bins_after,
                     f"{split}{' (FER+ majority)' if labels == 'ferplus' else ''}")
    return report


def _check_split(data, split: str) -> None:
    if split != "train" and Path(data).is_file() and available_splits(data) == ["train"]:
        # an archive of <emotion>/<image> folders only: all of it reads as Training images
        raise DataError(f"{data}: no {split} part (its images lie in <emotion>/ folders, not under train/ val/ "
                        "test/, and read as training images); to score a folder of <emotion>/<photo> photos, "
                        "unpack it and give the folder")


def _note_what_is_not_scored(report: dict, ev, model_labels, label_names) -> list[str]:
    """The files --skip-bad left out, and the labels scored that the model lacks (returned): a
    7-label model on FER+'s eight gives contempt 0, so a likelihood or a calibration over the
    eight measures that 0 (clipped to 1e-12), not the model: none is given."""
    if ev.skipped:  # the faces scored are fewer than the split's: said, not silent
        report["skipped"] = list(ev.skipped)
    lacking = [e for e in label_names if e not in model_labels]
    if lacking:
        report.update(nll=None, ece=None, calibration_skipped=f"the model has no {', '.join(lacking)}: its probabilities "
                      f"do not cover the labels scored, so no NLL, ECE or temperature")
    return lacking


def calibrated(report: dict, probs, y, val_probs, y_val, label_names) -> np.ndarray:
    """``probs`` under one temperature fitted on the validation split's ``val_probs``; the
    ECE and NLL before and after go into ``report["calibration"]``."""
    t = fit_temperature(np.log(np.clip(val_probs, 1e-12, 1)), y_val)
    cal = softmax(np.log(np.clip(probs, 1e-12, 1)), t)
    after = classification_report(y, cal, label_names)
    report["calibration"] = {"temperature": t, "fitted_on": "val", "ece_before": report["ece"],
                             "ece_after": after["ece"], "nll_before": report["nll"], "nll_after": after["nll"]}
    return cal


def main(args) -> dict:
    from .robustness import check_args

    args.split = args.split or "test"
    check_args(args)
    check_label_options(args)
    if args.choose_ensemble and len(args.models) < 2:
        raise UsageError("--choose-ensemble: chooses among two or more models; name them")
    if args.choose_ensemble and args.choose_ensemble > len(args.models):
        raise UsageError(f"--choose-ensemble {args.choose_ensemble}: more than the {len(args.models)} models named")
    if args.ensemble_max_params and not args.choose_ensemble:
        raise UsageError("--ensemble-max-params: bounds --choose-ensemble's choice; add --choose-ensemble N")
    if args.robustness and getattr(args, "labels", None) == "ferplus":
        raise UsageError("--labels ferplus: evaluate --robustness scores FER2013's labels; leave --labels out "
                         "(benchmarks/robustness.py --labels ferplus scores FER+'s)")
    if args.robustness:
        from .robustness import main as robustness_main

        r, text, wrote = robustness_main(args)
    else:
        r = evaluate_models(args.models, args.data, args.split, tta=args.tta, calibrate=args.calibrate,
                            batch_size=args.batch_size, skip_bad=args.skip_bad, out=args.out,
                            choose_ensemble_min=args.choose_ensemble, ensemble_max_params=args.ensemble_max_params,
                            labels=getattr(args, "labels", None) or "fer2013", votes=getattr(args, "votes", None))
        text = format_report(r)
        wrote = f"wrote {Path(args.out or '.') / 'report.json'}, confusion.png" + (
            ", reliability.png" if r["ece"] is not None else "")
    if args.json:
        print(json.dumps(r))
    else:
        print(text)
        if args.out:
            print(wrote, file=sys.stderr)
    return r
