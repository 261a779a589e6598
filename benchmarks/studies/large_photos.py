"""Large photos: a JPEG decoded reduced in its decoder's DCT (what ``detect_emotions`` does on a
file when the faces stay as detailed, see ``EmotionRecognizer.read``) against the same
pipeline on the whole decode, and against fer, in one run.

The photos: the shared photos of 1080p and more as they are, and the shared photos with faces
enlarged to phone-camera sizes (12 and 48 MP, bicubic, written as baseline JPEGs at quality 90
in a temporary folder; real faces, a camera's pixel count). For each: median ms of
``detect_emotions(path)`` and of ``analyze(load_image(path))`` (whole decode), called
alternately; the faces each finds (and how far the boxes differ, as a share of the box side;
whether the top emotion agrees); and, with ``--fer-python``, fer's
``FER().detect_emotions(cv2.imread(path))``, timed in between.

    python benchmarks/studies/large_photos.py --fer-python /tmp/fer-venv/bin/python

fer runs in its own virtual environment (never a facemotion dependency); to make one, see
``python benchmarks/vs_fer.py --help``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from _common import MEDIA, FerProcess, machine, table
from vs_fer import FER_SIDE

AS_IS = ["obama-1080p.jpg", "biden.jpg", "obama_and_biden.jpg"]
ENLARGED = ["two_people.jpg", "obama.jpg", "obama_and_biden.jpg"]
MEGAPIXELS = [12, 48]


def enlarge(src: Path, mp: int, folder: Path) -> Path:
    img = cv2.imread(str(src))
    h, w = img.shape[:2]
    f = (mp * 1e6 / (w * h)) ** 0.5
    out = folder / f"{src.stem}_{mp}mp.jpg"
    cv2.imwrite(str(out), cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_CUBIC),
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    return out


def compare(fast: list[dict], whole: list[dict]) -> tuple[str, str]:
    """(largest box difference as a share of the side, whether every top emotion agrees)."""
    if len(fast) != len(whole):
        return "-", "-"
    shift = max((max(abs(a - b) for a, b in zip(f["box"], w["box"])) / w["box"][2] for f, w in zip(fast, whole)),
                default=0.0)
    agree = all(f["dominant_emotion"] == w["dominant_emotion"] for f, w in zip(fast, whole))
    return f"{100 * shift:.1f}%", "yes" if agree else "no"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=10, help="timed calls per photo and way (median)")
    p.add_argument("--fer-python", default=None, help="python of a virtual environment with fer installed")
    p.add_argument("--detector", default=None, help="facemotion's detector (default: the package default; "
                                                    "haar reduces camera-size photos furthest)")
    a = p.parse_args()

    from facemotion import EmotionRecognizer
    from facemotion.images import load_image
    from facemotion.progress import progress_bar

    rec = EmotionRecognizer() if a.detector is None else EmotionRecognizer(detector=a.detector)
    fer = FerProcess(a.fer_python, FER_SIDE) if a.fer_python else None
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            photos = [MEDIA / n for n in AS_IS] + [enlarge(MEDIA / n, mp, Path(tmp)) for mp in MEGAPIXELS
                                                   for n in ENLARGED]
            for path in progress_bar(photos, desc="photos", unit="photo"):
                img, (w, h) = rec.read(path)
                fast, whole = rec.detect_emotions(path), rec.analyze(load_image(path)).faces  # also the warm-up
                n_fer = fer.ask(op="photo", path=str(path), n=1)["faces"] if fer else None
                ms = {"fast": [], "whole": [], "fer": []}
                for k in range(a.repeat):
                    t = time.perf_counter()
                    rec.detect_emotions(path)
                    ms["fast"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    rec.analyze(load_image(path)).faces
                    ms["whole"].append(time.perf_counter() - t)
                    if fer and k % 2 == 0:  # fer takes seconds on the largest: half as many calls
                        ms["fer"] += [x / 1e3 for x in fer.ask(op="photo", path=str(path), n=1)["ms"]]
                m = {k: 1e3 * statistics.median(v) for k, v in ms.items() if v}
                shift, agree = compare(fast, whole)
                rows.append([path.name, f"{w}x{h}", f"{img.shape[1]}x{img.shape[0]}",
                             f"{len(fast)} / {len(whole)}" + (f" / {n_fer}" if fer else ""), shift, agree,
                             f"{m['fast']:.0f}", f"{m['whole']:.0f}", f"{m['whole'] / m['fast']:.2f}x",
                             f"{m['fer']:.0f}" if fer else "-", f"{m['fer'] / m['fast']:.2f}x" if fer else "-"])
    finally:
        if fer:
            fer.close()
    print(f"large photos, {machine()}; detector {rec.detector_name}; median ms of {a.repeat} calls "
          f"(fer: {(a.repeat + 1) // 2})")
    print(table(["photo", "size", "decoded at", "faces (reduced / whole" + (" / fer)" if fer else ")"),
                 "largest box difference", "same top emotion", "ms reduced", "ms whole decode", "speed-up",
                 "fer ms", "vs fer"], rows))
    if not fer:
        print("fer not measured: pass --fer-python (see `python benchmarks/vs_fer.py --help` to install it)")


if __name__ == "__main__":
    main()
