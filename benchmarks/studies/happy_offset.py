"""How far would the happy/neutral operating point have to move for the London smiles, and what
would it cost? The London set's missed smiles are called neutral with a small probability of
happy (docs/bias.md). This measures, for each model, what a constant added to happy's logit
(``--offsets``, in natural-log units: +1 multiplies happy's odds by e) would do:
- on the London set's smiling photos, the share called happy, overall and by gender, with 95%
  Wilson intervals, and on its neutral photos the share still called neutral;
- on PublicTest's FER+ 7-class faces (the crowd's majority), accuracy, happy recall and neutral
  recall, each beside the unshifted model's, as a ratio.
No model is chosen from it and nothing is shipped: the London set is a test set, so the sweep
says whether moving the threshold alone could reach the London target (90% of the smiles
called happy, 85% in every group of 9 or more, 95% of the neutral faces neutral), not which
shift to use. PrivateTest is not read.

    python benchmarks/studies/happy_offset.py --models wild_reweigh_resnet_s quad_ensemble \
        --out benchmarks/results/happy_offset --figures docs/bias
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from _bias.london import PHOTOS, read_people
from _common import FER_ZIP, SHARED, largest_face, machine, proportion, table, write_results

LONDON = SHARED / "datasets" / "london_faces"
OFFSETS = tuple(np.round(np.arange(0, 6.01, 0.5), 2))
TARGET = {"smiles": 0.90, "group": 0.85, "neutral": 0.95}


def shift(probs: np.ndarray, labels: list[str], offset: float) -> np.ndarray:
    """``probs`` with ``offset`` added to happy's logit (softmax is shift-invariant, so this is
    happy's probability times e^offset, renormalized)."""
    p = np.asarray(probs, np.float64).copy()
    p[:, labels.index("happy")] *= np.exp(offset)
    return p / p.sum(1, keepdims=True)


def london_probs(model: str, london: Path) -> tuple[list[dict], dict[str, np.ndarray], list[str]]:
    """(people, {"neutral"|"smiling": the largest face's probabilities per person}, labels)."""
    from facemotion import EmotionRecognizer

    rec = EmotionRecognizer(model=model)
    labels, people = list(rec.labels), read_people(london)
    out = {k: [] for k in PHOTOS}
    for p in tqdm(people, desc=f"London ({model})", unit="person", leave=False):
        for kind, t in PHOTOS.items():
            f = largest_face(rec.detect_emotions(str(london / t.format(id=p["id"]))))
            out[kind].append([f["emotions"][e] for e in labels] if f else [np.nan] * len(labels))
    return people, {k: np.array(v) for k, v in out.items()}, labels


