"""Explanation methods on FER2013 PublicTest: do the maps mean something, and what do they cost.

Each row explains --faces PublicTest faces (a fixed random sample), each for the model's own
prediction, then measures:

- rank corr vs random weights: Spearman correlation between the map of the trained model and
  the map of the same architecture with random weights (Adebayo et al. 2018), mean over the
  first --sanity-faces faces; near 0 means the map depends on what the model learned;
- deletion AUC: the predicted class's probability as the most salient pixels are turned gray
  first, area under the curve (lower = the map found what the prediction rests on), against
  the same pixels removed in random order (the baseline); ratio random / salient;
- insertion AUC: the same with pixels copied into a blurred face (higher is better); ratio
  salient / random;
- ms/face: one face explained alone (what `facemotion explain` costs per face), median over
  --speed-faces faces; the baseline is occlusion making one classifier call per occluded copy.

Grad-CAM runs on the torch checkpoint models/<model>.pt; its curves are scored with the shipped
ONNX file of the same name (the same network and flip views, 3x faster on this CPU; the script
prints how far their probabilities differ). Occlusion and RISE run on the ONNX model alone.

Then the mean Grad-CAM map of each emotion over every PublicTest face of that emotion (target:
the true label) -> docs/explain_mean_saliency.png, and everything -> benchmarks/results/explain.json.

    nice -n 10 python benchmarks/explain.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import FER_ZIP, ROOT, machine, table

# (method, checkpoint in models/, options): the defaults of each method, plus Grad-CAM at other layers than
# the default (vgg_fer_s: 12x12 vs 6x6; mini_xception: 6x6 vs 3x3), which is how the default
# layers were chosen on PublicTest
ROWS = [
    ("gradcam", "vgg_fer_s", {}),
    ("gradcam", "vgg_fer_s", {"layer": "features.19"}),
    ("gradcam++", "vgg_fer_s", {}),
    ("gradcam", "mini_xception", {}),
    ("gradcam", "mini_xception", {"layer": "blocks.2"}),
    ("occlusion", "vgg_fer_s", {}),
    ("rise", "vgg_fer_s", {}),
    ("occlusion", "mini_xception", {}),
]
TORCH_METHODS = ("gradcam", "gradcam++")


def random_onnx(checkpoint: Path, out: Path, seed: int) -> Path:
    """The checkpoint's architecture and card with random weights, exported like the shipped file."""
    from facemotion.training.backend import TorchClassifier
    from facemotion.training.checkpoint import load_checkpoint
    from facemotion.training.export import export_onnx

    ck = load_checkpoint(checkpoint)
    model = TorchClassifier(checkpoint).with_random_weights(seed).model
    ck = {k: v for k, v in ck.items() if k != "ema_state"}
    ck["model_state"] = model.state_dict()
    export_onnx(ck, out, tta=ck.get("tta", "none"))
    return out


def explain_all(explainer, batch, targets, desc, chunk=25):
    from facemotion.explain.base import unit_maps
    from facemotion.progress import progress_bar

    out = []
    for i in progress_bar(range(0, len(batch), chunk), desc=desc, unit="chunk"):
        out.append(unit_maps(explainer.explain(batch[i:i + chunk], targets[i:i + chunk])))
    return np.concatenate(out)


def curves_of(scorer, batch, targets, orders, steps, desc, chunk=50):
    """deletion_insertion over chunks of faces (each face's curves are its own), with a progress bar."""
    from facemotion.explain.faithfulness import deletion_insertion
    from facemotion.progress import progress_bar

    parts = [deletion_insertion(scorer.predict, batch[i:i + chunk], targets[i:i + chunk], orders[i:i + chunk], steps)
             for i in progress_bar(range(0, len(batch), chunk), desc=desc, unit="chunk")]
    return np.concatenate([d for d, _ in parts]), np.concatenate([i for _, i in parts])


