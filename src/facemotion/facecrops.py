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
from .fileio import write_bytes
from .inputs import IMAGE_SUFFIXES
from .labelled import LabelledImage, largest_face
from .names import shown
from .progress import progress_bar

# In a face crop the largest face the detector finds fills most of the picture; in a photo of a
# person it fills a small part. Measured with the default detector (largest face's box area /
# picture area, 5th-95th percentile; benchmarks/studies/crop_fill.py): FER2013's Training faces
# 0.59-1.0, crops written by write_face_crops 0.75-1.0, muxspace's tightly framed photos
# 0.75-0.95; the London set's portraits 0.14-0.19, Specs on Faces' photos 0.04-0.37.
CROP_FILL = 0.35
SAMPLE = 24  # images looked at to tell photos from crops: a fraction of a second
MARKER = ".facemotion-crops.json"  # what made a crops folder, written last


@dataclass
class CropReport:
    written: dict[str, int] = field(default_factory=dict)  # per emotion, this run
    kept: int = 0                                          # crops a run before wrote (a rerun resumes)
    no_face: list[str] = field(default_factory=list)       # photos in which no face was found
    skipped: list[str] = field(default_factory=list)       # one-line errors of photos that could not be read


def crop_names(items) -> list[str]:
    """``<emotion>/<stem>.png`` for each photo (``<folder>/<stem>.png`` for an unlabelled one);
    where two photos of one folder share a stem (``a.jpg``, ``a.png``), the later keeps its
    suffix (``a.png.png``). Fixed by the sorted list alone, so a rerun finds the crops it wrote."""
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
    and a crop already there is kept, so an interrupted run resumes; crops of another detector
    or grid are refused, since two recipes in one folder would train as one set. A photo that
    cannot be read stops the run in one line, or with ``skip_bad`` is counted and skipped."""
    import cv2

    out = Path(out)
    recipe = {"detector": recognizer.detector_name, "size": recognizer.stages.input_size}
    have = read_marker(out)
    if have is not None and {k: have.get(k) for k in recipe} != recipe:
        raise DataError(f"{shown(out)}: holds crops made with detector {have.get('detector')}, grid "
                        f"{have.get('size')} px; write these ({recipe['detector']}, {recipe['size']} px) to another folder")
    report = CropReport()
    for it, name in zip(progress_bar(items, desc=f"crops -> {shown(out)}", unit="photo", disable=not progress),
                        crop_names(items)):
        dest = out / name
        if dest.exists():
            report.kept += 1
            continue
        try:
            crop, _ = largest_face(recognizer, it.path)
        except FacemotionError as e:
            if not skip_bad:
                raise DataError(f"{e} (the crops written so far are kept; --skip-bad skips and counts such photos)") from None
            report.skipped.append(str(e))
            continue
        if crop is None:
            report.no_face.append(str(it.path.relative_to(root)) if root is not None else it.path.name)
            continue
        ok, png = cv2.imencode(".png", crop)
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(dest, png.tobytes())
        report.written[it.label] = report.written.get(it.label, 0) + 1
    marker = {**recipe, "photos": len(items), "no_face": report.no_face, "skipped": report.skipped}
    out.mkdir(parents=True, exist_ok=True)
    write_bytes(out / MARKER, (json.dumps(marker, indent=1) + "\n").encode())
    return report


def face_fill(recognizer, source) -> float | None:
    """The share of the picture that the box of the largest face found fills (None: no face)."""
    picture = recognizer.read(source)
    boxes = [box for box, _ in recognizer.stages.detect(picture.pixels)]
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
