"""Public face sets the training never read, each read from where the user put it (none is
ever copied into the repository), as lists of :class:`facemotion.labelled.LabelledImage`.

- **muxspace** (github.com/muxspace/facial_expressions: ``data/legend.csv`` + ``images/``;
  13,690 faces labelled by students). Split **by image id** (the file name's SHA-1) into
  train 60% / val 20% / test 20%: only the train part may be trained on, val chooses, test
  reports. Its 9 contempt faces are left out of the seven-emotion protocol.
- **sof**: Specs on Faces (github.com/oogre/ESA-LG-M1, ``data/original images``: 2,662
  photos of 112 people wearing glasses, 640x480; the expression is in the file name:
  no/hp/sd/sr = neutral/happy/sad/surprise). Split **by person** (the name's first field)
  into the same parts.
- **posed**: posed_val (``../shared/datasets/posed_val``: 625 posed photos of 15 people, seven
  expressions, ``<emotion>/<photo>`` folders). For choosing only: never trained on. The file
  name's third digit is how the expression was performed (:func:`posed_type`).
- **london**: the Face Research Lab London Set (``../shared/datasets/london_faces``: 102
  adults, neutral and smiling; CC BY 4.0). All of it is a test set.
- **utk**: UTKFace (delonyohan/deeplearn-agepred at b06607bf, ``dataset/UTKFace``; 23,708
  200x200 faces named ``age_gender_race_*.jpg``; research use only). Unlabelled for emotion:
  :func:`utk_faces` gives each face's age, gender and race.

How to fetch them (any git client; the paths are then passed with ``--muxspace`` etc.)::

    git clone https://github.com/muxspace/facial_expressions /data/muxspace
    git clone https://github.com/oogre/ESA-LG-M1 /data/sof        # uses data/original images
    git clone https://github.com/delonyohan/deeplearn-agepred /data/utk && git -C /data/utk checkout b06607bf

Run as a script, it writes the face crops of one set's part for training (``train
--extra-data``), as the recognizer crops them (detector, largest face, upright)::

    python benchmarks/public_sets.py crops --set muxspace --part train --out /data/crops/muxspace

``people`` prints how many photos and people each Specs on Faces part and label holds, and the
most photographed person's share (no one is named)::

    python benchmarks/public_sets.py people --root /data/sof

``pseudo`` writes UTKFace crops labelled by a teacher model (pseudo-labels), for training on
faces that have no emotion labels: only UTKFace's train part (split by file name as above),
never a face of ``bias.py``'s UTKFace sample, only faces the teacher is sure of, and within each
emotion as many men as women, so the labels do not teach the teacher's gender skew
(``scripts/campaigns/train_pseudo_labels.sh`` names the teacher the shipped default was trained with)::

    python benchmarks/public_sets.py pseudo --root /data/utk --teacher quad_ensemble_int8 --out /data/crops/utk_pseudo

``unlabelled`` writes the crops of the same UTKFace train faces without labels, for consistency
training (``train --unlabelled``, ``scripts/campaigns/train_levers.sh consistency``)::

    python benchmarks/public_sets.py unlabelled --root /data/utk --out /data/crops/utk_unlabelled

Each command writes ``OUT/.done`` last, recording what it was asked for: a folder without it is
unfinished (a rerun resumes it, keeping the crops already written), and one finished with other
options is refused rather than mixed with these.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path

from facemotion.labelled import LabelledImage, largest_face
from facemotion.labels import EMOTIONS, canonical_emotion

SHARED = Path(__file__).resolve().parents[2] / "shared"
LONDON = SHARED / "datasets" / "london_faces"
POSED = SHARED / "datasets" / "posed_val"
# posed_val's performance types, by the file name's third digit (its source's read-me)
POSED_TYPES = {"0": "calm", "1": "theatrical", "2": "FACS", "3": "personal event"}
PARTS = ("train", "val", "test")
SOF_LABELS = {"no": "neutral", "hp": "happy", "sd": "sad", "sr": "surprise"}
UTK_GENDERS = ("male", "female")
UTK_RACES = ("White", "Black", "Asian", "Indian", "Other")


def part_of(key: str) -> str:
    """train / val / test (60/20/20) from a stable hash of ``key`` (an image id or a person)."""
    bucket = int(hashlib.sha1(key.encode()).hexdigest(), 16) % 10
    return "train" if bucket < 6 else ("val" if bucket < 8 else "test")


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise SystemExit(f"error: {path}: not found ({what}; see benchmarks/public_sets.py for how to fetch it)")
    return path


def muxspace(root, part: str | None = None, labels=EMOTIONS) -> list[LabelledImage]:
    """muxspace's faces (of ``part``, or all), labels in ``labels``' names; contempt is kept only
    where ``labels`` has it."""
    root = Path(root)
    legend = _need(root / "data" / "legend.csv", "muxspace/facial_expressions")
    out = []
    with open(legend, newline="") as fh:
        for row in csv.DictReader(fh):
            name, emotion = row["image"].strip(), row["emotion"].strip()
            if part is not None and part_of(name) != part:
                continue
            label = canonical_emotion(emotion, labels)
            if label == "disgust" and emotion.casefold() == "contempt":
                continue  # FER2013's seven: contempt is left out, not filed under disgust
            out.append(LabelledImage(root / "images" / name, label))
    return out


def sof_person(file_name: str) -> str:
    """Who is in a Specs on Faces photo: its file name's first field."""
    return file_name.split("_")[0]


