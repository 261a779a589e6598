"""Are men's smiles missed for their facial hair? The London smiles by facial hair, per model.

The London set records no facial hair, which may hide a mouth's corners from the model.
``benchmarks/data/london_facial_hair.csv`` labels every man from his neutral photo (one rater,
before any model's answer was read; docs/bias.md, "Facial hair"): none (clean-shaven or a
shadow), stubble (short hair, the lip line clear), beard (a moustache or beard over the upper
lip or around the mouth's corners). For each model, in one run:

- happy recall on the smiles of women, clean-shaven men, men with stubble and men with a beard
  (the largest face's dominant emotion; Wilson 95% intervals), and how many smiles it sees (the
  smiling photo's P(happy) above the same person's neutral photo's);
- two-sided permutation tests: clean-shaven men against men with facial hair, and women against
  clean-shaven men, the second also at equal smile breadth (the bands of benchmarks/_bias/smiles.py);
- the reading written down before the run: facial hair explains the gender gap if clean-shaven
  men are not significantly below women (p >= 0.05) while men with facial hair are below
  clean-shaven men; it does not if clean-shaven men are still significantly below women.

A second rater (docs/bias.md, written before its sheets were made): ``sheets`` shows every
person's neutral photo, women's too, shuffled under random codes, the key in its own file;
the rater answers ``code,answer`` (``0`` none, ``s`` stubble, ``b`` beard); ``label`` joins them
into ``face_id,facial_hair``; ``--compare FILE`` prints Cohen's kappa with it over the men and
the two ratings' table.

What it cannot show: one rater's three levels, 29/10/14 men, one lab's photos.

    python benchmarks/studies/london_facial_hair.py sheets --seed 2 --out runs/hair   # rate, then:
    python benchmarks/studies/london_facial_hair.py label --key runs/hair/key.csv --answers runs/hair/answers.csv \
        --to benchmarks/data/london_facial_hair_r2.csv
    python benchmarks/studies/london_facial_hair.py --hair benchmarks/data/london_facial_hair_r2.csv \
        --compare benchmarks/data/london_facial_hair.csv --out benchmarks/results/london_facial_hair_r2
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from facemotion.fairness import gap_said, permutation_gap

from _bias import smiles as _smiles
from _bias.london import PHOTOS, read_people
from _common import (
    SHARED,
    blind_sheets,
    command_line,
    finish_panels,
    kappa,
    kappa_text,
    machine,
    proportion,
    rating_steps,
    read_answers,
    read_rows,
    share_bar,
    table,
    write_results,
)
from happy_offset import london_probs

HERE = Path(__file__).resolve().parents[1]  # benchmarks/: data/ and results/
LONDON = SHARED / "datasets" / "london_faces"
HAIR = HERE / "data" / "london_facial_hair.csv"
LEVELS = ("none", "stubble", "beard")
GROUPS = ("women", "men, none", "men, stubble", "men, beard")
MODELS = ("wild_reweigh_resnet_s", "quad_ensemble")
ANSWERS = {"0": "none", "s": "stubble", "b": "beard"}
WHO = "london_facial_hair.py"
SIDE, PER_SHEET, COLUMNS = 250, 12, 4  # pixels a photo on the sheet: a lip line shows at 250


def read_hair(path: Path, people: list[dict]) -> list[str]:
    """Each person's level, in ``people`` order; a file that does not fit the set is refused in one line."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise SystemExit(f"london_facial_hair.py: {path}: {e.strerror or e}") from None
    hair = {}
    for i, row in enumerate(rows, start=2):  # line 1 is the header
        level = (row.get("facial_hair") or "").strip()
        if level not in LEVELS or not row.get("face_id"):
            raise SystemExit(f"london_facial_hair.py: {path}: line {i}: expected face_id and facial_hair "
                             f"({', '.join(LEVELS)}), got {dict(row)}")
        hair[row["face_id"].strip()] = level
    missing = [p["id"] for p in people if p["id"] not in hair]
    if missing:
        raise SystemExit(f"london_facial_hair.py: {path}: no facial_hair for face_id {missing[0]} "
                         f"({len(missing)} people missing)")
    return [hair[p["id"]] for p in people]


def group_names(people: list[dict], hair: list[str]) -> np.ndarray:
    return np.array(["women" if p["gender"] == "female" else f"men, {h}" for p, h in zip(people, hair)])