def public_probs(model: str, fer: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """PublicTest's faces with a FER+ majority among the seven: (probabilities, majority, labels)."""
    from facemotion.classify import classifier_labels, load_classifier
    from facemotion.datasets.ferplus import majority
    from facemotion.labels import EMOTIONS
    from facemotion.protocol import in_labels, load_protocol_split

    split, votes, _ = load_protocol_split(str(fer), "val", required=True)
    y = majority(votes, EMOTIONS)
    keep = y >= 0
    clf = load_classifier(model)
    return in_labels(clf.classify_faces(split.images[keep]), classifier_labels(clf), EMOTIONS), y[keep], list(EMOTIONS)


def sweep(people, london: dict, l_labels, public: np.ndarray, y: np.ndarray, p_labels, offsets) -> list[dict]:
    men = np.array([p["gender"] == "male" for p in people])
    found = {k: ~np.isnan(v).any(1) for k, v in london.items()}
    rows = []
    for d in offsets:
        said = {k: np.where(found[k], shift(np.nan_to_num(v), l_labels, d).argmax(1), -1) for k, v in london.items()}
        smile, neutral = said["smiling"] == l_labels.index("happy"), said["neutral"] == l_labels.index("neutral")
        pred = shift(public, p_labels, d).argmax(1)
        h, n = p_labels.index("happy"), p_labels.index("neutral")
        all_ = np.ones(len(people), bool)
        rows.append({"offset": float(d), "smiles": proportion(smile, all_), "men": proportion(smile, men),
                     "women": proportion(smile, ~men), "neutral": proportion(neutral, all_),
                     "public": proportion(pred == y, np.ones(len(y), bool)),
                     "public_happy": proportion(pred == h, y == h), "public_neutral": proportion(pred == n, y == n)})
    return rows


def meets(r: dict) -> bool:
    return (r["smiles"]["value"] >= TARGET["smiles"] and min(r["men"]["value"], r["women"]["value"]) >= TARGET["group"]
            and r["neutral"]["value"] >= TARGET["neutral"])


def report_lines(model: str, rows: list[dict]) -> list[str]:
    base = rows[0]
    ci = lambda s: f"{s['value']:.1%} [{s['ci'][0]:.0%}, {s['ci'][1]:.0%}]"  # noqa: E731
    ratio = lambda r, k: f"{r[k]['value']:.1%} (x{r[k]['value'] / base[k]['value']:.3f})"  # noqa: E731
    out = [f"{model}:", table(
        ["happy offset", "London smiles happy", "men", "women", "neutral neutral", "PublicTest FER+7",
         "happy recall", "neutral recall"],
        [[f"+{r['offset']:g}", ci(r["smiles"]), ci(r["men"]), ci(r["women"]), f"{r['neutral']['value']:.1%}",
          ratio(r, "public"), ratio(r, "public_happy"), ratio(r, "public_neutral")] for r in rows])]
    first = next((r for r in rows if meets(r)), None)
    best = max(rows, key=lambda r: (r["neutral"]["value"] >= TARGET["neutral"], r["men"]["value"]))
    out.append(f"  the London target met at offset +{first['offset']:g}" if first else
               f"  no offset meets the London target; the most men's smiles with neutral >= 95%: "
               f"{best['men']['value']:.1%} at +{best['offset']:g} (PublicTest {best['public']['value']:.1%})")
    return out


def figure(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.2), squeeze=False)
    for ax, (model, rows) in zip(axes[0], results.items()):
        x = [r["offset"] for r in rows]
        for key, label, style in (("women", "London smiles: women", "-"), ("men", "London smiles: men", "-"),
                                  ("neutral", "London neutral faces: neutral", "--"),
                                  ("public", "PublicTest FER+ 7-class accuracy", ":")):
            ax.plot(x, [r[key]["value"] * 100 for r in rows], style, marker="o", ms=3, label=label)
        ax.axhline(TARGET["group"] * 100, color="grey", lw=0.8)
        ax.set(title=model, xlabel="offset added to happy's logit", ylabel="%", ylim=(0, 101))
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    from facemotion.zoo import default_model_name

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=None, help="shipped names or ONNX files (default: the default model)")
    p.add_argument("--london", type=Path, default=LONDON)
    p.add_argument("--fer", type=Path, default=FER_ZIP)
    p.add_argument("--offsets", type=float, nargs="+", default=list(OFFSETS), help="added to happy's logit")
    p.add_argument("--out", type=Path, default=None, help="write OUT.txt and OUT.json")
    p.add_argument("--figures", type=Path, default=None, help="folder for the plot, happy_offset.png (docs/bias)")
    a = p.parse_args(argv)
    for f in (a.london, a.fer):
        if not f.exists():
            sys.exit(f"happy_offset.py: {f}: no such file or folder")
    offsets = sorted({0.0, *a.offsets})  # the unshifted model is every ratio's baseline
    models, results = a.models or [default_model_name()], {}
    for m in models:
        people, london, l_labels = london_probs(m, a.london)
        public, y, p_labels = public_probs(m, a.fer)
        results[m] = sweep(people, london, l_labels, public, y, p_labels, offsets)
    lines = [machine(), "python benchmarks/studies/happy_offset.py" + (f" --models {' '.join(models)}" if a.models else "")
             + (f" --out {a.out}" if a.out else "") + (f" --figures {a.figures}" if a.figures else ""), "",
             f"London set: {len(people)} people (smiling and neutral photo, the largest face); PublicTest: "
             f"{len(y)} faces with a FER+ majority among the seven", ""]
    for m, rows in results.items():
        lines += report_lines(m, rows) + [""]
    text = "\n".join(lines).rstrip()
    print(text)
    if a.out:
        write_results(a.out, text, {"machine": machine(), "models": results})
    if a.figures:
        a.figures.mkdir(parents=True, exist_ok=True)
        print(f"wrote {figure(results, a.figures / 'happy_offset.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