def ms_per_face(explainer, batch, n):
    from facemotion.explain import explain_faces

    explain_faces(explainer, batch[:1])  # warm-up (ONNX Runtime's thread pool, torch's first pass)
    ts = []
    for i in range(n):
        t = time.perf_counter()
        explain_faces(explainer, batch[i:i + 1])
        ts.append(time.perf_counter() - t)
    return 1000 * statistics.median(ts)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(FER_ZIP))
    p.add_argument("--faces", type=int, default=500)
    p.add_argument("--sanity-faces", type=int, default=100)
    p.add_argument("--speed-faces", type=int, default=20)
    p.add_argument("--steps", type=int, default=20, help="points of each deletion/insertion curve, minus one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", type=int, nargs="+", default=None, help="only these rows of ROWS (0-based)")
    p.add_argument("--mean-figure", default=str(ROOT / "docs" / "explain_mean_saliency.png"))
    p.add_argument("--no-mean", action="store_true", help="skip the per-emotion mean maps")
    p.add_argument("--speed-only", action="store_true",
                   help="only the ms/face column (and its baseline), every row in one quick run; writes no files")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "explain.json"))
    a = p.parse_args()

    from facemotion.classify import load_classifier
    from facemotion.datasets import load_splits
    from facemotion.explain import get_explainer
    from facemotion.explain.faithfulness import auc, random_order, rank_correlation, salient_order
    from facemotion.explain.perturb import Occlusion
    from facemotion.preprocess import normalize
    from facemotion.writers import write_json
    from facemotion.zoo import RENAMED

    val = load_splits(a.data, ("val",))["val"]  # PublicTest only: nothing here reads PrivateTest
    idx = np.sort(np.random.default_rng(a.seed).choice(len(val), a.faces, replace=False))
    batch = normalize(val.images[idx])[:, None]
    orders_random = random_order(len(batch), batch.shape[-1] ** 2, a.seed)
    rows, records = [], []
    tmp = Path(tempfile.mkdtemp(prefix="facemotion-explain-"))
    random_models: dict = {}
    unbatched = None
    for k, (method, model, opts) in enumerate(ROWS):
        if a.rows is not None and k not in a.rows:
            continue
        ckpt = ROOT / "models" / f"{model}.pt"
        scorer = load_classifier(RENAMED[model])  # the shipped model made from that checkpoint
        explained = load_classifier(ckpt) if method in TORCH_METHODS else scorer
        probs = scorer.predict(batch)
        targets = probs.argmax(1)
        parity = float(np.abs(explained.predict(batch) - probs).max()) if explained is not scorer else 0.0
        explainer = get_explainer(method, explained, **opts)
        label = f"{method}" + (f" @{opts['layer']}" if "layer" in opts else "")
        if a.speed_only:
            ms = ms_per_face(explainer, batch, a.speed_faces)
            if method == "occlusion" and unbatched is None:
                unbatched = ms_per_face(Occlusion(scorer, batch_size=1), batch, a.speed_faces)
            records.append({"method": method, "ms_per_face": ms})
            rows.append([label, f"{model}{'.pt' if method in TORCH_METHODS else ''}",
                         getattr(explainer, "layer_name", "-"), f"{ms:.1f}"])
            continue
        t0 = time.perf_counter()
        maps = explain_all(explainer, batch, targets, f"{label} {model}")
        map_s = time.perf_counter() - t0

        if method in TORCH_METHODS:
            rnd = explained.with_random_weights(a.seed)
        else:
            if model not in random_models:
                random_models[model] = load_classifier(random_onnx(ckpt, tmp / f"{model}_random.onnx", a.seed))
            rnd = random_models[model]
        n_s = a.sanity_faces
        rmaps = explain_all(get_explainer(method, rnd, **opts), batch[:n_s], targets[:n_s], f"{label} random weights")
        rho = float(np.mean([rank_correlation(m, r) for m, r in zip(maps[:n_s], rmaps)]))

        curves = {}
        for name, orders in (("salient", salient_order(maps)), ("random", orders_random)):
            d, i = curves_of(scorer, batch, targets, orders, a.steps, f"{label} {model}: {name} order curves")
            curves[name] = {"deletion": auc(d), "insertion": auc(i),
                            "deletion_curve": d.mean(0).round(4).tolist(), "insertion_curve": i.mean(0).round(4).tolist()}
        ms = ms_per_face(explainer, batch, a.speed_faces)
        if method == "occlusion" and unbatched is None:
            # the baseline: the same occlusion, one classifier call per occluded copy
            unbatched = ms_per_face(Occlusion(scorer, batch_size=1), batch, max(3, a.speed_faces // 4))
        dels, dr = curves["salient"]["deletion"].mean(), curves["random"]["deletion"].mean()
        ins, ir = curves["salient"]["insertion"].mean(), curves["random"]["insertion"].mean()
        # share of faces whose salient deletion curve lies below the random one (paired)
        del_win = float((curves["salient"]["deletion"] < curves["random"]["deletion"]).mean())
        ins_win = float((curves["salient"]["insertion"] > curves["random"]["insertion"]).mean())
        layer = getattr(explainer, "layer_name", "-")
        rows.append([label, f"{model}{'.pt' if method in TORCH_METHODS else ''}", layer, f"{rho:.3f}",
                     f"{dels:.3f} / {dr:.3f} ({dr / dels:.2f}x, {del_win:.0%})",
                     f"{ins:.3f} / {ir:.3f} ({ins / ir:.2f}x, {ins_win:.0%})", f"{ms:.1f}"])
        records.append({"method": method, "model": model, "options": opts, "layer": layer,
                        "explained_backend": explained.backend, "scored_with": "onnxruntime",
                        "max_prob_diff_torch_vs_onnx": parity, "rank_corr_vs_random_weights": rho,
                        "sanity_faces": n_s, "deletion_auc": {"salient": dels, "random": dr},
                        "insertion_auc": {"salient": ins, "random": ir},
                        "faces_salient_beats_random": {"deletion": del_win, "insertion": ins_win},
                        "mean_curves": {o: {c: curves[o][f"{c}_curve"] for c in ("deletion", "insertion")} for o in curves},
                        "ms_per_face": ms, "maps_seconds_total": map_s})
        print(f"{label} {model}: torch vs ONNX max prob diff {parity:.2g}", flush=True)
    if unbatched is not None:
        batched = [r for r in records if r["method"] == "occlusion"][0]["ms_per_face"]
        rows.append(["occlusion, 1 call per copy (baseline)", "vgg_fer_s", "-", *["-"] * (0 if a.speed_only else 3),
                     f"{unbatched:.1f} ({unbatched / batched:.1f}x batched)"])
    if a.speed_only:
        print(f"\nms per face, one face explained alone, median of {a.speed_faces}, {machine()}")
        print(table(["method", "model", "layer", "ms/face"], rows))
        return

    print(f"\nexplanations on {a.faces} FER2013 PublicTest faces (seed {a.seed}), {machine()}")
    print("deletion: lower is better; insertion: higher; (ratio to random order, share of faces where salient "
          "beats random)")
    print(table(["method", "model", "layer", "rank corr vs random weights", "deletion AUC salient / random",
                 "insertion AUC salient / random", "ms/face"], rows))

    result = {"faces": a.faces, "seed": a.seed, "steps": a.steps, "split": "val (PublicTest)", "machine": machine(),
              "rows": records}
    if not a.no_mean:
        result["mean_saliency"] = mean_saliency(val, a.mean_figure)
        print("\nmean Grad-CAM map per emotion (vgg_fer_s.pt, every PublicTest face, target = its label): "
              "largest shares")
        print(table(["emotion", "faces", "top areas (share of saliency)"],
                    [[e, m["faces"], ", ".join(f"{r['region']} {r['share'] * 100:.0f}%" for r in m["regions"][:3])]
                     for e, m in result["mean_saliency"].items()]))
        print(f"wrote {a.mean_figure}")
    write_json(a.json, result)
    print(f"wrote {a.json}")


def mean_saliency(val, figure) -> dict:
    from facemotion.classify import load_classifier
    from facemotion.explain import get_explainer, region_shares
    from facemotion.explain.figures import mean_saliency_figure
    from facemotion.labels import EMOTIONS
    from facemotion.preprocess import normalize

    clf = load_classifier(ROOT / "models" / "vgg_fer_s.pt")
    maps = explain_all(get_explainer("gradcam", clf), normalize(val.images)[:, None], val.labels,
                       "mean maps, all PublicTest", chunk=128)
    means = np.stack([maps[val.labels == c].mean(0) for c in range(len(EMOTIONS))])
    faces = np.stack([val.images[val.labels == c].mean(0) for c in range(len(EMOTIONS))])
    counts = val.class_counts()
    mean_saliency_figure(means, faces, counts, figure,
                         "where vgg_fer_s looks (mean Grad-CAM for the true emotion, FER2013 PublicTest)")
    return {e: {"faces": int(n), "regions": region_shares(m)} for e, n, m in zip(EMOTIONS, counts, means)}


if __name__ == "__main__":
    main()
