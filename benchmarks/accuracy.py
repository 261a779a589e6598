"""FER2013 accuracy table for the committed models (and their ensemble).

For each checkpoint in models/: parameters, MFLOPs per face, PublicTest (validation, used
for selection and temperature fitting) and PrivateTest (test, reported only) accuracy,
with and without flip TTA, macro-F1, ECE before/after temperature scaling, and the
training compute recorded in the checkpoint. Beside them, the honest protocol
(facemotion.protocol, with flip TTA): accuracy against the FER+ majority on PrivateTest over
7 classes (3,343 faces) and 8 (3,370; a 7-class model is never right on contempt), the same
7-class number on PublicTest, FER2013 PrivateTest accuracy without the 288 faces that copy a
Training face, ECE against the FER+ majority and the cross-entropy to the crowd's votes.
Shipped ONNX models (names or .onnx files) may be given too: their own TTA is built in.
Writes benchmarks/results/accuracy.json (--out moves it) and, for the default model, a
confusion matrix and reliability diagram under docs/.

    python benchmarks/accuracy.py [models/*.pt] [runs/<run>/best.pt ...] [vgg_fer_s ...] [--merge] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from facemotion.datasets import load_splits
from facemotion.labels import EMOTIONS
from facemotion.metrics import classification_report, fit_temperature, reliability_bins, softmax
from facemotion.progress import progress_bar
from facemotion.protocol import card_metrics, in_labels, labels_of, protocol_inputs, protocol_report
from facemotion.training.checkpoint import checkpoint_compute, load_checkpoint, model_from_checkpoint
from facemotion.training.engine import predict_logits
from facemotion.training.evaluate import choose_ensemble, ensemble_probs, model_logits
from facemotion.training.models import count_parameters, mflops_per_face

from _common import FER_ZIP, ROOT, machine, table


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", default=sorted(str(x) for x in (ROOT / "models").glob("*.pt")))
    p.add_argument("--data", default=str(FER_ZIP))
    p.add_argument("--default", default="mini_xception", help="model whose confusion matrix goes to docs/")
    p.add_argument("--ensemble-max-params", type=float, default=9e6,
                   help="budget of the chosen ensemble: 9M parameters keep its ONNX file with float16 weights "
                        "(ship_model.py --weights float16) under 20 MB, the most the repository commits")
    p.add_argument("--merge", action="store_true",
                   help="keep the rows of models not measured in this run from the existing accuracy.json "
                        "(the ensembles are always this run's: their members' logits are not stored)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "accuracy.json"),
                   help="the JSON file written (and, with --merge, merged with)")
    a = p.parse_args()
    d = load_splits(a.data, ("val", "test", "train"))
    xs = {s: torch.from_numpy(d[s].images).unsqueeze(1) for s in ("val", "test")}
    ys = {s: d[s].labels for s in ("val", "test")}
    # the protocol's inputs: FER+ votes (None unless the data is FER2013 as the vote file keys it)
    # and the faces that copy a Training face
    prot = {s: protocol_inputs(d[s], d["train"]) for s in ("val", "test")}
    del d["train"]
    rows, results, logits_tta, full_probs = [], {}, {}, {}
    cpu = machine()  # every row names the CPU it was measured on (a merged file mixes runs)

    def seven(z, t=1.0):
        """FER2013 (7-class) logits of any model: an 8-class model's contempt left out."""
        return np.log(np.clip(in_labels(softmax(z, t), labels_of(z), EMOTIONS), 1e-12, 1))

    def protocol(probs_by_split):
        """The protocol's numbers (card metric names) on PrivateTest, + FER+ 7-class on PublicTest."""
        out = {}
        for sp in ("test", "val"):
            v, dup = prot[sp]
            r = protocol_report(probs_by_split[sp], labels_of(probs_by_split[sp]), ys[sp], v, dup)
            if sp == "test":
                out.update(card_metrics(r), n_ferplus_test=r["ferplus7"] and r["ferplus7"]["n"],
                           n_ferplus_test_8=r["ferplus8"] and r["ferplus8"]["n"], n_private_test_dedup=r["fer2013"]["n_dedup"],
                           ferplus_recall=r["ferplus7"] and r["ferplus7"]["recall"],
                           ferplus_recall_8=r["ferplus8"] and r["ferplus8"]["recall"],
                           fer2013_recall=r["fer2013_recall"], neutral_share=r["neutral_share"])
            elif r["ferplus7"]:
                out["ferplus_val"] = r["ferplus7"]["accuracy"]
        return out

    def pcell(r, key, pct=True):
        v = (r.get("protocol") or {}).get(key)
        return "-" if v is None else (f"{v * 100:.2f}" if pct else f"{v:.3f}")

    for path in progress_bar(a.models, desc="models", unit="model"):
        onnx = Path(path).suffix != ".pt"  # a shipped model name or an exported .onnx file
        if onnx:
            from facemotion.classify import load_classifier

            card = load_classifier(str(path)).card
            name = f"{Path(path).stem}.onnx"  # apart from the checkpoint of the same name
            raw = {s: model_logits(path, d[s].images, "none") for s in ("val", "test")}
            # a graph with flip averaging built in gives the same with flip again; otherwise flip it here
            flip = raw if card.tta == "flip" else {s: model_logits(path, d[s].images, "flip") for s in raw}
            z_full = {(s, tta): (flip if tta else raw)[s] for s in raw for tta in (False, True)}
        else:
            ck = load_checkpoint(path)
            model, _ = model_from_checkpoint(ck)
            model = model.to(memory_format=torch.channels_last)
            # a run's best.pt/last.pt is named by its run folder (runs/vgg_fer_m_r2/best.pt -> vgg_fer_m_r2)
            name = Path(path).parent.name if Path(path).stem in ("best", "last") else Path(path).stem
            z_full = {(s, tta): predict_logits(model, xs[s], tta=tta).numpy() for s in ("val", "test")
                      for tta in (False, True)}
        full_probs[name] = {s: softmax(z_full[(s, True)]) for s in ("val", "test")}
        z = {k: seven(v) for k, v in z_full.items()}
        logits_tta[name] = z
        t = fit_temperature(z[("val", True)], ys["val"])
        val = classification_report(ys["val"], softmax(z[("val", False)]))
        test = classification_report(ys["test"], softmax(z[("test", False)]))
        test_tta = classification_report(ys["test"], softmax(z[("test", True)]))
        test_cal = classification_report(ys["test"], softmax(z[("test", True)], t))
        val_tta = classification_report(ys["val"], softmax(z[("val", True)]))
        if onnx:
            tr = {"device": "CPU (2 cores)", **(card.training or {})}
            size = {"parameters": card.parameters or 0, "mflops": None, "onnx": True, "weights_dtype": card.weights_dtype,
                    "builtin_tta": card.tta}
        else:
            tr = {"device": "CPU (2 cores)", **checkpoint_compute(path)}
            size = {"parameters": count_parameters(model), "mflops": mflops_per_face(model)}
        res = {**size,
               "public_test": val["accuracy"], "public_test_tta": val_tta["accuracy"],
               "private_test": test["accuracy"], "private_test_tta": test_tta["accuracy"],
               "macro_f1_tta": test_tta["macro_f1"], "temperature": t,
               "ece_before": test_tta["ece"], "ece_after": test_cal["ece"], "training": tr,
               "per_class_recall_tta": {e: test_tta["per_class"][e]["recall"] for e in EMOTIONS},
               "confusion_tta": test_tta["confusion_matrix"], "labels": list(labels_of(z_full[("test", True)])),
               "protocol": protocol(full_probs[name]), "machine": cpu}
        results[name] = res
        mflops = "-" if res["mflops"] is None else f"{res['mflops']:.1f}"
        rows.append([name, f"{res['parameters']:,}", mflops, f"{val['accuracy'] * 100:.2f}",
                     f"{test['accuracy'] * 100:.2f}", f"{test_tta['accuracy'] * 100:.2f}",
                     f"{test_tta['macro_f1'] * 100:.2f}", f"{res['ece_before']:.3f} -> {res['ece_after']:.3f}",
                     f"{'+'.join(map(str, tr.get('epochs_by_run') or [tr.get('epochs', '?')]))} ep, "
                     f"{tr.get('cpu_hours', float('nan')):.2f} h {tr.get('device', '')}"
                     + (f" + {tr['teacher_cpu_hours']:.2f} h teachers" if tr.get("teacher_cpu_hours") else ""),
                     *(pcell(res, k) for k in ("ferplus_val", "ferplus_test", "ferplus_test_8", "private_test_dedup")),
                     pcell(res, "ece_ferplus", False), pcell(res, "crowd_ce", False)])
        if name == a.default:
            from facemotion.plots import confusion, reliability

            confusion(test_tta["confusion_matrix"], ROOT / "docs" / f"confusion_{name}.png",
                      title=f"{name}, PrivateTest (flip TTA): {test_tta['accuracy'] * 100:.2f}%")
            reliability(reliability_bins(ys["test"], softmax(z[("test", True)])),
                        reliability_bins(ys["test"], softmax(z[("test", True)], t)),
                        ROOT / "docs" / f"reliability_{name}.png",
                        title=f"{name}, PrivateTest: ECE {res['ece_before']:.3f} -> {res['ece_after']:.3f}")
    if len(logits_tta) > 1:
        members = list(logits_tta)
        probs = {m: {sp: softmax(logits_tta[m][(sp, True)]) for sp in ("val", "test")} for m in members}

        def ensemble(names, split):
            return np.mean([probs[m][split] for m in names], 0)

        # Besides "all members", the subset of 3+ members chosen on PublicTest (see
        # facemotion.training.evaluate.choose_ensemble): weak members drag a softmax average down.
        picked = choose_ensemble({m: probs[m]["val"] for m in members}, ys["val"], min_size=3,
                                 sizes={m: results[m]["parameters"] for m in members}, max_size=a.ensemble_max_params)
        for key, names in (("ensemble", members), ("ensemble_chosen_on_public_test", picked)):
            if key != "ensemble" and set(names) == set(members):
                continue
            ev, et = classification_report(ys["val"], ensemble(names, "val")), classification_report(
                ys["test"], ensemble(names, "test"))
            # one temperature for the ensemble, fitted on PublicTest (as ship_model.py does for
            # the packaged one); the members' costs add up
            logp = {sp: np.log(np.clip(ensemble(names, sp), 1e-12, 1)) for sp in ("val", "test")}
            t = fit_temperature(logp["val"], ys["val"])
            cal = classification_report(ys["test"], softmax(logp["test"], t))
            ens_full = {sp: ensemble_probs([np.log(np.clip(full_probs[m][sp], 1e-12, 1)) for m in names])
                        for sp in ("val", "test")}
            results[key] = {"members": names, "parameters": sum(results[m]["parameters"] for m in names),
                            "mflops": None if any(results[m]["mflops"] is None for m in names)
                            else sum(results[m]["mflops"] for m in names),
                            "public_test_tta": ev["accuracy"], "private_test_tta": et["accuracy"],
                            "macro_f1_tta": et["macro_f1"], "temperature": t, "ece_before": et["ece"],
                            "ece_after": cal["ece"], "protocol": protocol(ens_full), "machine": cpu}
            r = results[key]
            label = f"ensemble of {len(names)}" + (" (all)" if key == "ensemble" else ": " + " + ".join(names))
            rows.append([label, f"{r['parameters']:,}", "-" if r["mflops"] is None else f"{r['mflops']:.1f}",
                         f"{ev['accuracy'] * 100:.2f} (TTA)", "",
                         f"{et['accuracy'] * 100:.2f}", f"{et['macro_f1'] * 100:.2f}",
                         f"{r['ece_before']:.3f} -> {r['ece_after']:.3f}", "sum of the members'",
                         *(pcell(r, k) for k in ("ferplus_val", "ferplus_test", "ferplus_test_8", "private_test_dedup")),
                         pcell(r, "ece_ferplus", False), pcell(r, "crowd_ce", False)])
    print(f"FER2013 accuracy (%), selection on PublicTest only; {cpu}")
    print(table(["model", "params", "MFLOPs/face", "PublicTest", "PrivateTest", "PrivateTest +flip TTA",
                 "macro-F1 (TTA)", "ECE (TTA) before -> after T", "training compute",
                 "FER+ 7 PublicTest", "FER+ 7 PrivateTest", "FER+ 8 PrivateTest", "PrivateTest w/o train dups",
                 "ECE FER+ 7", "crowd CE"], rows))
    print("protocol columns (flip TTA; facemotion.protocol): FER+ majority accuracy over 7 classes (contempt-majority "
          "faces left out) and 8 (a 7-class model is never right on contempt), FER2013 accuracy without the "
          "test faces whose pixels equal a Training face's, ECE against the FER+ 7-class majority, mean "
          "-sum q log p to the crowd's vote distribution q")
    first = next((v["protocol"] for v in results.values() if v.get("protocol", {}).get("n_ferplus_test")), None)
    if first:
        print(f"faces: FER+ 7 PrivateTest {first['n_ferplus_test']:,}, FER+ 8 {first['n_ferplus_test_8']:,}, "
              f"PrivateTest w/o duplicates {first['n_private_test_dedup']:,}")
    # per class on both label sets, and how often each model says neutral: the crowd's agreement
    # can hide a model that misses most meant fear and sadness
    both = [[name, which, *(f"{rec[e] * 100:.1f}" if rec.get(e) is not None else "-" for e in EMOTIONS),
             f"{v['protocol']['neutral_share'] * 100:.1f}"]
            for name, v in results.items() if (v.get("protocol") or {}).get("neutral_share") is not None
            for which, rec in (("FER2013 labels, dups out", v["protocol"]["fer2013_recall"]),
                               ("FER+ majority, 7", v["protocol"].get("ferplus_recall") or {}))]
    if both:
        print("\nper-class recall (%), PrivateTest, flip TTA, against each label set; the share called neutral")
        print(table(["model", "labels", *EMOTIONS, "called neutral"], both))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if a.merge and out.exists():
        earlier = json.loads(out.read_text())
        # an earlier ensemble row stays unless this run measured all of its members (a run of two
        # models must not replace the pick over a whole pool with the average of those two)
        ours = {k for k in results if not k.startswith("ensemble")}
        replace = all(set(v.get("members", [])) <= ours for k, v in earlier.items() if k.startswith("ensemble"))
        if not replace:
            results = {k: v for k, v in results.items() if not k.startswith("ensemble")}
        results = {**results, **{k: v for k, v in earlier.items()
                                 if k not in results and (not replace or not k.startswith("ensemble"))}}
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