def analyse(groups: np.ndarray, probs: dict[str, np.ndarray], labels: list[str], widen: list[float | None], *,
            seed: int, permutations: int) -> dict:
    """One model: recall and smiles seen per group, the two planned tests and the one at equal breadth."""
    h = labels.index("happy")
    smiling, neutral = probs["smiling"], probs["neutral"]
    found = ~np.isnan(smiling).any(1)
    hit = found & (np.nan_to_num(smiling, nan=-1).argmax(1) == h)  # a smile not found is a smile missed
    seen = np.nan_to_num(smiling[:, h], nan=-1) > np.nan_to_num(neutral[:, h], nan=2)
    w = np.array([np.nan if x is None else x for x in widen])
    rng = np.random.default_rng([seed, 44])
    out = {"groups": {}}
    for g in GROUPS:
        sel = groups == g
        out["groups"][g] = {"recall": proportion(hit, sel), "seen": [int(seen[sel].sum()), int(sel.sum())],
                            "widening_median": float(np.nanmedian(w[sel])) if sel.any() else None}
    men = np.char.startswith(groups, "men")
    shaven = groups == "men, none"
    out["shaven_vs_hair"] = permutation_gap(hit[men].astype(float), ["none" if s else "hair" for s in shaven[men]],
                                            rng, permutations)
    pair = (groups == "women") | shaven
    out["women_vs_shaven"] = permutation_gap(hit[pair].astype(float), list(groups[pair]), rng, permutations)
    ok = pair & ~np.isnan(w)
    band, _ = _smiles.bands(w[~np.isnan(w)])  # everyone's tertiles, as in bias.py's table
    band_all = np.full(len(w), -1)
    band_all[~np.isnan(w)] = band
    out["women_vs_shaven_within_bands"] = _smiles.stratified_gap(
        hit[ok].astype(float), (groups == "women")[ok], band_all[ok], rng, permutations)
    out["verdict"] = verdict(out)
    return out


def verdict(r: dict) -> str:
    """The reading written down before the run (the module's text)."""
    rec = {g: r["groups"][g]["recall"]["value"] for g in GROUPS}
    hair_lower = r["shaven_vs_hair"]["low"] == "hair" and r["shaven_vs_hair"]["p"] < 0.05
    if r["women_vs_shaven"]["p"] < 0.05 and rec["men, none"] < rec["women"]:
        return ("does not explain the gap: clean-shaven men are still significantly below women"
                + ("; men with facial hair are lower again" if hair_lower else ""))
    if hair_lower:
        return "explains the gap: clean-shaven men are not significantly below women, men with facial hair are"
    return "undecided: clean-shaven men are not significantly below women, nor men with facial hair below them"


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def report_lines(model: str, r: dict) -> list[str]:
    rows = []
    for g, s in r["groups"].items():
        p = s["recall"]
        lo, hi = p["ci"]
        rows.append([g, p["n"], f"{p['k']}/{p['n']} = {pct(p['value'])} [{100 * lo:.1f}, {100 * hi:.1f}]",
                     f"{s['seen'][0]}/{s['seen'][1]}", "-" if s["widening_median"] is None else f"{s['widening_median']:.3f}"])
    t1, t2, t3 = r["shaven_vs_hair"], r["women_vs_shaven"], r["women_vs_shaven_within_bands"]
    return [f"## {model}", "", table(["group", "people", "smiles called happy [95%]", "smiles seen", "widening, median"],
                                     rows), "",
            f"clean-shaven men vs men with facial hair: {100 * t1['gap']:.1f} points, {t1['high']} higher "
            f"(permutation p = {t1['p']:.4f})",
            f"women vs clean-shaven men: {100 * t2['gap']:.1f} points, {t2['high']} higher (permutation p = {t2['p']:.4f}); "
            f"at equal breadth {gap_said(t3)}",
            f"reading (written before the run): facial hair {r['verdict']}"]


def figure(results: dict, path: Path) -> Path:
    """Smiles called happy per group, each model a panel, with Wilson intervals."""
    from facemotion.plots import _plt

    plt = _plt()
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.4), sharey=True, squeeze=False)
    colours = ("tab:orange", "tab:blue", "tab:cyan", "tab:purple")
    for ax, (model, r) in zip(axes[0], results.items()):
        for x, (g, c) in enumerate(zip(GROUPS, colours)):
            share_bar(ax, x, r["groups"][g]["recall"], c)
        ax.set_xticks(range(len(GROUPS)), [g.replace(", ", "\n") for g in GROUPS], fontsize=8)
        ax.set_title(f"{model}\nwomen - clean-shaven men {100 * r['women_vs_shaven']['gap']:.0f} points, "
                     f"p {r['women_vs_shaven']['p']:.4f}", fontsize=9)
    return finish_panels(fig, axes[0], path, ylabel="smiles called happy (%)",
                         title="London smiles by facial hair (one rater, from the neutral photos)")


