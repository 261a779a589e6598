"""UTKFace for benchmarks/bias.py: faces found and the predicted emotions per self-evident group
(the file names' gender, race and age), with the demographic parity gap.

UTKFace has no emotion labels, so nothing here is an accuracy. What it can show: whether the
detector finds some groups' faces less often, and whether the model's answers are distributed
differently across groups (the parity gap: for each emotion, the largest difference between
two groups' shares of faces given it). What it cannot show: whether a gap is a bias or a real
difference in the photos (children smile at cameras more than adults; the labels in the file
names were estimated by the set's authors, with errors of their own).

Each face goes through ``EmotionRecognizer(model=NAME).detect_emotions`` on the 200x200 file
(the default detector; the largest face). A seeded sample keeps the run short (``--utk-sample``;
the whole set is 23,708 faces). Bootstrap intervals resample faces within each group.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import public_sets as sets
from _common import largest_face, save_png

AGE_BANDS = ((0, 17, "0-17"), (18, 34, "18-34"), (35, 59, "35-59"), (60, 200, "60+"))
ATTRIBUTES = {"gender": "gender", "race": "race", "age": "age band"}


def age_band(age: int) -> str:
    return next(name for lo, hi, name in AGE_BANDS if lo <= age <= hi)


def sample(root, n: int | None, seed: int) -> list[dict]:
    faces = sets.utk_faces(root)
    for f in faces:
        f["age_band"] = age_band(f["age"])
    if n is not None and n < len(faces):
        keep = np.sort(np.random.default_rng(seed).choice(len(faces), size=n, replace=False))
        faces = [faces[i] for i in keep]
    return faces


def predict(faces: list[dict], predictor) -> list[str | None]:
    """The dominant emotion of the largest face in each file (None: no face found)."""
    from facemotion.progress import progress_bar

    out = []
    for f in progress_bar(faces, desc="UTKFace", unit="face"):
        best = largest_face(predictor(str(f["path"])))
        out.append(best["dominant_emotion"] if best else None)
    return out


def _shares(pred: np.ndarray, found: np.ndarray, labels) -> np.ndarray:
    """Share of the faces found given each label."""
    n = max(int(found.sum()), 1)
    return np.array([np.sum(pred[found] == e) / n for e in labels])


def summarize(faces: list[dict], preds: list[str | None], labels, *, seed: int, resamples: int, min_group: int) -> dict:
    rng = np.random.default_rng(seed)
    pred = np.array([p or "" for p in preds], object)
    found = np.array([p is not None for p in preds])
    out = {"n": len(faces), "faces_found": float(found.mean()), "overall": dict(zip(labels, _shares(pred, found, labels).tolist())),
           "attributes": {}}
    for attr, key in (("gender", "gender"), ("race", "race"), ("age", "age_band")):
        groups = sorted({f[key] for f in faces})
        idx = {g: np.array([i for i, f in enumerate(faces) if f[key] == g]) for g in groups}
        big = [g for g in groups if len(idx[g]) >= min_group]
        rows, boots = {}, {}
        for g in groups:
            i = idx[g]
            sh = _shares(pred[i], found[i], labels)
            # bootstrap: faces resampled within the group
            bs = rng.integers(0, len(i), size=(resamples, len(i)))
            boots[g] = np.stack([_shares(pred[i][b], found[i][b], labels) for b in bs])
            ff = rng.integers(0, len(i), size=(resamples, len(i)))
            lo_f, hi_f = np.percentile(found[i][ff].mean(1), [2.5, 97.5])
            rows[g] = {"n": int(len(i)), "faces_found": float(found[i].mean()), "faces_found_ci": [float(lo_f), float(hi_f)],
                       "shares": dict(zip(labels, sh.tolist())),
                       "ci": {e: [float(v) for v in np.percentile(boots[g][:, k], [2.5, 97.5])] for k, e in enumerate(labels)}}
        gaps = {}
        for k, e in enumerate(labels):
            if len(big) < 2:
                break
            vals = {g: rows[g]["shares"][e] for g in big}
            hi, lo = max(vals, key=vals.get), min(vals, key=vals.get)
            bg = np.stack([boots[g][:, k] for g in big])
            gap_boot = bg.max(0) - bg.min(0)
            gaps[e] = {"gap": vals[hi] - vals[lo], "high": hi, "low": lo,
                       "ci": [float(v) for v in np.percentile(gap_boot, [2.5, 97.5])]}
        out["attributes"][attr] = {"groups": rows, "parity_gaps": gaps, "min_group": min_group}
    return out


def format_utk(name: str, s: dict) -> str:
    labels = list(s["overall"])
    lines = [f"UTKFace, {name}: {s['n']} faces, a face found in {s['faces_found']:.1%}",
             f"{'group':<14}{'n':>6}{'found':>8}" + "".join(f"{e[:7]:>8}" for e in labels)]
    lines.append(f"{'all':<14}{s['n']:>6}{s['faces_found'] * 100:>7.1f}%" +
                 "".join(f"{v * 100:>7.1f}%" for v in s["overall"].values()))
    for attr, a in s["attributes"].items():
        for g, r in a["groups"].items():
            lines.append(f"{attr + ' ' + g:<14}{r['n']:>6}{r['faces_found'] * 100:>7.1f}%" +
                         "".join(f"{r['shares'][e] * 100:>7.1f}%" for e in labels))
        worst = max(a["parity_gaps"].items(), key=lambda kv: kv[1]["gap"], default=None)
        if worst:
            e, g = worst
            lines.append(f"  largest parity gap by {attr}: {e} {g['gap'] * 100:.1f} points ({g['high']} vs {g['low']}; "
                         f"95% CI {g['ci'][0] * 100:.1f}-{g['ci'][1] * 100:.1f})")
    return "\n".join(lines)


def figure(name: str, s: dict, path: Path) -> Path:
    """Stacked bars: the predicted emotions' shares per group."""
    from facemotion.plots import _plt

    plt = _plt()
    labels = list(s["overall"])
    colours = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharey=True, gridspec_kw={"width_ratios": [2, 5, 4]})
    for ax, (attr, a) in zip(axes, s["attributes"].items()):
        groups = list(a["groups"])
        bottom = np.zeros(len(groups))
        for k, e in enumerate(labels):
            v = np.array([a["groups"][g]["shares"][e] for g in groups]) * 100
            ax.bar(range(len(groups)), v, bottom=bottom, color=colours[k % 10], label=e)
            bottom += v
        ax.set_xticks(range(len(groups)), [f"{g}\nn={a['groups'][g]['n']}" for g in groups], fontsize=8)
        ax.set_title(ATTRIBUTES[attr], fontsize=10)
    axes[0].set_ylabel("% of the faces found")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=8, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle(f"UTKFace ({s['n']} faces): what {name} answers, per group (no emotion labels: shares, not accuracy)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_png(fig, path)
