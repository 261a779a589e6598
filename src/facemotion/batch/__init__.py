"""Emotion recognition over collections: ``facemotion batch`` and :func:`run_batch`.

    >>> from facemotion.batch import run_batch
    >>> run_batch(["photos/", "clips/*.mp4"], "results.csv")     # doctest: +SKIP
    {'inputs': 1250, 'skipped': 0, 'processed': 1250, 'faces': 1533, 'faceless': 31, 'failed': 2, ...}

Inputs (:mod:`.inputs`) become rows (:mod:`.rows`: one per face, one per input without a face,
one per failed input) in a resumable CSV, JSON-lines or Parquet output (:mod:`.sinks`), by the
local engine (:mod:`.local`: threads on one machine) or Ray (:mod:`.ray_engine`: a cluster).
Running the same call again after a kill continues where it stopped.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from .. import validate
from ..errors import FacemotionError, UsageError
from ..fileio import check_writable, made_folders_kept_on_success, same_file
from ..names import count, shown
from ..writers import drawn_copies, drawn_note, foreign_file
from .inputs import Item, expand
from .rows import COLUMNS
from .sinks import open_sink, read_rows
from .stages import JobSpec

ENGINES = ("local", "ray")

__all__ = ["COLUMNS", "ENGINES", "Item", "JobSpec", "expand", "read_rows", "run_batch"]


def _check_job(spec: JobSpec, engine: str, workers, actors, ray_address, annotate_dir, overwrite=False,
               retry_failed=False) -> None:
    """What a job cannot run with, said before any output exists."""
    if overwrite and retry_failed:  # one would be passed over
        raise UsageError("--overwrite, --retry-failed: the one starts the table again, the other reads its failed "
                         "inputs again; give one")
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    if spec.every < 1:
        raise UsageError(f"--frame-step {spec.every}: must be 1 or more")
    validate.number("smooth", spec.smooth, 0, 1, hi_open=True)
    for name, n in (("detect-workers", workers), ("actors", actors)):
        if n is not None and n < 1:
            raise UsageError(f"--{name} {n}: must be 1 or more")
    # an option of the other engine would be passed over: said, not ignored
    other = [o for o, v, e in (("--actors", actors, "ray"), ("--ray-address", ray_address, "ray"),
                               ("--detect-workers", workers, "local")) if v is not None and engine != e]
    if other:
        raise UsageError(f"{other[0]}: an option of --engine {'local' if engine == 'ray' else 'ray'}, "
                         f"not of --engine {engine}")
    if annotate_dir is not None:  # a file in its place, a folder not writable
        check_writable(annotate_dir, "--annotate")
    if engine == "ray":  # Ray missing (an --overwrite would have emptied the table before the error)
        from .ray_engine import check_address, ray_module

        ray_module()
        check_address(ray_address)


def run_batch(inputs, out, *, spec: JobSpec = JobSpec(), engine: str = "local", workers: int | None = None,
              actors: int | None = None, ray_address: str | None = None, annotate_dir=None, overwrite: bool = False,
              retry_failed: bool = False, progress: bool = True, blur: bool = False) -> dict:
    """Run ``spec`` over ``inputs`` (files, folders, globs, list files) into ``out``; inputs
    already in ``out`` (a previous, interrupted run of the same job) are skipped, those that
    failed there too unless ``retry_failed`` (their error rows are then taken out first).
    ``annotate_dir``: an annotated copy of each photo written there (``blur``: its faces pixelated)."""
    if blur and annotate_dir is None:
        raise UsageError("--blur pixelates the faces of --annotate's copies; give --annotate DIR "
                         "(the table is unchanged)")
    if isinstance(inputs, (str, os.PathLike)):  # one input, not its characters
        inputs = [inputs]
    _check_job(spec, engine, workers, actors, ray_address, annotate_dir, overwrite, retry_failed)
    items = expand(inputs, skip=[annotate_dir])  # a rerun does not read its annotated copies back
    if drawn := set(drawn_copies([it.path for it in items if it.kind == "image"], inputs)):
        items = [it for it in items if it.path not in drawn]  # nor those it drew among the photos
        print(f"note: {drawn_note(sorted(drawn))}", file=sys.stderr)
    if not items:
        raise FacemotionError(f"no inputs found in {' '.join(map(str, inputs))}")
    _refuse_replacing_inputs(items, annotate_dir, resumed=Path(out).exists())
    # a bad --model or --detector fails here, before any output exists; the local engine's first
    # worker is this recognizer, a cluster's workers build their own (the driver loads no model)
    recognizer = spec.recognizer() if engine == "local" else None
    model = recognizer.model_name if recognizer is not None else spec.check()
    t0 = time.perf_counter()
    labels = recognizer.labels if recognizer is not None else spec.labels()
    videos = any(it.kind == "video" for it in items)
    sink = open_sink(out, spec.signature(videos), overwrite=overwrite, labels=labels, mesh=spec.options.mesh,
                     retry_failed=retry_failed)
    # --annotate's folder is not left empty where every input failed (no copy to write)
    annotated = made_folders_kept_on_success(annotate_dir, empty=False) if annotate_dir else contextlib.nullcontext()
    try:
        with annotated:
            # an input done before, under this name or another one for the same file (the folder
            # named by its absolute path this time, the command run from another folder)
            todo = [it for it in items if not sink.has(it.path)]
            failed_before = sum(sink.has_failed(it.path) for it in items)  # done by an earlier run, as errors
            _note_undrawn(items, todo, sink, annotate_dir, out)
            if annotate_dir is not None:
                Path(annotate_dir).mkdir(parents=True, exist_ok=True)
            if engine == "ray":
                from .ray_engine import run_ray

                counts = run_ray(todo, spec, sink, actors=actors, address=ray_address, annotate_dir=annotate_dir,
                                 blur=blur, progress=progress)
                model = counts.pop("model", None) or model
            else:
                from .local import run_local

                counts = run_local(todo, spec, sink, recognizer=recognizer, workers=workers,
                                   annotate_dir=annotate_dir, blur=blur, progress=progress)
    finally:
        sink.close()
    dt = time.perf_counter() - t0
    return {"inputs": len(items), "skipped": len(items) - len(todo), **counts, "failed_before": failed_before,
            "rows": sink.rows,
            "seconds": dt, "inputs_per_s": counts["processed"] / dt if dt > 0 else 0.0, "out": str(out),
            "model": model}


def _refuse_replacing_inputs(items, annotate_dir, resumed: bool = False) -> None:
    """An annotated copy never replaces an input (--annotate the photos' own folder, beside a
    ``p_annotated.jpg`` of the user's), nor, in a new job, a picture facemotion did not draw
    (a job that resumes finds its own copies, some perhaps drawn before they were marked):
    refused before any output exists."""
    if annotate_dir is None:
        return
    inputs = {same_file(it.path): it.path for it in items}
    for it in items:
        target = Path(annotate_dir) / f"{it.stem}_annotated.jpg"
        if it.kind == "image" and same_file(target) in inputs:
            raise UsageError(f"--annotate {annotate_dir}: the annotated copy of {it.path} would replace the input "
                             f"{inputs[same_file(target)]}; choose another folder")
        if it.kind == "image" and not resumed and foreign_file(target):
            raise UsageError(f"--annotate {annotate_dir}: the annotated copy of {it.path} would replace {target}, "
                             "a file facemotion did not write; remove it or choose another folder")


def _note_undrawn(items, todo, sink, annotate_dir, out) -> None:
    """--annotate given to a job that resumes: the photos an earlier run did are not read again,
    so they get no copy; said, not passed over (their rows are in the table). Nor do videos get
    one: said too."""
    if annotate_dir is None:
        return
    todo = {it.path for it in todo}
    undrawn = [it for it in items if it.kind == "image" and it.path not in todo and not sink.has_failed(it.path)
               and not (Path(annotate_dir) / f"{it.stem}_annotated.jpg").exists()]
    if undrawn:
        print(f"note: --annotate {annotate_dir}: {count(len(undrawn), 'photo')} done before this run "
              f"({shown(str(undrawn[0].path))}{', ...' if len(undrawn) > 1 else ''}) not drawn: their rows are "
              f"in {shown(str(out))}; --overwrite reads and draws every input", file=sys.stderr)
    if clips := [it for it in items if it.kind == "video" and it.path in todo]:  # (an animated GIF is one too)
        print(f"note: --annotate {annotate_dir} draws photos; {count(len(clips), 'video')} "
              f"({shown(str(clips[0].path))}{', ...' if len(clips) > 1 else ''}) "
              f"{'get rows, not copies' if len(clips) > 1 else 'gets rows, not a copy'}: facemotion video draws a clip",
              file=sys.stderr)