def sof(root, part: str | None = None) -> list[LabelledImage]:
    folder = _need(Path(root) / "data" / "original images", "Specs on Faces (oogre/ESA-LG-M1)")
    out = []
    for p in sorted(folder.glob("*.jpg")):
        fields = p.name.split("_")
        if part is None or part_of(fields[0]) == part:
            out.append(LabelledImage(p, SOF_LABELS[fields[7]]))
    return out


def posed(root=POSED) -> list[LabelledImage]:
    return folder(_need(Path(root), "posed_val"))


def folder(root) -> list[LabelledImage]:
    """A folder of ``<emotion>/<photo>`` (posed_val, or the user's: ``cross_dataset.py --folder``):
    FER2013's seven emotions, a contempt folder read as disgust."""
    from facemotion.labelled import read_labelled_folder

    if not Path(root).is_dir():
        raise SystemExit(f"error: --folder {root}: no such folder")
    return read_labelled_folder(Path(root), EMOTIONS)


def posed_type(file_name: str) -> str:
    """How a posed_val photo's expression was performed: theatrical, FACS (following Ekman's
    criteria), personal event (recalled), or calm (the neutral face)."""
    return POSED_TYPES.get(file_name[2:3], "unknown")


def london(root=LONDON) -> list[LabelledImage]:
    root = _need(Path(root), "the London set")
    return [LabelledImage(p, label) for folder, label in (("neutral", "neutral"), ("smiling", "happy"))
            for p in sorted((root / folder).glob("*.jpg"))]


def utk_faces(root) -> list[dict]:
    """UTKFace's faces: {path, age, gender, race}; files whose names lack a field are skipped."""
    folder = Path(root) / "dataset" / "UTKFace"
    folder = _need(folder if folder.is_dir() else Path(root), "UTKFace")
    out = []
    for p in sorted(folder.glob("*.jpg")):
        f = p.name.split("_")
        if len(f) >= 4 and f[0].isdigit() and f[1] in ("0", "1") and f[2].isdigit() and int(f[2]) < len(UTK_RACES):
            out.append({"path": p, "age": int(f[0]), "gender": UTK_GENDERS[int(f[1])], "race": UTK_RACES[int(f[2])]})
    return out


def balanced(items, per_class: int) -> list[LabelledImage]:
    """At most ``per_class`` images of each label, the first by a stable hash of the path."""
    out, seen = [], {}
    for it in sorted(items, key=lambda i: hashlib.sha1(i.path.name.encode()).hexdigest()):
        if seen.get(it.label, 0) < per_class:
            seen[it.label] = seen.get(it.label, 0) + 1
            out.append(it)
    return out


DONE = ".done"  # written last into a crops folder: what made it (a folder without it is unfinished)


