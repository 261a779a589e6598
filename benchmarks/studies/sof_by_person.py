"""Specs on Faces' test part counted by person: each person's recall of a class counts once.

One person is in 257 of the test part's 410 photos (``public_sets.py people``), so its
per-photo figures are mostly his. This prints, per model, the recall of each class and the
balanced accuracy two ways, in one run: per photo (as ``cross_dataset.py`` counts) and per
person (each person's own recall of the class first, then their mean), with the number of
people behind each class. A photo without a face is a miss, as in ``cross_dataset.py``.

    python benchmarks/studies/sof_by_person.py --sof /data/sof --out benchmarks/results/sof_by_person
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
import public_sets as sets
from _common import command_line, machine, table, write_results
from label_audit import score  # each photo's answer on its largest face ('' where none)

MODELS = ("wild_reweigh_resnet_s", "wild_reweigh_resnet_s_int8", "quad_ensemble", "wild_rare_kd_vgg_s",
          "ferplus_resnet_s")


def by_person(hit: np.ndarray, truth: np.ndarray, person: np.ndarray) -> dict:
    """Per class: recall over photos, recall as the mean of each person's own, and the people;
    the two balanced accuracies (means over the classes)."""
    per = {}
    for e in sorted(set(truth), key=list(sets.SOF_LABELS.values()).index):
        sel = truth == e
        people = sorted(set(person[sel]))
        per[e] = {"photos": int(sel.sum()), "people": len(people), "per_photo": float(hit[sel].mean()),
                  "per_person": float(np.mean([hit[sel & (person == p)].mean() for p in people]))}
    return {"classes": per, "balanced_per_photo": float(np.mean([c["per_photo"] for c in per.values()])),
            "balanced_per_person": float(np.mean([c["per_person"] for c in per.values()]))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sof", type=Path, required=True, help="the clone of oogre/ESA-LG-M1")
    p.add_argument("--part", choices=sets.PARTS, default="test")
    p.add_argument("--models", nargs="+", default=list(MODELS), help="shipped names or ONNX files")
    p.add_argument("--out", type=Path, default=None, help="write OUT.txt and OUT.json")
    a = p.parse_args(argv)
    items = sets.sof(a.sof, a.part)
    truth = np.array([it.label for it in items])
    person = np.array([sets.sof_person(it.path.name) for it in items])
    results = {m: by_person(score(m, [it.path for it in items]) == truth, truth, person) for m in a.models}
    command = command_line(__file__, argv)
    first = next(iter(results.values()))["classes"]
    rows = [[m, f"{100 * r['balanced_per_photo']:.1f}%", f"{100 * r['balanced_per_person']:.1f}%",
             *(f"{100 * c['per_photo']:.1f} / {100 * c['per_person']:.1f}" for c in r["classes"].values())]
            for m, r in results.items()]
    lines = [machine(), command, "",
             f"Specs on Faces ({a.part}): {len(items)} photos of {len(set(person))} people; per class photos / people: "
             + ", ".join(f"{e} {c['photos']} / {c['people']}" for e, c in first.items()), "",
             table(["model", "balanced, per photo", "balanced, per person",
                    *(f"{e}: per photo / per person" for e in first)], rows)]
    text = "\n".join(lines)
    print(text)
    if a.out:
        write_results(a.out, text, {"machine": machine(), "command": command, "models": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
