"""Face crops for training: photos turned into the faces the classifier reads.

``facemotion train`` reads each image of a ``<emotion>/<image>`` folder as one face (as FER2013's
48 px faces are), while ``facemotion evaluate`` and every inference command find the faces in
a photo first. Training on whole photos would teach a network faces a tenth of the picture it
never sees at run time, so photos are cropped here exactly as the recognizer crops a face for
the classifier (the detector, the upright turn, the crop grid), and a folder of whole photos
handed to training is recognised and refused (:func:`whole_photos`).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError, FacemotionError
from .fileio import refuse_inside, write_bytes
from .inputs import CROPS_MARKER, IMAGE_SUFFIXES
from .labelled import LabelledImage, largest_crop
from .names import shown
from .progress import progress_bar
from .threads import in_order

# In a face crop the largest face the detector finds fills most of the picture; in a photo of a
# person it fills a small part. Measured with the default detector (largest face's box area /
# picture area, 5th-95th percentile; benchmarks/studies/crop_fill.py): FER2013's Training faces
# 0.59-1.0, crops written by write_face_crops 0.75-1.0, muxspace's tightly framed photos
# 0.75-0.95; the London set's portraits 0.14-0.19, Specs on Faces' photos 0.04-0.37.
CROP_FILL = 0.35
SAMPLE = 24  # images looked at to tell photos from crops: a fraction of a second
MARKER = CROPS_MARKER  # what made a crops folder (written first, completed last)
JOURNAL = ".facemotion-crops.jsonl"  # a line per crop: the photo it came from (path, size, time)


@dataclass
class CropReport:
    written: dict[str, int] = field(default_factory=dict)  # per emotion, this run
    kept: dict[str, int] = field(default_factory=dict)     # per emotion, crops a run before wrote (a rerun resumes)
    removed: int = 0                                       # crops of photos gone from the listing
    no_face: list[str] = field(default_factory=list)       # photos in which no face was found
    skipped: list[str] = field(default_factory=list)       # one-line errors of photos that could not be read


def crop_names(items) -> list[str]:
    """``<emotion>/<stem>.png`` for each photo (``<folder>/<stem>.png`` for an unlabelled one);
    where two photos of one folder share a stem (``a.jpg``, ``a.png``), the later keeps its
    suffix (``a.png.png``). A name can pass to another photo when the photos change (one
    added before it in the listing): the journal says which photo each crop came from."""
    seen, out = set(), []
    for it in items:
        name = (Path(it.label) / f"{it.path.stem}.png").as_posix()
        if name in seen:
            name = (Path(it.label) / f"{it.path.name}.png").as_posix()
        seen.add(name)
        out.append(name)
    return out


def unlabelled_photos(folder) -> list[LabelledImage]:
    """Every image of ``folder`` at any depth (hidden ones left out), sorted, its "label" the
    sub-folder it is in: the crops keep the folder's shape (``train --unlabelled`` reads any depth)."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{shown(root)}: not a folder of photos")
    items = [LabelledImage(p, p.parent.relative_to(root).as_posix()) for p in sorted(root.rglob("*"))
             if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    if not items:
        raise DataError(f"{shown(root)}: no images in it")
    return items


def read_marker(out: Path) -> dict | None:
    try:
        return json.loads((out / MARKER).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise DataError(f"{shown(out / MARKER)}: not a marker facemotion wrote ({e})") from None


def write_face_crops(items, out, recognizer, *, root=None, skip_bad: bool = False, progress: bool = True) -> CropReport:
    """The largest face of each labelled photo (``items``: :class:`~facemotion.labelled.LabelledImage`,
    as :func:`~facemotion.labelled.read_labelled_folder` lists a folder ``root``), cropped as
    ``recognizer`` crops faces, as ``out/<emotion>/<name>.png``. Each crop is written atomically
    and a crop already there from the same photo, unchanged, is kept, so an interrupted run
    resumes; a crop whose photo moved, changed or left is replaced or removed (the journal
    :data:`JOURNAL` says which photo each came from). Crops of another detector or grid are
    refused, since two recipes in one folder would train as one set (the marker is written
    first). A photo that cannot be read stops the run in one line, or with ``skip_bad`` is
    counted and skipped."""
    out = Path(out)
    recipe = {"detector": recognizer.detector_name, "size": recognizer.stages.input_size}
    photos = str(Path(root).resolve()) if root is not None else None
    _check_folder(out, root, recipe, photos)
    done, legacy = _read_journal(out)
    names = crop_names(items)
    report = CropReport(removed=_remove_gone(out, done, set(names)))
    out.mkdir(parents=True, exist_ok=True)
    write_bytes(out / MARKER, (json.dumps({**recipe, "photos_from": photos, "complete": False}, indent=1) + "\n").encode())
    journal = {n: e for n, e in done.items() if n in names}
    todo = []  # (photo, its crop's name, where it came from): the crops made now
    for it, name in zip(items, names):
        source = _source(it, root)
        if (out / name).exists() and (legacy or journal.get(name) == source):
            report.kept[it.label] = report.kept.get(it.label, 0) + 1
            journal[name] = source  # an older version's crop, from here on in the journal
            continue
        journal.pop(name, None)
        (out / name).unlink(missing_ok=True)  # another photo's, or this one's before it changed
        todo.append((it, name, source))
    # a photo per core, as image's (threads.in_order); the writing stays here, in order
    faces = in_order(recognizer, [(it.path,) for it, _, _ in todo], largest_crop)
    bar = progress_bar(faces, total=len(items), initial=len(items) - len(todo), desc=f"crops -> {shown(out)}",
                       unit="photo", disable=not progress)
    with open(out / JOURNAL, "a", encoding="utf-8") as log:
        for (it, name, source), crop in zip(todo, bar):
            if _write_crop(it, crop, out / name, root, skip_bad, report):
                journal[name] = source
                log.write(json.dumps({"crop": name, **source}) + "\n")
                log.flush()
    # the journal again, with the crops there are now (it grew by a line a crop written)
    write_bytes(out / JOURNAL, "".join(json.dumps({"crop": n, **e}) + "\n" for n, e in sorted(journal.items())).encode())
    marker = {**recipe, "photos_from": photos, "complete": True, "photos": len(items), "no_face": report.no_face,
              "skipped": report.skipped}
    write_bytes(out / MARKER, (json.dumps(marker, indent=1) + "\n").encode())
    return report


def _write_crop(it, crop, dest: Path, root, skip_bad: bool, report: CropReport) -> bool:
    """The photo's largest face (``crop``; None: it has none; an error: it cannot be read) written
    to ``dest``; False where it has none or (``skip_bad``) cannot be read."""
    import cv2

    if isinstance(crop, FacemotionError):
        if not skip_bad:
            raise DataError(f"{crop} (the crops written so far are kept; --skip-bad skips and counts such photos)")
        report.skipped.append(str(crop))
        return False
    if crop is None:
        report.no_face.append(str(it.path.relative_to(root)) if root is not None else it.path.name)
        return False
    ok, png = cv2.imencode(".png", crop)
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(dest, png.tobytes())
    report.written[it.label] = report.written.get(it.label, 0) + 1
    return True


def _check_folder(out: Path, root, recipe: dict, photos: str | None) -> None:
    """``out`` may take these crops: not in the photos' folder (a rerun would crop the crops), and
    holding nothing or crops of the same recipe and photo folder (a marker facemotion wrote says
    which: a rerun removes the crops of photos gone from its folder, and two folders' photos of
    one name would take one crop's name)."""
    refuse_inside(out, "--out", [("the photos' folder", root)])
    have = read_marker(out)
    if have is None and out.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in _two_deep(out)):
        raise DataError(f"{shown(out)}: holds images but no {MARKER}, so not crops this command wrote (or an older "
                        "version's, interrupted); write the crops to another folder")
    if have is not None and {k: have.get(k) for k in recipe} != recipe:
        raise DataError(f"{shown(out)}: holds crops made with detector {have.get('detector')}, grid "
                        f"{have.get('size')} px; write these ({recipe['detector']}, {recipe['size']} px) to another folder")
    if have is not None and None not in (have.get("photos_from"), photos) and have["photos_from"] != photos:
        raise DataError(f"{shown(out)}: holds the crops of the photos in {shown(have['photos_from'])}; write those of "
                        f"{shown(root)} to another folder (train reads more than one: --extra-data)")


def _two_deep(folder: Path):
    for p in folder.iterdir():
        yield p
        if p.is_dir() and not p.name.startswith("."):
            yield from p.iterdir()


def _source(it, root) -> dict:
    """Which photo a crop comes from, as it was: its path (from ``root``), size and time."""
    st = it.path.stat()
    where = it.path.relative_to(root) if root is not None else it.path
    return {"from": where.as_posix(), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read_journal(out: Path) -> tuple[dict, bool]:
    """({crop name: its source}, whether the folder is an older version's: a marker without a
    journal, whose crops are kept as they are). A line cut by an interrupted run is left out."""
    done = {}
    try:
        lines = (out / JOURNAL).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return done, read_marker(out) is not None
    for line in lines:
        try:
            entry = json.loads(line)
            done[entry.pop("crop")] = entry
        except (ValueError, KeyError, AttributeError):
            continue
    return done, False


def _remove_gone(out: Path, done: dict, names: set) -> int:
    """Remove the crops of photos no longer listed (moved to another emotion, renamed, deleted)."""
    gone = [n for n in done if n not in names and (out / n).exists()]
    for n in gone:
        (out / n).unlink()
    return len(gone)


def face_fill(recognizer, source) -> float | None:
    """The share of the picture that the box of the largest face found fills (None: no face)."""
    picture = recognizer.read(source)
    boxes = [box for box, _ in recognizer.stages.detect_picture(picture.pixels)]  # a sideways photo's too
    if not boxes:
        return None
    h, w = picture.pixels.shape[:2]
    return max(bw * bh for _, _, bw, bh in boxes) / float(w * h)


def spread(items: list, n: int = SAMPLE) -> list:
    """Up to ``n`` of ``items``, spread evenly over them (every class of a sorted listing)."""
    step = max(1, len(items) / n) if items else 1
    return [items[int(i * step)] for i in range(min(n, len(items)))]


def sample_images(folder, n: int = SAMPLE) -> list[Path]:
    """Up to ``n`` images spread evenly over ``folder``'s sorted images, at any depth."""
    return spread(sorted(p for p in Path(folder).rglob("*")
                         if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()), n)


def whole_photos(sources, recognizer) -> tuple[int, int, float]:
    """(how many of the images ``sources`` (paths or encoded bytes) are photos rather than face
    crops, how many there are, the median fill of the faces found). An image that cannot be
    read, or holds no face the detector finds (a tight crop can hold none), counts as a crop."""
    fills = []
    for source in sources:
        try:
            fills.append(face_fill(recognizer, source))
        except FacemotionError:
            fills.append(None)
    found = sorted(f for f in fills if f is not None)
    median = found[len(found) // 2] if found else 1.0
    return sum(f < CROP_FILL for f in found), len(fills), median


def refuse_whole_photos(folder, option: str, recognizer, sources=None) -> None:
    """One line naming ``option`` when at least half of the images sampled from ``folder``
    (``sources``: those of an archive, read by the caller) are whole photos: the command
    reads each image as one face."""
    photos, sampled, median = whole_photos(sample_images(folder) if sources is None else sources, recognizer)
    if sampled and photos * 2 >= sampled:
        unpacked = sources is not None  # an archive: data crops reads a folder
        raise DataError(f"{option} {shown(folder)}: whole photos, not face crops ({photos} of {sampled} images looked at "
                        f"hold a face filling about {median:.0%} of the picture), and each image is read as one face: "
                        f"crop the faces first{', unpacked' if unpacked else ''}, `facemotion data crops "
                        f"{'FOLDER' if unpacked else shlex.quote(shown(folder))} --out FACES"
                        f"{' --unlabelled' if option == '--unlabelled' else ''}`, and use FACES")


__all__ = ["CROP_FILL", "CropReport", "unlabelled_photos", "write_face_crops", "face_fill", "whole_photos", "refuse_whole_photos"]
