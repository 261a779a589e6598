"""Blends of networks trained on each label source, as a lever for reading both label sets
(docs/training-log.md, "Reading both label sets": the blends).

Every pair and triple of the given models, their probabilities averaged (arithmetic and, for
pairs, geometric) with weights on a 0.1 grid, each blend also with the neutral logit lowered by
0.25-1.0: scored on PublicTest by the issue's targets (FER+ majority 7-class; FER2013 labels,
duplicates out; the lowest FER2013-label recall; the share called neutral). The weights are
searched on PublicTest itself, so its figures are optimistic: a blend that misses the targets
here misses them on PrivateTest too.

    python benchmarks/studies/label_blends.py --models default=wild_reweigh_resnet_s \\
        quad=quad_ensemble_int8 vgg=fer2013_vgg_s mx=fer2013_mini_xception \\
        w03=runs/intent_scores/intent_03_resnet_s.onnx w05=runs/intent_scores05/intent_05_resnet_s.onnx \\
        w07=runs/intent_scores07/intent_07_resnet_s.onnx

(the W runs: `scripts/campaigns/train_intent.sh`, exported by `scripts/score_candidates.sh`).

``--priors MODEL`` scores instead one model's answers re-weighted to another class prior (Saerens
et al. 2002: p'(k|x) ~ p(k|x) q(k) / p(k), p = the model's mean answer on FER2013's Training faces,
its prior): uniform, FER2013's Training label shares, and q estimated from PublicTest's own faces
by EM (a prior set from the data at hand):

    python benchmarks/studies/label_blends.py --priors wild_reweigh_resnet_s
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import FER_ZIP, machine, table  # noqa: E402

NEUTRAL_SHIFTS = (0.0, -0.25, -0.5, -0.75, -1.0)


def main() -> None:
    from facemotion.classify import classifier_labels, load_classifier
    from facemotion.labels import EMOTIONS
    from facemotion.progress import progress_bar
    from facemotion.protocol import in_labels, load_protocol_split, protocol_report

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", metavar="NAME=MODEL")
    p.add_argument("--priors", metavar="MODEL", help="score MODEL re-weighted to other class priors instead")
    p.add_argument("--data", default=str(FER_ZIP))
    p.add_argument("--top", type=int, default=8)
    a = p.parse_args()
    if not a.models and not a.priors:
        p.error("name --models or --priors")
    split, votes, dup = load_protocol_split(a.data, "val")

    def answers(model, images):
        c = load_classifier(model)
        out = np.concatenate([c.classify_faces(images[i:i + 256]) for i in range(0, len(images), 256)])
        q = in_labels(out, classifier_labels(c), EMOTIONS)
        return q / q.sum(1, keepdims=True)

    def score(p):
        r = protocol_report(p, EMOTIONS, split.labels, votes, dup)
        return (r["ferplus7"]["accuracy"], r["fer2013"]["accuracy_dedup"], min(r["fer2013_recall"].values()),
                r["neutral_share"])

    if a.priors:
        return priors(a, answers, score, split)
    probs = {}
    for spec in progress_bar(a.models, desc="models", unit="model"):
        name, _, model = spec.partition("=")
        probs[name] = answers(model or name, split.images)
    neutral = EMOTIONS.index("neutral")

    def shifted(p, shift):
        q = np.log(p + 1e-12)
        q[:, neutral] += shift
        return q

    grid = np.round(np.arange(0.1, 1.0, 0.1), 1)
    rows = [(score(p), name) for name, p in probs.items()]
    for x, y in itertools.combinations(probs, 2):
        for w in grid:
            arith = w * probs[x] + (1 - w) * probs[y]
            geo = np.exp(w * np.log(probs[x] + 1e-9) + (1 - w) * np.log(probs[y] + 1e-9))
            for kind, p in (("mean", arith), ("geometric", geo)):
                rows += [(score(shifted(p, s)), f"{kind} {w}·{x} + {1 - w:.1f}·{y}, neutral {s:+}") for s in NEUTRAL_SHIFTS]
    for x, y, z in itertools.combinations(probs, 3):
        for wx, wy in itertools.product(grid, grid):
            wz = round(1 - wx - wy, 1)
            if wz >= 0.1:
                p = wx * probs[x] + wy * probs[y] + wz * probs[z]
                rows += [(score(shifted(p, s)), f"mean {wx}·{x} + {wy}·{y} + {wz}·{z}, neutral {s:+}")
                         for s in NEUTRAL_SHIFTS[::2]]
    head = ["blend", "FER+ 7", "FER2013 dedup", "lowest recall", "called neutral"]

    def show(title, chosen):
        print(f"\n{title}")
        print(table(head, [[n, *(f"{v * 100:.2f}" for v in s)] for s, n in chosen[:a.top]]))

    print(f"{machine()}\nPublicTest, {len(rows)} blends of {', '.join(probs)}; targets: FER+ >= 83, FER2013 >= 66, "
          f"every recall >= 35, neutral <= 30")
    show("the models alone", [(s, n) for s, n in rows if n in probs])
    show("FER+ >= 83: the highest FER2013", sorted((r for r in rows if r[0][0] >= 0.83), key=lambda r: -r[0][1]))
    show("every recall >= 35 and neutral <= 30: the highest FER+",
         sorted((r for r in rows if r[0][2] >= 0.35 and r[0][3] <= 0.30), key=lambda r: -r[0][0]))
    met = [r for r in rows if r[0][0] >= 0.83 and r[0][1] >= 0.66 and r[0][2] >= 0.35 and r[0][3] <= 0.30]
    print(f"\nblends meeting every target: {len(met)}")


def priors(a, answers, score, split) -> None:
    """One model's PublicTest answers re-weighted to other class priors (the module's docstring)."""
    from facemotion.datasets import load_splits
    from facemotion.labels import EMOTIONS

    train = load_splits(a.data, ("train",))["train"]
    own = answers(a.priors, train.images).mean(0)  # the model's prior: its mean answer on the faces it learnt
    p = answers(a.priors, split.images)

    def to(q):
        w = p * (q / own)
        return w / w.sum(1, keepdims=True)

    q = own.copy()
    for _ in range(100):  # EM: the prior of PublicTest's faces, as the model's answers imply it
        q = to(q).mean(0)
    rows = [("as trained", own), ("uniform", np.full(len(own), 1 / len(own))),
            ("FER2013 Training label shares", np.bincount(train.labels, minlength=len(own)) / len(train.labels)),
            ("estimated on PublicTest (EM)", q)]
    print(f"{machine()}\nPublicTest, {a.priors} re-weighted to a class prior (its own: its mean answer on "
          f"FER2013 Training); targets: FER+ >= 83, FER2013 >= 66, every recall >= 35, neutral <= 30")
    print(table(["prior", *(e[:3] for e in EMOTIONS), "FER+ 7", "FER2013 dedup", "lowest recall", "called neutral"],
                [[name, *(f"{v * 100:.0f}" for v in prior), *(f"{v * 100:.2f}" for v in score(to(prior)))]
                 for name, prior in rows]))


if __name__ == "__main__":
    main()
