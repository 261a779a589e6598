"""Labelled photos scored as users run the models: every picture through a recognizer, its
largest face classified, the answers compared with the labels.

This is what ``facemotion evaluate --data FOLDER`` runs on a ``<emotion>/<image>`` folder of
photos (and ``benchmarks/cross_dataset.py`` on public sets): photos of any size, faces found by
the recognizer's detector, the largest face scored; a photo without a face counts as a miss
and is counted on its own (``faces_found``). ``crops=True`` is for images that are face crops
already: the whole image is the face (the recognizer is then made with ``detector="none"``).

Folder names go through the one table of names (:func:`facemotion.labels.canonical_emotion`:
anger/angry, happiness/happy, scared/fear, ...); a folder that names no emotion is refused in
one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError, FacemotionError
from .inputs import IMAGE_SUFFIXES, expand_inputs, unfinished_crops  # one list of images, as the CLI's
from .labels import UnknownLabelError, canonical_emotion
from .names import shown
from .progress import progress_bar
from .threads import in_order


@dataclass
class LabelledImage:
    path: Path
    label: str   # canonical emotion name (one of the model's labels or FER2013's seven)


def read_labelled_folder(folder, labels) -> list[LabelledImage]:
    """The images of a ``<emotion>/<image>`` folder, sorted, each with its folder's emotion in
    ``labels``' names (contempt stays contempt where ``labels`` has it, else it is FER2013's
    disgust). Hidden files and non-images are skipped; a folder naming no emotion, or no
    image at all, is refused in one line."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{shown(root)}: not a folder of <emotion>/<image> photos")
    if cut := unfinished_crops(root):
        raise DataError(cut)
    items = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            label = canonical_emotion(sub.name, labels)
        except UnknownLabelError as e:
            raise DataError(f"{shown(sub)}: folder name {e}") from None
        items += [LabelledImage(p, label) for p in sorted(sub.iterdir())
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES]
    if not items:
        raise DataError(f"{shown(root)}: no images in <emotion>/ folders")
    return items


def folder_notes(folder, items, left_out: str = "") -> list[str]:
    """The notes on a folder of <emotion>/<image> read as ``items``: the images not read
    (:func:`unread_note`) and the emotion folders that gave none (``left_out``: what that means
    for the command, ": not scored")."""
    notes = [note] if (note := unread_note(folder, items)) else []
    if empty := empty_folders(folder, items):
        notes.append(f"note: no photos in {', '.join(shown(d) for d in empty)} (photos in sub-folders are not "
                     f"read){left_out}")
    return notes


def unread_note(folder, items) -> str | None:
    """The note on the images under ``folder`` that are not among ``items`` (loose at its top, or
    in a sub-folder of an emotion's folder): a folder of <emotion>/<image> reads neither; None
    where every image is read."""
    read = {it.path for it in items}
    unread = [p for p in expand_inputs([folder]) if p not in read and not p.is_dir()]  # (a folder not listed: no image to count)
    if not unread:
        return None
    return (f"note: {len(unread)} image{'s' if len(unread) > 1 else ''} not read ({shown(unread[0])}"
            f"{', ...' if len(unread) > 1 else ''}): a folder of <emotion>/<image> reads the images in each "
            "emotion's folder, not those beside the folders or in folders within them")


def empty_folders(folder, items) -> list[Path]:
    """The folders of ``folder`` that gave none of ``items`` (empty, or their photos in
    sub-folders, which are not read): classes left out of what is scored or trained."""
    used = {it.path.parent for it in items}
    return [d for d in sorted(Path(folder).iterdir()) if d.is_dir() and not d.name.startswith(".") and d not in used]


def largest_face(recognizer, source):
    """The crop (S x S uint8, the classifier's grid, turned upright as the recognizer turns
    faces) and box of the largest face the recognizer finds in ``source`` (a path or decoded
    image); (None, None) when it finds none."""
    picture = recognizer.read(source)
    faces = recognizer.stages.detect_crops(picture.pixels)
    if not faces.boxes:
        return None, None
    i = largest_index(faces.boxes)
    return faces.crops[i], picture.full_box(faces.boxes[i])


def largest_crop(recognizer, path):
    """:func:`largest_face`'s crop (None: no face), or the error that says why ``path`` cannot be
    read: what a thread of :func:`~facemotion.threads.in_order` hands back, for the caller to raise
    or count in its order."""
    try:
        return largest_face(recognizer, path)[0]
    except FacemotionError as e:
        return e


def largest_index(boxes) -> int:
    """The index of the largest of ``boxes`` (x, y, w, h) by area: the face a labelled photo is
    scored on."""
    return int(np.argmax([w * h for _, _, w, h in boxes]))


def averaged_labels(recognizers) -> tuple[str, ...]:
    """The labels several models are averaged over: the largest set, as a dataset's ensemble is
    (FER2013's seven and FER+'s eight: the eight, a seven-emotion model giving contempt 0)."""
    labels = max((tuple(r.labels) for r in recognizers), key=len)
    if any(tuple(r.labels) != labels[:len(r.labels)] for r in recognizers):
        raise FacemotionError("models of different label sets cannot be averaged: "
                              + ", ".join(f"{r.model_name} ({len(r.labels)})" for r in recognizers))
    return labels


