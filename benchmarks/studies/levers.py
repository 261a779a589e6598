"""The levers that might make a model hold up on people it never saw, each measured where
choices are made: the **val** parts of muxspace and Specs on Faces (balanced accuracy, the
largest face of each photo) and PublicTest (FER+ 7-class majority). The test parts, the London
set and PrivateTest are never read here. docs/training-log.md ("Real faces") holds the rule.

- **framing**: the crop around the detector's box, as a square of ``scale`` x its longer side
  (1.0: about the recognizer's own crop), with or without histogram equalization of the crop
  (FER2013's faces are equalized). PublicTest faces are FER2013's own crops: they do not move.
- **class priors** (logit adjustment): probabilities divided by the training prior to the
  power ``tau`` (the FER+ majority's share of each label among Training faces).
- **alignment**: the recognizer's own crops (a face leaning 5 degrees or more turned level by
  the roll network) against crops never turned, and against the lean read from the eye line of
  the detector's five landmarks (faces leaning 5 degrees or more turned, or every face).

    python benchmarks/studies/levers.py --muxspace /data/muxspace --sof /data/sof [--model NAME] [--scales 0.8 0.9 1.0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
import public_sets as sets
from _common import FER_ZIP, machine

HERE = Path(__file__).resolve().parents[1]  # benchmarks/: data/ and results/
SCALES = (1.0, 1.15, 1.3, 1.45)
TAUS = (0.0, 0.25, 0.5, 1.0)


def square_crop(gray: np.ndarray, box, scale: float, equalize: bool, size: int) -> np.ndarray:
    """A square of ``scale`` x the box's longer side about its centre (edges repeated where it
    leaves the picture), resized to ``size``; equalized when asked."""
    x, y, w, h = box
    side = max(w, h) * scale
    m = np.float32([[1, 0, side / 2 - (x + w / 2)], [0, 1, side / 2 - (y + h / 2)]])
    c = cv2.warpAffine(gray, m, (int(round(side)),) * 2, borderMode=cv2.BORDER_REPLICATE)
    c = cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)
    return cv2.equalizeHist(c) if equalize else c


def largest_boxes(rec, items):
    """(gray picture, largest box, its five landmarks or None) per photo; None where no face is found."""
    out = []
    for it in items:
        pic = rec.read(it.path)
        found = rec.stages.detect(pic.pixels)
        if not found:
            out.append(None)
            continue
        best = max(found, key=lambda d: d[0][2] * d[0][3])
        px = pic.pixels
        out.append((cv2.cvtColor(px, cv2.COLOR_BGR2GRAY) if px.ndim == 3 else px, best[0],
                    getattr(best, "landmarks", None)))
    return out


def eye_lean(landmarks) -> float:
    """Degrees the face leans (counter-clockwise on screen positive, as facemotion.align reads
    it) from the line through the two eyes (the first two of the five landmarks)."""
    pts = np.asarray(landmarks, float).reshape(5, 2)
    return float(np.degrees(np.arctan2(pts[0, 1] - pts[1, 1], pts[1, 0] - pts[0, 0])))


def aligned_crop(gray: np.ndarray, box, lean: float, every: bool, size: int) -> np.ndarray:
    """The recognizer's tight crop of ``box``, turned level by ``lean`` where it is 5 degrees or
    more (the recognizer's threshold) or, with ``every``, however little."""
    from facemotion.preprocess import UPRIGHT_MIN_DEGREES, _upright, crop_faces, to_face48

    if every and 0 < abs(lean) < UPRIGHT_MIN_DEGREES:
        return to_face48(_upright(gray, box, lean), size)
    return crop_faces(gray, [box], size, [lean])[0]


def balanced_accuracy(truth, probs, found, labels) -> float:
    from facemotion.labelled import photo_report

    return photo_report(truth, probs, found, labels)["balanced_accuracy"]


def main() -> None:
    from facemotion import EmotionRecognizer
    from facemotion.datasets import load_splits
    from facemotion.datasets.ferplus import as_ferplus, majority, read_votes, votes_for

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--muxspace", required=True)
    p.add_argument("--sof", required=True)
    p.add_argument("--model", default=None, help="shipped name or .onnx (default: the default model)")
    p.add_argument("--data", default=str(FER_ZIP))
    p.add_argument("--out", default=str(HERE / "results" / "levers.txt"))
    p.add_argument("--scales", type=float, nargs="+", default=list(SCALES),
                   help="the framings' squares, as multiples of the box's longer side")
    a = p.parse_args()
    rec = EmotionRecognizer(model=a.model)
    labels = rec.labels
    lines = [machine(), f"model {rec.model_name}; val parts of muxspace and Specs on Faces, PublicTest (FER+ 7-class)", ""]
    val = {"muxspace": sets.muxspace(a.muxspace, "val"), "Specs on Faces": sets.sof(a.sof, "val")}
    boxes = {k: largest_boxes(rec, v) for k, v in val.items()}

    def probs_of(k, scale, eq):
        found = np.array([b is not None for b in boxes[k]])
        crops = [square_crop(g, b, scale, eq, rec.stages.input_size) for g, b, _ in (x for x in boxes[k] if x is not None)]
        probs = np.full((len(found), len(labels)), np.nan)
        probs[found] = rec.stages.classify_crops(np.stack(crops))
        return probs, found

    lines.append(f"{'framing':<24}" + "".join(f"{k:>16}" for k in val) + f"{'mean':>8}")
    for scale in a.scales:
        for eq in (False, True):
            bal = [balanced_accuracy([i.label for i in val[k]], *probs_of(k, scale, eq), labels) for k in val]
            lines.append(f"{f'x{scale} ' + ('equalized' if eq else 'as is'):<24}" + "".join(f"{b * 100:>15.1f}%" for b in bal)
                         + f"{np.mean(bal) * 100:>7.1f}%")
    d = load_splits(a.data, ("train", "val"))
    table = read_votes()
    prior = np.bincount(as_ferplus(d["train"], table).labels, minlength=8)[:len(labels)]
    prior = prior / prior.sum()
    m = majority(votes_for(d["val"].sources, table), labels[:7])
    keep = m >= 0
    pub = rec.classify_faces(d["val"].images[keep])
    from facemotion.labelled import score_images

    base = {k: score_images([rec], v, progress=False) for k, v in val.items()}  # the pipeline's own crops
    lines += ["", f"{'class priors':<24}" + "".join(f"{k:>16}" for k in val) + f"{'mean':>8}{'PublicTest':>12}"]
    for tau in TAUS:
        def adj(q, tau=tau):
            return q / prior ** tau

        bal = []
        for k in val:
            probs, found = base[k]
            bal.append(balanced_accuracy([i.label for i in val[k]], adj(probs), found, labels))
        acc = float((adj(pub)[:, :7].argmax(1) == m[keep]).mean())
        lines.append(f"{f'tau {tau}':<24}" + "".join(f"{b * 100:>15.1f}%" for b in bal) + f"{np.mean(bal) * 100:>7.1f}%"
                     f"{acc * 100:>11.2f}%")
    lines += ["", f"{'alignment':<24}" + "".join(f"{k:>16}" for k in val) + f"{'mean':>8}"]
    size = rec.stages.input_size

    def aligned(k, how):
        found = np.array([b is not None and b[2] is not None for b in boxes[k]])
        crops = [aligned_crop(g, b, 0.0 if how == "never" else eye_lean(lm), how == "every", size)
                 for g, b, lm in (x for x, f in zip(boxes[k], found) if f)]
        probs = np.full((len(found), len(labels)), np.nan)
        probs[found] = rec.stages.classify_crops(np.stack(crops))
        return probs, found

    rows = {"roll network (own)": lambda k: base[k], "never turned": lambda k: aligned(k, "never"),
            "eyes level, >= 5 deg": lambda k: aligned(k, "five"), "eyes level, every face": lambda k: aligned(k, "every")}
    for name, get in rows.items():
        bal = [balanced_accuracy([i.label for i in val[k]], *get(k), labels) for k in val]
        lines.append(f"{name:<24}" + "".join(f"{b * 100:>15.1f}%" for b in bal) + f"{np.mean(bal) * 100:>7.1f}%")
    text = "\n".join(lines)
    print(text)
    Path(a.out).write_text(f"python benchmarks/studies/levers.py {' '.join(sys.argv[1:])}\n{text}\n")


if __name__ == "__main__":
    main()
