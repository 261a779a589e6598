"""Photos to files: every input image through a recognizer, with its annotated copy and JSON.

:func:`annotate_images` is the loop behind ``facemotion image`` and ``facemotion demo``:
one :class:`PhotoResult` per input, in order; an input that cannot be read is reported in
its result (``error``) and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import FacemotionError
from .images import load_image
from .render import draw
from .writers import output_stems, write_image, write_json


@dataclass
class PhotoResult:
    path: Path
    record: dict | None = None   # {file, width, height, detector, faces}; None when it failed
    error: str | None = None
    outputs: tuple[Path, ...] = ()


def annotate_images(recognizer, paths, out_dir=None, *, bars: bool = True, json_files: bool = True):
    """Yield a :class:`PhotoResult` per path. With ``out_dir``, write ``<stem>_annotated.jpg``
    and (``json_files``) ``<stem>.json`` there, in a tree mirroring the inputs' (see
    :func:`~facemotion.writers.output_stems`); an input whose outputs cannot be written fails
    alone."""
    paths = [Path(p) for p in paths]
    out = Path(out_dir) if out_dir is not None else None
    for path, stem in zip(paths, output_stems(paths)):
        try:
            image = load_image(path)
            faces = recognizer.analyze(image)
        except FacemotionError as e:
            yield PhotoResult(path, error=str(e))
            continue
        record = {"file": str(path), "width": image.shape[1], "height": image.shape[0],
                  "detector": recognizer.detector.name, "faces": faces}
        written = []
        if out is not None:
            try:
                written.append(out / f"{stem}_annotated.jpg")
                write_image(written[-1], draw(image, faces, bars=bars))
                if json_files:
                    written.append(out / f"{stem}.json")
                    write_json(written[-1], record)
            except OSError as e:  # a full disk, a read-only folder: this input fails, the next may not
                yield PhotoResult(path, record, error=f"{e.filename or written[-1]}: cannot write ({e.strerror or e})")
                continue
        yield PhotoResult(path, record, outputs=tuple(written))