def score_images(recognizers, items, *, progress: bool = True, desc: str = "photos", errors: list | None = None):
    """(N x L probabilities averaged over ``recognizers``' models, over :func:`averaged_labels`;
    N bool: a face was found). The first recognizer finds and crops each face once; every
    recognizer classifies that crop. Rows of photos without a face are NaN. An image
    that cannot be read is refused in one line (a benchmark must not drop inputs silently),
    unless ``errors`` is a list: then its one-line error goes there and it counts as a miss."""
    recognizers = list(recognizers)
    labels = averaged_labels(recognizers)
    probs = np.full((len(items), len(labels)), np.nan)
    found = np.zeros(len(items), bool)
    # the faces of a folder found a photo per core (in_order, as image's)
    crops = in_order(recognizers[0], [(item.path,) for item in items], largest_crop)
    for i, crop in enumerate(progress_bar(crops, total=len(items), desc=desc, unit="photo", disable=not progress)):
        if isinstance(crop, FacemotionError):
            if errors is None:
                raise crop
            errors.append(str(crop))
            continue
        if crop is not None:
            found[i] = True
            probs[i] = np.mean([np.pad(r.stages.classify_crops(crop[None])[0], (0, len(labels) - len(r.labels)))
                                for r in recognizers], axis=0)
    return probs, found


def truth_and_pred(truth, probs, found, labels) -> tuple[np.ndarray, np.ndarray]:
    """(each photo's label index, its answer's index; ``len(labels)`` where no face was found)."""
    labels = tuple(labels)
    y = np.array([labels.index(t) for t in truth], np.int64)
    return y, np.where(found, np.nan_to_num(probs, nan=-1).argmax(1), len(labels))


def photo_report(truth, probs, found, labels) -> dict:
    """Accuracy over every photo (no face = a miss) and over the photos with a face, balanced
    accuracy (the mean of the per-class recalls of the classes present), per-class precision,
    recall, F1 and support, macro-F1 over the classes present, faces found, the confusion matrix
    (rows: truth in ``labels``' order; a last column counts the photos without a face), and how
    far the probabilities are to be trusted on these photos: over the photos with a face, the
    mean top probability beside the accuracy, the expected calibration error and the negative
    log-likelihood (:func:`facemotion.metrics.classification_report`'s definitions)."""
    from .metrics import expected_calibration_error, negative_log_likelihood, precision_recall_f1

    labels = tuple(labels)
    y, pred = truth_and_pred(truth, probs, found, labels)
    cm = np.zeros((len(labels), len(labels) + 1), np.int64)
    np.add.at(cm, (y, pred), 1)
    support = cm.sum(1)  # a photo without a face is a miss of its class: the last column
    present = support > 0
    precision, recall, f1 = precision_recall_f1(np.diag(cm[:, :-1]), support, cm[:, :-1].sum(0))
    n = len(y)
    p = np.asarray(probs, np.float64)[found] if found.any() else np.zeros((0, len(labels)))
    yf = y[found]
    return {
        "n": int(n),
        "faces_found": int(found.sum()),
        "accuracy": float((pred == y).mean()) if n else 0.0,
        "accuracy_found": float((pred[found] == y[found]).mean()) if found.any() else None,
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        # undefined without a face found: None, not an ECE of 0 that reads as perfect calibration
        "mean_confidence": float(p.max(1).mean()) if len(p) else None,
        "ece": expected_calibration_error(yf, p) if len(p) else None,
        "nll": negative_log_likelihood(yf, p) if len(p) else None,
        "per_class": {e: {"precision": float(precision[k]), "recall": float(recall[k]), "f1": float(f1[k]),
                          "support": int(support[k])}
                      for k, e in enumerate(labels) if present[k]},
        "labels": list(labels),
        "confusion_matrix": cm.tolist(),  # rows: the labels; columns: the labels, then "no face"
        "confusion_columns": [*labels, "no face"],
    }


def format_photo_report(r: dict, title: str) -> str:
    lines = [f"{title}: {r['n']} photos, a face found in {r['faces_found']}",
             f"accuracy {r['accuracy'] * 100:.2f}% (photos with a face: "
             f"{'none' if r['accuracy_found'] is None else format(r['accuracy_found'] * 100, '.2f') + '%'})   "
             f"balanced accuracy {r['balanced_accuracy'] * 100:.2f}%   macro-F1 {r['macro_f1'] * 100:.2f}%",
             f"{'class':<10}{'recall':>9}{'precision':>11}{'F1':>8}{'photos':>8}"]
    lines += [f"{e:<10}{pc['recall'] * 100:>8.1f}%{pc['precision'] * 100:>10.1f}%{pc['f1'] * 100:>7.1f}%"
              f"{pc['support']:>8}" for e, pc in r["per_class"].items()]
    if r["mean_confidence"] is None:
        lines.append("probabilities: none (no face found), so no calibration to tell")
    else:
        lines.append(f"probabilities on the photos with a face: the top one {r['mean_confidence'] * 100:.1f}% on "
                     f"average, right {r['accuracy_found'] * 100:.1f}% of the time (ECE {r['ece']:.3f}, NLL {r['nll']:.3f})")
    return "\n".join(lines)


__all__ = ["LabelledImage", "read_labelled_folder", "empty_folders", "largest_face", "score_images", "truth_and_pred", "photo_report",
           "format_photo_report"]