def make_sheets(london: Path, out: Path, seed: int) -> int:
    """Every person's neutral photo (women's too: the sheets do not say who is rated) under a
    random code, shuffled; the key (code -> face_id) in out/key.csv, opened only after rating."""
    people = read_people(london)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(people))
    codes = rng.choice(np.arange(100, 1000), size=len(people), replace=False)
    tiles, rows = [], []
    for slot, i in enumerate(order):
        path = london / PHOTOS["neutral"].format(id=people[i]["id"])
        img = cv2.imread(str(path))
        if img is None:
            raise SystemExit(f"{WHO}: {path}: not readable as an image")
        head = np.full((28, SIDE, 3), 255, np.uint8)
        cv2.putText(head, str(int(codes[slot])), (8, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
        tiles.append(np.vstack([head, cv2.resize(img, (SIDE, SIDE), interpolation=cv2.INTER_AREA)]))
        rows.append({"code": int(codes[slot]), "face_id": people[i]["id"]})
    blind_sheets(tiles, rows, out, COLUMNS, PER_SHEET, "photos")
    return 0


def label(key: Path, answers: Path, out: Path) -> int:
    """The answers joined with the key: face_id, facial_hair (everyone's, women's too)."""
    who = {r["code"].strip(): r["face_id"].strip() for r in read_rows(key, ("code", "face_id"), WHO)}
    got = read_answers(answers, who, ANSWERS, WHO)
    rows = sorted(({"face_id": who[c], "facial_hair": ANSWERS[ans]} for c, ans in got.items()),
                  key=lambda r: r["face_id"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, ["face_id", "facial_hair"])
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out}: " + ", ".join(f"{lv} {sum(r['facial_hair'] == lv for r in rows)}" for lv in LEVELS))
    return 0


def compare_lines(people: list[dict], hair: list[str], other: list[str], names: tuple[str, str], seed: int) -> list[str]:
    """Two ratings against each other: Cohen's kappa over the men, their table, women not rated none."""
    men = np.array([p["gender"] == "male" for p in people])
    a, b = np.array(hair), np.array(other)
    k = kappa(a[men], b[men], np.random.default_rng([seed, 2]))
    rows = [[lv, *(int((men & (a == lv) & (b == o)).sum()) for o in LEVELS)] for lv in LEVELS]
    women = [f"{p['id']} ({h}, {o})" for p, h, o, m in zip(people, a, b, men) if not m and (h != "none" or o != "none")]
    return [f"agreement of {names[0]} with {names[1]} over the {int(men.sum())} men, Cohen's kappa [95% bootstrap]: "
            f"{kappa_text(k)}; the same level for {int((a == b)[men].sum())}", "",
            table([f"men: {names[0]} \\ {names[1]}", *LEVELS], rows),
            "women rated other than none: " + (", ".join(women) or "none"), ""]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), help="shipped names or ONNX files")
    p.add_argument("--london", type=Path, default=LONDON)
    p.add_argument("--hair", type=Path, default=HAIR, help="face_id,facial_hair (none, stubble, beard)")
    p.add_argument("--permutations", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write OUT.txt and OUT.json")
    p.add_argument("--figures", type=Path, default=None, help="folder for london_facial_hair.png (docs/bias)")
    p.add_argument("--compare", type=Path, default=None, help="another rating (as --hair): agreement over the men")
    rating_steps(p, "0, s or b", None)
    a = p.parse_args(argv)
    if not (a.london / "london_info.csv").is_file():
        sys.exit(f"london_facial_hair.py: {a.london}: no london_info.csv there")
    if a.step == "sheets":
        return make_sheets(a.london, a.out, a.seed)
    if a.step == "label":
        return label(a.key, a.answers, a.to)
    people = read_people(a.london)
    hair = read_hair(a.hair, people)
    groups = group_names(people, hair)
    widen = _smiles.widening(a.london, people, PHOTOS)
    results = {}
    for m in a.models:
        _, probs, labels = london_probs(m, a.london)
        results[m] = analyse(groups, probs, labels, widen, seed=a.seed, permutations=a.permutations)
    command = command_line(__file__, argv)
    lines = [machine(), command, "", f"London set: {len(people)} people; facial hair from {a.hair.name}: "
             + ", ".join(f"{g} {int((groups == g).sum())}" for g in GROUPS), ""]
    if a.compare:
        lines += compare_lines(people, hair, read_hair(a.compare, people), (a.hair.name, a.compare.name), a.seed)
    for m, r in results.items():
        lines += report_lines(m, r) + [""]
    text = "\n".join(lines).rstrip()
    print(text)
    if a.out:
        write_results(a.out, text, {"machine": machine(), "command": command, "models": results})
    if a.figures:
        a.figures.mkdir(parents=True, exist_ok=True)
        print(f"wrote {figure(results, a.figures / 'london_facial_hair.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
