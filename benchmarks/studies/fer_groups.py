"""FER+ accuracy per apparent gender: do the models read FER2013's men and women alike?

The FER2013 faces of one split (``--split val``: PublicTest, where a choice may look; ``test``:
PrivateTest, for the record) are split by ``scripts/fer_gender.py``'s reading (p_female >= 0.5:
read as a woman). For each model, and each group, on the FER+ 7-class protocol (the crowd's
majority among FER2013's seven emotions): accuracy, happy recall, neutral recall and the share
of the crowd's happy faces the model calls neutral, with 95% Wilson intervals, and the gap
women - men in happy recall. Every model runs in the same process on the same faces, the default
first.

    python benchmarks/studies/fer_groups.py --gender runs/gender/gender.csv [--models NAME_OR_ONNX ...] [--split val|test]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from facemotion.classify import classifier_labels, load_classifier
from facemotion.datasets.ferplus import majority
from facemotion.labels import EMOTIONS
from facemotion.protocol import in_labels, load_protocol_split
from facemotion.training.groups import read_groups
from facemotion.zoo import default_model_name

from _common import FER_ZIP, machine, proportion

GROUPS = ("women", "men")


def measure(pred: np.ndarray, y: np.ndarray, woman: np.ndarray) -> dict:
    happy, neutral = EMOTIONS.index("happy"), EMOTIONS.index("neutral")
    out = {}
    for name, m in zip(GROUPS, (woman, ~woman)):
        row = {"faces": int(m.sum())}
        for key, sel, hit in (("accuracy", m, pred == y), ("happy_recall", m & (y == happy), pred == happy),
                              ("neutral_recall", m & (y == neutral), pred == neutral),
                              ("happy_as_neutral", m & (y == happy), pred == neutral)):
            row[key] = proportion(hit, sel)
        out[name] = row
    out["happy_gap"] = out["women"]["happy_recall"]["value"] - out["men"]["happy_recall"]["value"]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gender", required=True, help="scripts/fer_gender.py's gender.csv")
    p.add_argument("--models", nargs="+", default=None, help="shipped names or ONNX files (default: the default model)")
    p.add_argument("--data", default=str(FER_ZIP))
    p.add_argument("--split", choices=["val", "test"], default="val")
    p.add_argument("--out", default=None, help="write OUT.txt and OUT.json")
    a = p.parse_args(argv)
    split, votes, _ = load_protocol_split(a.data, a.split, required=True)
    y = majority(votes, EMOTIONS)
    # the groups as train --balance-groups reads them (p_female >= 0.5: female)
    groups = read_groups(a.gender)
    group = np.array([groups.get(str(s), "") for s in split.sources], dtype=object)
    keep = (y >= 0) & (group != "")
    if not keep.any():  # scripts/fer_gender.py reads Training and PublicTest, never PrivateTest
        raise SystemExit(f"fer_groups.py: {a.gender} has no reading for any face of the {a.split} split")
    faces, y, woman = split.images[keep], y[keep], group[keep] == "female"
    models = a.models or [default_model_name()]
    lines = [machine(), f"python benchmarks/studies/fer_groups.py --gender {a.gender} --split {a.split} --models {' '.join(models)}",
             "", f"FER2013 {'PublicTest' if a.split == 'val' else 'PrivateTest'}, FER+ 7-class: {len(y)} faces, "
                 f"{woman.sum()} read as women, {(~woman).sum()} as men ({int((~keep).sum())} without a majority "
                 "or a reading left out)", ""]
    head = f"{'model':<34}{'group':<7}{'faces':>6}{'accuracy':>22}{'happy recall':>22}{'neutral recall':>22}{'happy -> neutral':>22}"
    lines += [head, "-" * len(head)]
    report = {}
    for name in models:
        clf = load_classifier(name)
        probs = in_labels(clf.classify_faces(faces), classifier_labels(clf), EMOTIONS)
        r = measure(probs.argmax(1), y, woman)
        report[str(name)] = r
        for g in GROUPS:
            row = r[g]
            cells = "".join(f"{row[k]['value'] * 100:>8.1f}% [{row[k]['ci'][0] * 100:4.1f}, {row[k]['ci'][1] * 100:4.1f}]"
                            for k in ("accuracy", "happy_recall", "neutral_recall", "happy_as_neutral"))
            lines.append(f"{str(name)[-33:]:<34}{g:<7}{row['faces']:>6}{cells}")
        lines.append(f"{'':<34}happy recall, women - men: {r['happy_gap'] * 100:+.1f} points")
    base = report[str(models[0])]
    for name in models[1:]:
        r = report[str(name)]
        lines.append(f"{str(name)} against {models[0]}: men's happy recall x"
                     f"{r['men']['happy_recall']['value'] / base['men']['happy_recall']['value']:.3f}, "
                     f"gap {r['happy_gap'] * 100:+.1f} against {base['happy_gap'] * 100:+.1f} points")
    text = "\n".join(lines)
    print(text)
    if a.out:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".txt").write_text(text + "\n")
        out.with_suffix(".json").write_text(json.dumps({"machine": machine(), "split": a.split, "models": report},
                                                       indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
