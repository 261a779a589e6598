"""Where the default finds happy and neutral in the London set's smiles, by gender and answer.

For every person's smiling photo (the largest face, as bias.py scores it) the classifier's
occlusion maps (``facemotion explain``'s, on the 48x48 face the network sees) for happy and for
neutral, split among the named facial areas (docs/explain.md). Grouped by self-reported
gender and by what the model said (happy or not), it prints each area's mean share of each
map with a 95% bootstrap interval over people, and draws the groups' mean maps over their mean
faces. A map is normalised per face: it says where the evidence for an emotion lies, not how
much of it there is (the probabilities say that). Bias discovery, not a lever: nothing is
chosen from it.

    python benchmarks/studies/london_saliency.py --out benchmarks/results/london_saliency --figures docs/bias
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from _bias.london import PHOTOS, read_people
from _common import SHARED, machine, table

LONDON = SHARED / "datasets" / "london_faces"
TARGETS = ("happy", "neutral")
SHOWN = ("mouth", "cheeks", "eyes", "brows", "nose", "chin")  # the areas a smile moves; the rest in "other"


def explain_smiles(model: str | None, london: Path, people: list[dict]) -> list[dict]:
    """Per person: the smiling photo's answer, p(happy), its 48x48 face and one map per target."""
    from facemotion import EmotionRecognizer
    from facemotion.explain import explain_faces
    from facemotion.preprocess import faces_to_batch, to_face48

    rec = EmotionRecognizer(model=model)
    st, out = rec.stages, []
    explainer = st.explainer("occlusion")
    for p in tqdm(people, desc="explaining smiles", unit="person"):
        pic = rec.read(str(london / PHOTOS["smiling"].format(id=p["id"])))
        dets = st.detect(pic.pixels)
        if not dets:
            out.append(None)
            continue
        det = max(dets, key=lambda d: d[0][2] * d[0][3])  # the largest face, as bias.py's largest_face
        crop = st.detect_crops(pic.pixels, [det]).crops[0]
        batch = faces_to_batch([crop], st.input_size)
        maps = {t: explain_faces(explainer, batch, t, labels=st.labels)[2][0] for t in TARGETS}
        probs = st.classify_crops([crop])[0]
        out.append({"said": st.labels[int(probs.argmax())], "p_happy": float(probs[st.labels.index("happy")]),
                    "face": to_face48(crop, st.input_size).astype(np.float32), "maps": maps})
    return out


def shares(m: np.ndarray) -> np.ndarray:
    """A map's share per area, in REGIONS order (``region_shares``, the explain command's own split)."""
    from facemotion.explain.regions import REGIONS, region_shares

    by = {d["region"]: d["share"] for d in region_shares(m)}
    return np.array([by[r] for r in REGIONS])


def boot(x: np.ndarray, rng, n: int = 2000) -> tuple[float, float, float]:
    idx = rng.integers(0, len(x), (n, len(x)))
    means = x[idx].mean(1)
    return float(x.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarize(people, records, seed: int = 0) -> dict:
    from facemotion.explain.regions import REGIONS

    rng, groups = np.random.default_rng(seed), {}
    for gender in ("female", "male"):
        for said_happy in (True, False):
            rows = [r for p, r in zip(people, records) if r and p["gender"] == gender and (r["said"] == "happy") == said_happy]
            name = f"{'women' if gender == 'female' else 'men'}, {'called happy' if said_happy else 'missed'}"
            if not rows:
                continue
            g = {"n": len(rows), "median_p_happy": float(np.median([r["p_happy"] for r in rows]))}
            for t in TARGETS:
                s = np.array([shares(r["maps"][t]) for r in rows])
                g[t] = {reg: boot(s[:, i], rng) for i, reg in enumerate(REGIONS)}
                g[f"{t}_map"] = np.mean([r["maps"][t] for r in rows], 0)
            g["face"] = np.mean([r["face"] for r in rows], 0)
            groups[name] = g
    return groups


def report(groups: dict) -> list[str]:
    lines = []
    for t in TARGETS:
        rows = [[name, str(g["n"]), f"{g['median_p_happy']:.3f}",
                 *[f"{g[t][r][0]:.0%} [{g[t][r][1]:.0%}, {g[t][r][2]:.0%}]" for r in SHOWN]] for name, g in groups.items()]
        lines += [f"the {t} map's share per facial area (mean over people, 95% bootstrap interval):",
                  table(["smiles", "people", "median p(happy)", *SHOWN], rows), ""]
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="a shipped name or ONNX file (default: the default model)")
    p.add_argument("--london", type=Path, default=LONDON)
    p.add_argument("--out", type=Path, default=None, help="write OUT.txt and OUT.json")
    p.add_argument("--figures", type=Path, default=None, help="folder for london_saliency.png (docs/bias)")
    a = p.parse_args(argv)
    if not (a.london / "london_info.csv").is_file():
        sys.exit(f"london_saliency.py: {a.london}: no london_info.csv (the London set's folder)")
    from facemotion.zoo import default_model_name

    people = read_people(a.london)
    records = explain_smiles(a.model, a.london, people)
    groups = summarize(people, records)
    model = a.model or default_model_name()
    text = "\n".join([machine(), "python benchmarks/studies/london_saliency.py" + (f" --model {a.model}" if a.model else "")
                      + (f" --out {a.out}" if a.out else "") + (f" --figures {a.figures}" if a.figures else ""), "",
                      f"{model}: occlusion maps on the {sum(r is not None for r in records)} smiling photos with a face "
                      f"of {len(people)}", "", *report(groups)]).rstrip()
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.with_suffix(".txt").write_text(text + "\n")
        a.out.with_suffix(".json").write_text(json.dumps({"machine": machine(), "model": model, "groups": {
            n: {k: v for k, v in g.items() if not k.endswith("map") and k != "face"} for n, g in groups.items()}}, indent=1))
    if a.figures:
        from facemotion.explain.figures import mean_saliency_figure

        a.figures.mkdir(parents=True, exist_ok=True)
        names = list(groups)
        for t in TARGETS:
            path = a.figures / f"london_saliency_{t}.png"
            mean_saliency_figure(np.array([groups[n][f"{t}_map"] for n in names]), np.array([groups[n]["face"] for n in names]),
                                 [groups[n]["n"] for n in names], path,
                                 f"{model}: where the evidence for {t} lies in the London smiles", labels=names)
            from PIL import Image

            # a 128-colour palette: a quarter of the bytes, the maps read the same
            Image.open(path).convert("RGB").quantize(128).save(path, optimize=True)
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
