"""``facemotion evaluate`` on a folder of ``<emotion>/<photo>``: every photo through the detector,
its largest face scored against the folder's emotion (the photo side of :mod:`.training`)."""

from __future__ import annotations

from ..detect import DEFAULT_DETECTOR
from ..errors import UsageError


def is_photo_folder(data) -> bool:
    """A folder of ``<emotion>/<photo>`` (no train/val/test level, no fer2013.csv): photos for
    the detector, not a dataset of 48 px faces."""
    from pathlib import Path

    from ..datasets.splits import SPLIT_DIRS

    root = Path(data)
    if not root.is_dir():
        return False
    subs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return bool(subs) and not any(p.name.casefold() in SPLIT_DIRS for p in subs)


# what a folder of photos is not scored with: each needs faces the dataset already labels
NOT_FOR_PHOTOS = {"calibrate": "--calibrate", "choose_ensemble": "--choose-ensemble", "robustness": "--robustness",
                  "ensemble_max_params": "--ensemble-max-params", "votes": "--votes"}


def _refuse_for_photos(args) -> None:
    """The options that cannot apply to a folder of photos, each refused in one line."""
    for dest, flag in NOT_FOR_PHOTOS.items():
        if getattr(args, dest, None):
            raise UsageError(f"{flag}: not for a folder of photos (it needs a FER2013 dataset)")
    if getattr(args, "labels", None) == "ferplus":
        raise UsageError("--labels ferplus: FER+'s votes label FER2013's faces; a folder of photos is labelled by its "
                         "folders' names")
    if args.tta not in (None, "none"):
        raise UsageError("--tta: not for a folder of photos (the model's own test-time views are used)")
    if args.split is not None or args.limit:  # a folder is one set, scored whole
        raise UsageError(f"{'--split' if args.split is not None else '--limit'}: not for a folder of photos (every "
                         "photo in it is scored; a part of it: a folder of that part)")
    if args.control and not args.groups:
        raise UsageError("--control: needs --groups (the CSV that has the column)")
    from ..training.robustness import ROBUSTNESS_ONLY

    for o in ("corruptions", "severities"):  # --robustness is refused above; its options were ignored
        if getattr(args, o, ROBUSTNESS_ONLY[o]) != ROBUSTNESS_ONLY[o]:
            raise UsageError(f"--{o}: goes with --robustness, which needs a FER2013 dataset")


def evaluate_photos(args) -> int:
    """``facemotion evaluate MODEL... --data <emotion>/<photo> folder``: each photo as a user runs
    it (the detector, the largest face; ``--crops``: the image is the face), several models
    averaged on the same crop."""
    import json
    import sys
    from pathlib import Path

    from ..errors import ImageError
    from ..fairness import format_group_report, group_report, read_groups
    from ..labelled import (
                            averaged_labels,
                            format_photo_report,
                            photo_report,
                            read_labelled_folder,
                            score_images,
                            truth_and_pred,
    )
    from ..recognizer import EmotionRecognizer

    _refuse_for_photos(args)
    detector = "none" if args.crops else (args.detector or DEFAULT_DETECTOR)
    recs = [EmotionRecognizer(detector=detector, model=m) for m in args.models]
    labels = averaged_labels(recs)  # several models: over the largest set (a seven's contempt 0), as on a dataset
    items = read_labelled_folder(args.data, labels)
    # the CSV is checked before any photo is scored
    groups, persons, control = (read_groups(args.groups, args.data, [i.path for i in items], args.control)
                                if args.groups else (None, None, None))
    errors = [] if args.skip_bad else None  # --skip-bad: an unreadable photo is a miss, counted
    try:
        probs, found = score_images(recs, items, progress=getattr(args, "progress", True), errors=errors)
    except ImageError as e:  # what to do about it: as data crops and train say
        raise ImageError(f"{e} (--skip-bad counts such a photo as a miss)") from None
    truth = [i.label for i in items]
    r = photo_report(truth, probs, found, labels)
    r.update({"models": [str(m) for m in args.models], "data": str(args.data), "detector": detector,
              "unreadable": errors or []})
    if groups:
        y, pred = truth_and_pred(truth, probs, found, labels)
        r["groups"] = group_report(y, pred, found, labels, groups, persons, control=control,
                                   control_name=args.control, seed=args.seed)
    if args.out:
        write_photo_outputs(r, Path(args.out), Path(args.data).name)
    if args.json:
        print(json.dumps(r))
    else:
        names = ", ".join(_shown_model(m, rec) for m, rec in zip(args.models, recs))
        print(format_photo_report(r, f"{names} on {args.data} ({'face crops' if args.crops else detector})"))
        if groups:
            print(format_group_report(r["groups"]))
        if args.out:
            print(f"wrote {Path(args.out) / 'report.json'}, confusion.png" + (", groups.png" if groups else ""),
                  file=sys.stderr)
    if errors:
        print(f"{len(errors)} unreadable photo{'s' if len(errors) != 1 else ''} counted as misses "
              f"(first: {errors[0]})", file=sys.stderr)
    _notes(args.data, items, labels, " and ".join(r.model_name for r in recs))
    return 0


def _notes(folder, items, labels, name: str) -> None:
    """The notes on the images of ``folder`` not scored, the classes scored on nothing (left out
    of the averages), and a contempt/ folder scored as disgust by a model of FER2013's seven."""
    import sys
    from pathlib import Path

    from ..labelled import folder_notes

    for note in folder_notes(folder, items, ": not scored"):
        print(note, file=sys.stderr)
    if "contempt" not in labels and any(d.name.lower() == "contempt" for d in Path(folder).iterdir()):
        print(f"note: contempt/ is scored as disgust: {name} reads FER2013's seven emotions, which file "
              "contempt under disgust", file=sys.stderr)


def write_photo_outputs(r: dict, out, name: str) -> None:
    """-o for a folder of photos: confusion.png, with --groups groups.png, and last report.json
    (a run cut short leaves no report beside another run's figures; figures not drawn are removed)."""
    from ..plots import confusion, group_accuracy
    from ..training.eval_report import remove_stale
    from ..writers import write_json

    out.mkdir(parents=True, exist_ok=True)
    drawn = [out / "confusion.png"]
    confusion(r["confusion_matrix"], drawn[0], labels=r["labels"], columns=[*r["labels"], "no face"],
              title=f"{name}: balanced accuracy {r['balanced_accuracy'] * 100:.1f}%")
    if "groups" in r:
        drawn.append(out / "groups.png")
        group_accuracy(r["groups"], drawn[-1], title=f"{name}: accuracy by group")
    remove_stale(out, drawn)
    write_json(out / "report.json", r)


def _shown_model(model: str, rec) -> str:
    """A model as the report's title names it: a shipped one by the name it runs under (an older
    name resolved), a file by its name."""
    from pathlib import Path

    from ..zoo import shipped_models

    return rec.model_name if rec.model_name in shipped_models() else Path(model).name
