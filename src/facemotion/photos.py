"""Photos to files: every input image through a recognizer, with its annotated copy and JSON.

:func:`annotate_images` is the loop behind ``facemotion image`` and ``facemotion demo``,
:func:`explain_images` the one behind ``facemotion explain``: one :class:`PhotoResult` per
input, in order; an input that cannot be read is reported in its result (``error``) and the
others go on.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FacemotionError
from .explain.figures import overlay, photo_figure, view_crop
from .fileio import same_file, write_bytes
from .images import Picture
from .names import fit_stems, shown
from .render import draw
from .results import Analysis
from .threads import in_order
from .writers import foreign_file, marked, output_stems, write_image, write_json


@dataclass
class PhotoResult:
    path: Path
    record: dict | None = None   # {file, width, height, detector, faces}; None when it failed
    error: str | None = None
    outputs: tuple[Path, ...] = ()


def annotate_images(recognizer, paths, out_dir=None, *, bars: bool = True, json_files: bool = True,
                    names: dict | None = None, blur: bool = False, workers: int | None = None):
    """Yield a :class:`PhotoResult` per path, in order. With ``out_dir``, write ``<stem>_annotated.jpg``
    (``blur``: its faces pixelated) and (``json_files``) ``<stem>.json`` there, in a tree mirroring the inputs' (see
    :func:`~facemotion.writers.output_stems`); an input whose outputs cannot be written fails
    alone. ``names`` maps a path to the name its record gives (``-`` for a photo read from stdin
    into a temporary file). ``workers``: photos taken at once (:func:`~facemotion.threads.in_order`)."""
    out = Path(out_dir) if out_dir is not None else None
    inputs, names = _places(paths), names or {}
    paths = [Path(p) for p in paths]
    jobs = list(zip(paths, fit_stems(output_stems(paths, names))))

    def annotate(rec, path: Path, stem: str) -> PhotoResult:
        try:
            image = rec.read(path)
            faces = image.to_full(rec.stages.faces(image.pixels))
        except FacemotionError as e:
            return PhotoResult(path, error=str(e))
        record = _record(names.get(path, path), image, rec, faces)
        written = []
        if out is not None:
            targets = [out / f"{stem}_annotated.jpg", *([out / f"{stem}.json"] if json_files else [])]
            if error := _refused(path, targets, inputs):
                return PhotoResult(path, record, error=error)
            try:
                written.append(targets[0])
                write_image(written[-1], draw(image.whole(), faces, bars=bars, blur=blur), annotated=True)
                if json_files:
                    written.append(targets[1])
                    write_json(written[-1], record)
            except OSError as e:  # a full disk, a read-only folder: this input fails, the next may not
                return PhotoResult(path, record, error=f"{e.filename or written[-1]}: cannot write ({e.strerror or e})")
            except FacemotionError as e:  # the file changed since it was read: it fails alone
                return PhotoResult(path, error=str(e))
        return PhotoResult(path, record, outputs=tuple(written))

    yield from in_order(recognizer, jobs, annotate, workers)


def explain_images(recognizer, paths, out_dir, *, target=None, method: str | None = None, **options):
    """Yield a :class:`PhotoResult` per path, writing to ``out_dir`` for each photo
    ``<stem>_explain.png`` (the photo, then each face's crop, map and probabilities),
    ``<stem>_explain.json`` (the records with their top areas, without the maps),
    ``<stem>_saliency.npy`` (the maps, faces x 48 x 48) and per face ``<stem>_face<k>_crop.png``
    and ``<stem>_face<k>_saliency.png`` (the map over the crop). ``record["faces"]`` keeps the
    maps (``saliency``). The maps of a folder's photos are made a photo per core
    (:func:`~facemotion.threads.in_order`) while this thread draws the figures (matplotlib's
    pyplot is one thread's); a torch model's, whose Grad-CAM hooks its one network, one at a time."""
    out = Path(out_dir)
    inputs = _places(paths)
    paths = [Path(p) for p in paths]
    jobs = list(zip(paths, fit_stems(output_stems(paths))))

    def explain(rec, path: Path, stem: str):
        try:
            image = rec.read(path)
            st = rec.stages
            faces = image.to_full(st.explain_boxes(image.pixels, st.detect_picture(image.pixels), target, method,
                                                   **options))
            return path, stem, image, faces, image.whole()  # (the file changed since it was read: it fails alone)
        except FacemotionError as e:
            return PhotoResult(path, error=str(e))

    # an exported model's maps on threads; a checkpoint's (a torch network) or a classifier object's, one at a time
    onnx = Path(recognizer.stages.model_path or "").suffix.lower() == ".onnx"
    for done in in_order(recognizer, jobs, explain, None if onnx else 1):
        if isinstance(done, PhotoResult):
            yield done
            continue
        path, stem, image, faces, whole = done
        written = []
        names = [out / f"{stem}_{end}" for end in ("explain.json", "explain.png", "saliency.npy")] + [
            out / f"{stem}_face{k}_{kind}.png" for k in range(1, len(faces) + 1) for kind in ("crop", "saliency")]
        if error := _refused(path, names, inputs):
            yield PhotoResult(path, error=error)
            continue
        try:
            record = _write_explained(recognizer, path, stem, image, whole, faces, out, written, inputs)
        except OSError as e:  # a full disk, a folder in a file's place: this input fails, the next may not
            yield PhotoResult(path, error=f"{e.filename or (written or [out])[-1]}: cannot write ({e.strerror or e})")
            continue
        yield PhotoResult(path, {**record, "faces": faces}, outputs=tuple(written))


def _write_explained(recognizer, path: Path, stem: str, image: Picture, whole, faces, out: Path, written,
                     inputs: set = frozenset()) -> dict:
    """One photo's explanation files (their paths appended to ``written`` as they are written),
    the JSON last, so that it says the set is whole; the files of faces an earlier run of the
    same photo found beyond these are removed (a rerun must not leave another answer's maps)."""
    before = _earlier(out / f"{stem}_explain.json")  # what an earlier run of this photo wrote
    (out / f"{stem}_explain.json").unlink(missing_ok=True)  # until this set is whole, no record says it is
    listed = []
    for k, f in enumerate(faces, 1):
        crop = view_crop(whole, f)  # the map lies on what the classifier saw (a leaning face turned upright)
        names = (out / f"{stem}_face{k}_crop.png", out / f"{stem}_face{k}_saliency.png")
        write_image(names[0], crop, annotated=True)  # marked: a folder read again leaves them out
        write_image(names[1], overlay(crop, f["saliency"]), annotated=True)
        written += names
        listed.append({**{k2: v for k2, v in f.items() if k2 != "saliency"}, "crop": names[0].name,
                       "overlay": names[1].name})
    _remove_stale(out, stem, len(faces), before, inputs)
    record = _record(path, image, recognizer, listed)
    if faces:
        buf = io.BytesIO()
        np.save(buf, np.stack([f["saliency"] for f in faces]))
        written.append(out / f"{stem}_saliency.npy")
        write_bytes(written[-1], buf.getvalue())
    written.append(out / f"{stem}_explain.png")
    title = shown(path.name).replace("$", r"\$")  # a '$' in a name is no mathtext
    photo_figure(whole, faces, written[-1], title=f"{title}: {recognizer.model_name}")
    write_bytes(written[-1], marked(written[-1].read_bytes()))
    written.append(out / f"{stem}_explain.json")
    write_json(written[-1], record)
    return record


def _remove_stale(out: Path, stem: str, n_faces: int, before: list, inputs: set = frozenset()) -> None:
    """The files an earlier run of this photo wrote (``before``: those its record named, beside
    it) that this one did not: ``<stem>_face<k>_*.png`` for k past ``n_faces``, and the maps'
    file without faces. Only those, and never an input of this run: a file of that name
    facemotion did not write is not touched."""
    where = (out / stem).parent  # a stem with folders (a/p: photos that share a name) writes there
    mine = re.compile(rf"{re.escape(Path(stem).name)}_face(\d+)_(crop|saliency)\.png")
    stale = [where / n for n in before if (m := mine.fullmatch(n)) and int(m[1]) > n_faces]
    if not n_faces and before:
        stale.append(out / f"{stem}_saliency.npy")
    for p in stale:
        if same_file(p) not in inputs:
            p.unlink(missing_ok=True)


def _earlier(record: Path) -> list:
    """The crop and map files an earlier run's ``<stem>_explain.json`` names (none: no such run)."""
    try:
        faces = json.loads(record.read_text()).get("faces") or []
        return [f[k] for f in faces for k in ("crop", "overlay") if isinstance(f.get(k), str) and "/" not in f[k]]
    except (OSError, ValueError, AttributeError, TypeError):
        return []


def _places(paths) -> set:
    return {same_file(p) for p in paths}


def _refused(path, targets, inputs: set) -> str | None:
    """Why ``path``'s outputs (``targets``) may not be written, or None: an output never replaces
    one of this run's inputs, nor a file facemotion did not write (a ``p_annotated.jpg`` or
    ``p.json`` of the user's beside ``p.jpg``)."""
    if taken := next((t for t in targets if same_file(t) in inputs), None):
        return f"{path}: its output {taken} would replace an input of this run; write to another -o"
    # a record of facemotion's among them: the set of an earlier run (its pictures may predate the mark)
    foreign = {t: foreign_file(t) for t in map(Path, targets)}  # each file read once
    earlier = any(t.suffix == ".json" and t.is_file() and not f for t, f in foreign.items())
    if not earlier and (taken := next((t for t, f in foreign.items() if f), None)):
        return f"{path}: its output {taken} would replace a file facemotion did not write; remove it or write " \
               "to another -o"
    return None


def _record(path: Path | str, picture: Picture, recognizer, faces) -> dict:
    """The photo's JSON record: its :class:`~facemotion.results.Analysis` as a dict."""
    return Analysis(faces, *picture.size, file=str(path), detector=recognizer.detector_name,
                    model=recognizer.model_name).to_dict()