def made_with(out: Path) -> dict | None:
    """What made the crops in ``out`` (its ``.done``): None if unfinished, ``{}`` for an empty
    marker (older ones, written by ``scripts/campaigns/gpu_campaign.py pack`` after its own commands)."""
    try:
        text = (Path(out) / DONE).read_text().strip()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError as e:
        raise SystemExit(f"public_sets.py: {Path(out) / DONE}: not a marker this script wrote ({e})") from None


def refuse_other(out: Path, want: dict) -> None:
    """Stop in one line if ``out`` was finished with options other than ``want``: crops of two
    recipes in one folder would train as one set."""
    have = made_with(out)
    if have and have != want:
        diff = ", ".join(f"{k} {have.get(k)!r} (not {want.get(k)!r})" for k in sorted(want.keys() | have.keys())
                         if have.get(k) != want.get(k))
        raise SystemExit(f"public_sets.py: {out} holds crops made with {diff}: write these to another --out")


def mark_done(out: Path, want: dict) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    tmp = Path(out) / (DONE + ".tmp")
    tmp.write_text(json.dumps(want, sort_keys=True) + "\n")
    tmp.replace(Path(out) / DONE)


def asked(a) -> dict:
    """The options that decide what a command writes (what ``.done`` records)."""
    keys = {"crops": ("set", "part", "cap"), "unlabelled": ("exclude_sample", "exclude_seed"),
            "pseudo": ("teacher", "min_prob", "cap", "exclude_sample", "exclude_seed")}[a.cmd]
    return {"command": a.cmd, **{k: getattr(a, k) for k in keys}}


def write_crops(items, out: Path, recognizer) -> dict:
    """Each image's largest face, cropped as the recognizer crops it, as ``out/<label>/<name>.png``
    (``facemotion data crops``' writer: a rerun resumes). Returns counts per label and images
    without a face."""
    from facemotion.facecrops import write_face_crops

    r = write_face_crops(items, out, recognizer)
    return {"faces": r.written, "kept": sum(r.kept.values()), "no_face": len(r.no_face)}


