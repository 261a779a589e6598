"""Does the London gender gap hold on other people? Specs on Faces' held-out people by gender
and age (docs/bias.md, "Specs on Faces", where the plan and its reading were written first).

Specs on Faces (oogre/ESA-LG-M1, ``data/original images``) names each photo
``<person>_<n>_<m|f>_<age>_..._<no|hp|sd|sr>_...jpg``. The photos of the chosen parts (split by
person, as everywhere: benchmarks/public_sets.py) are scored as users run the models, the
largest face of each, and read with :mod:`facemotion.fairness`, the person as the unit:

- ``gender, happy photos``: happy recall on the happy photos, per gender;
- ``gender`` and ``age band`` (of the person's median age: the photos span years): accuracy
  over every photo.

Each with Wilson intervals and a permutation test, Holm-adjusted over the three. Printed for
the parts together and for the test part alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from _common import command_line, machine, write_results
from public_sets import part_of, sof

MODELS = ("default", "quad_ensemble_int8")  # "default": the shipped default, whichever it is
GENDERS = {"f": "female", "m": "male"}
ATTRIBUTES = ("gender, happy photos", "gender", "age band")


def age_band(age: float | None) -> str | None:
    return None if age is None else "<25" if age < 25 else "25-34" if age < 35 else "35+"


def person_fields(path: Path) -> tuple[str, str, int | None]:
    """(person, gender, age when photographed) from a Specs on Faces file name."""
    f = path.name.split("_")
    return f[0], GENDERS[f[2]], int(f[3]) if f[3].isdigit() else None


def groups_of(items) -> tuple[dict[str, list], list[str]]:
    """The attributes of :data:`ATTRIBUTES` per photo (None where a photo is not in one), and its
    person. A person's photos span years, so the age band is that of the person's median age."""
    fields = [person_fields(i.path) for i in items]
    ages = {}
    for person, _, age in fields:
        if age is not None:
            ages.setdefault(person, []).append(age)
    band = {person: age_band(float(np.median(a))) for person, a in ages.items()}
    groups = {"gender, happy photos": [g if i.label == "happy" else None for i, (_, g, _) in zip(items, fields)],
              "gender": [g for _, g, _ in fields], "age band": [band.get(p) for p, _, _ in fields]}
    return groups, [p for p, _, _ in fields]


def score(model: str, items) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(truth indices, answers, faces found, labels) of ``model`` on ``items``, as users run it."""
    from facemotion import EmotionRecognizer
    from facemotion.labelled import score_images, truth_and_pred

    rec = EmotionRecognizer(model=model)
    probs, found = score_images([rec], items, desc=f"Specs on Faces ({model})")
    y, pred = truth_and_pred([i.label for i in items], probs, found, rec.labels)
    return y, pred, found, list(rec.labels)


def main(argv=None) -> int:
    from facemotion.fairness import format_group_report, group_report

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sof", type=Path, default=Path("/data/sof"), help="the clone of oogre/ESA-LG-M1")
    p.add_argument("--parts", nargs="+", default=["val", "test"], choices=["train", "val", "test"])
    p.add_argument("--models", nargs="+", default=list(MODELS), help="shipped names or ONNX files ('default': the default)")
    p.add_argument("--permutations", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write OUT.txt and OUT.json")
    p.add_argument("--figures", type=Path, default=None, help="folder for sof_groups.png: the first model, all parts")
    a = p.parse_args(argv)
    items = [i for i in sof(a.sof) if part_of(i.path.name.split("_")[0]) in a.parts]
    groups, persons = groups_of(items)
    command = command_line(__file__, argv)
    lines = [machine(), command, "", f"Specs on Faces, parts {' + '.join(a.parts)}: {len(items)} photos of "
             f"{len(set(persons))} people"]
    results = {}
    last = a.parts[-1]
    alone = np.array([part_of(q) == last for q in persons])
    from facemotion.zoo import default_model_name

    a.models = [default_model_name() if m == "default" else m for m in a.models]
    for m in a.models:
        y, pred, found, labels = score(m, items)
        results[m] = {"+".join(a.parts): group_report(y, pred, found, labels, groups, persons, seed=a.seed,
                                                       permutations=a.permutations)}
        lines += ["", f"## {m}: {' + '.join(a.parts)}", format_group_report(results[m]["+".join(a.parts)])]
        if len(a.parts) > 1:
            sub = {k: [v if keep else None for v, keep in zip(vals, alone)] for k, vals in groups.items()}
            results[m][last] = group_report(y, pred, found, labels, sub, persons, seed=a.seed, permutations=a.permutations)
            lines += ["", f"## {m}: {last} alone", format_group_report(results[m][last])]
    text = "\n".join(lines)
    print(text)
    if a.out:
        write_results(a.out, text, {"machine": machine(), "command": command, "models": results})
    if a.figures:
        from facemotion.plots import group_accuracy

        a.figures.mkdir(parents=True, exist_ok=True)
        group_accuracy(results[a.models[0]]["+".join(a.parts)], a.figures / "sof_groups.png",
                       title=f"Specs on Faces, {' + '.join(a.parts)} parts: {a.models[0]}, by person")
        print(f"wrote {a.figures / 'sof_groups.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