def pseudo_labels(faces, recognizer, *, min_prob: float, cap: int):
    """Teacher labels for unlabelled faces: [(face, crop, label)] for the faces whose top
    probability is at least ``min_prob``; within each label at most ``cap`` faces and as many of
    each gender (the rarer gender's count), the surest first."""
    from facemotion.progress import progress_bar

    sure = {}
    for f in progress_bar(faces, desc="teacher", unit="face"):
        crop, _ = largest_face(recognizer, f["path"])
        if crop is None:
            continue
        p = recognizer.stages.classify_crops(crop[None])[0]
        k = int(p.argmax())
        if p[k] >= min_prob:
            sure.setdefault(recognizer.labels[k], {}).setdefault(f["gender"], []).append((float(p[k]), f, crop))
    out = []
    for label, by_gender in sorted(sure.items()):
        n = min(min(len(v) for v in by_gender.values()) if len(by_gender) == len(UTK_GENDERS) else 0, cap // 2)
        for group in by_gender.values():
            out += [(f, crop, label) for _, f, crop in sorted(group, key=lambda t: -t[0])[:n]]
    return out


def utk_train_faces(root, exclude_sample: int, exclude_seed: int) -> list[dict]:
    """UTKFace's train part (split by file name) without a face of bias.py's sample."""
    import _utk

    held = {str(f["path"]) for f in _utk.sample(root, exclude_sample, exclude_seed)}
    return [f for f in utk_faces(root) if part_of(f["path"].name) == "train" and str(f["path"]) not in held]


def write_unlabelled(a) -> int:
    """Every UTKFace train face's crop, unlabelled (train --unlabelled)."""
    from facemotion import EmotionRecognizer

    items = [LabelledImage(f["path"], "unlabelled") for f in utk_train_faces(a.root, a.exclude_sample, a.exclude_seed)]
    r = write_crops(items, Path(a.out), EmotionRecognizer())
    print(f"utk unlabelled: {sum(r['faces'].values())} crops of {len(items)} train faces, no face in {r['no_face']}")
    return 0


def write_pseudo(a) -> int:
    import cv2

    from facemotion import EmotionRecognizer

    faces = utk_train_faces(a.root, a.exclude_sample, a.exclude_seed)
    chosen = pseudo_labels(faces, EmotionRecognizer(model=a.teacher), min_prob=a.min_prob, cap=a.cap)
    counts = {}
    for f, crop, label in chosen:
        dest = Path(a.out) / label / (f["path"].stem + ".png")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".tmp.png")
        cv2.imwrite(str(tmp), crop)
        tmp.replace(dest)
        counts[label] = counts.get(label, 0) + 1
    print(f"utk pseudo-labels from {a.teacher} (p >= {a.min_prob}) of {len(faces)} train faces: "
          f"{len(chosen)} crops {counts}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Write one public set's face crops for training (train --extra-data).")
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("pseudo", help="UTKFace train crops labelled by a teacher model")
    q.add_argument("--root", required=True, help="where UTKFace was cloned")
    q.add_argument("--teacher", required=True, help="the model whose sure answers become labels (a shipped name or .onnx)")
    q.add_argument("--min-prob", type=float, default=0.8, help="keep a face when the teacher's top probability is at least this")
    q.add_argument("--cap", type=int, default=1500, help="at most this many faces of each emotion")
    q.add_argument("--exclude-sample", type=int, default=3000, help="leave out bias.py's UTKFace sample of this size")
    q.add_argument("--exclude-seed", type=int, default=0, help="... drawn with this seed (bias.py --seed)")
    q.add_argument("--out", required=True)
    u = sub.add_parser("unlabelled", help="UTKFace train crops without labels (train --unlabelled)")
    u.add_argument("--root", required=True, help="where UTKFace was cloned")
    u.add_argument("--exclude-sample", type=int, default=3000, help="leave out bias.py's UTKFace sample of this size")
    u.add_argument("--exclude-seed", type=int, default=0, help="... drawn with this seed (bias.py --seed)")
    u.add_argument("--out", required=True)
    w = sub.add_parser("people", help="Specs on Faces: photos and people per part and label (no one named)")
    w.add_argument("--root", required=True, help="where Specs on Faces was cloned")
    c = sub.add_parser("crops")
    c.add_argument("--set", choices=["muxspace", "sof"], required=True)
    c.add_argument("--root", required=True, help="where the set was cloned")
    c.add_argument("--part", choices=PARTS, default="train")
    c.add_argument("--cap", type=int, default=0, help="at most this many faces of each emotion (0: all)")
    c.add_argument("--out", required=True)
    return p


def sof_people(root) -> str:
    """Per part and label: photos, people, and how many of them the most photographed person's."""
    from collections import Counter

    lines = [f"{'part':<6}{'label':<10}{'photos':>7}{'people':>7}{'one person':>11}"]
    for part in PARTS:
        items = sof(root, part)
        for label in (None, *SOF_LABELS.values()):
            who = Counter(sof_person(it.path.name) for it in items if label is None or it.label == label)
            top = who.most_common(1)[0][1] if who else 0  # a part or label with no photo
            lines.append(f"{part:<6}{label or 'all':<10}{sum(who.values()):>7}{len(who):>7}{top:>11}")
    return "\n".join(lines)


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    if a.cmd == "people":
        print(sof_people(a.root))
        return 0
    refuse_other(Path(a.out), asked(a))
    write = {"pseudo": write_pseudo, "unlabelled": write_unlabelled, "crops": write_set_crops}[a.cmd]
    rc = write(a)
    mark_done(Path(a.out), asked(a))
    return rc


def write_set_crops(a) -> int:
    from facemotion import EmotionRecognizer

    items = muxspace(a.root, a.part) if a.set == "muxspace" else sof(a.root, a.part)
    if a.cap:
        items = balanced(items, a.cap)
    r = write_crops(items, Path(a.out), EmotionRecognizer())
    print(f"{a.set} {a.part}: {sum(r['faces'].values())} crops {r['faces']} ({r['kept']} kept from before), "
          f"no face in {r['no_face']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
