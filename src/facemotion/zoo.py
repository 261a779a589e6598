"""The shipped models: one name space, one card per model, checked when a model is loaded.

``weights/models.json`` is the index: the default model's name and, per shipped name, its
ONNX file and its :class:`~facemotion.card.ModelCard` (the card inside the file, with the
accuracy measured on that file itself). A model is referred to as

- ``None``: the default;
- a shipped name (``facemotion models`` lists them), e.g. ``"fer2013_vgg_s"``;
- a path to an ``.onnx`` or ``.pt`` file.

``models/`` at the repository root holds torch checkpoints for training (teachers, ensemble
members, fine-tuning); they are files, not shipped names.

Shipped names are never architecture names (``facemotion train --arch`` takes those): a
shipped model is named for its labels and its network (``fer2013_vgg_s`` is a ``vgg_fer_s``
trained on FER2013's labels, ``ferplus_vgg_s`` one trained on FER+'s votes). The index is the
authority for a shipped model's name: a file loaded by name carries it in its card.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .card import ModelCard
from .errors import ModelError
from .registry import Registry

WEIGHTS_DIR = Path(__file__).with_name("weights")
INDEX = WEIGHTS_DIR / "models.json"
INDEX_FORMAT = "facemotion-zoo/1"
# fields in which the index's card and the file's card must agree (metrics may be re-measured)
IDENTITY = ("arch", "labels", "input_size", "normalization", "temperature", "tta", "parameters", "weights_dtype",
            "quantization")

# shipped names that were architecture names too, and what they are called now: the old
# names load for one more release, with a note (``vgg_fer_s`` alone now means the architecture)
RENAMED = {"mini_xception": "fer2013_mini_xception", "vgg_fer_s": "fer2013_vgg_s", "resnet_fer_s": "fer2013_resnet_s"}
RENAMED.update({f"{old}_int8": f"{new}_int8" for old, new in list(RENAMED.items())})


@dataclass(frozen=True)
class ZooEntry:
    name: str
    path: Path
    card: ModelCard


_CACHE: dict = {}


def _index() -> dict:
    """The index, read once (again only when the file changes: ``scripts/ship_model.py`` rewrites it)."""
    try:
        st = INDEX.stat()
    except FileNotFoundError:
        return {"default": None, "models": {}}
    key = (str(INDEX), st.st_mtime_ns, st.st_size)
    if _CACHE.get("key") != key:
        index = json.loads(INDEX.read_text())
        if index.get("format") != INDEX_FORMAT:
            raise ModelError(f"{INDEX}: not a {INDEX_FORMAT} index (broken install?)")
        models = {name: ZooEntry(name, WEIGHTS_DIR / m["file"], ModelCard.from_dict(m["card"], f"{INDEX}: {name}"))
                  for name, m in index["models"].items()}
        registry = Registry("model", aliases={o: n for o, n in RENAMED.items() if n in models},
                            error=ModelError, unknown="{name}: no such model file (shipped models: {names})")
        for name, entry in models.items():
            registry.register(name, lambda entry=entry: entry)
        _CACHE.update(key=key, index=index, models=models, registry=registry)
    return _CACHE["index"]


def shipped_models() -> dict[str, ZooEntry]:
    """Every shipped model, by name, in the index's order."""
    index = _index()
    return dict(_CACHE["models"]) if index.get("models") else {}


def shipped_registry() -> Registry:
    """The shipped models as a :class:`~facemotion.registry.Registry` of their entries (the
    renamed models' old names as aliases)."""
    _index()
    return _CACHE.get("registry") or Registry("model", error=ModelError)


_NOTED: set[str] = set()  # old names already noted in this process (a job may load a model per thread)


def shipped_name(name: str) -> str:
    """A shipped name as it is now: an old name (:data:`RENAMED`) becomes the new one, with a
    note on stderr (once a process); any other string is returned as given."""
    new = shipped_registry().canonical(name)
    if new != name and not Path(name).exists():
        if name not in _NOTED:
            import sys

            print(f"note: model {name!r} is now called {new!r} (shipped names are no longer architecture names); "
                  "the old name goes in a future release", file=sys.stderr)
            _NOTED.add(name)
        return new
    return name


def default_model_name() -> str:
    name = _index().get("default")
    if not name:
        raise ModelError(f"{INDEX}: the package ships no default model (broken install?)")
    return name


PRECISIONS = ("auto", "float32", "int8")
# CPUs whose int8 kernels give the shipped (u8s7) int8 models exactly the answers measured when
# they were made: x86-64 with or without VNNI, and ARM64 (docs/edge.md)
INT8_EXACT = ("x86_64", "amd64", "aarch64", "arm64")


def default_precision() -> str | None:
    """What ``precision="auto"`` gives the default model: "int8" where its int8 copy is shipped
    and this CPU runs it exactly (3.4x the float's faces/s within 0.4 points of its accuracy,
    docs/models.md: the rule in docs/training-log.md), None (the float model) elsewhere."""
    import platform

    shipped = shipped_models()
    if platform.machine().lower() in INT8_EXACT and f"{default_model_name()}_int8" in shipped:
        return "int8"
    return None


def resolved_precision(model, precision: str | None) -> str | None:
    """The precision a model and precision option come to: "int8", or None for the model as
    named ("float32" and "auto" for a named model mean that)."""
    if precision == "auto":
        return default_precision() if model is None else None
    return None if precision in (None, "float32") else precision


def resolve(model: str | os.PathLike | None, precision: str | None = None) -> tuple[Path, ZooEntry | None]:
    """None / a shipped name / a path -> (file, its zoo entry when it is a shipped model).

    ``precision="int8"`` picks a shipped model's int8 variant (``<name>_int8``), made by
    ``facemotion quantize``; None or "float32" the model as named; "auto" (the recognizer's and
    the commands' default) the default model's int8 copy where :func:`default_precision` says
    so, and a model named as named."""
    precision = resolved_precision(model, precision)
    if model is None:
        model = default_model_name()
    if isinstance(model, str):
        model = shipped_name(model)
    shipped = shipped_models()
    if precision not in (None, "float32"):
        from .validate import choice

        choice("precision", precision, PRECISIONS)
        if not isinstance(model, str) or model not in shipped:
            raise ModelError(f"{model}: precision={precision} picks a variant of a shipped model by name; "
                             "quantize a file of your own with `facemotion quantize`")
        if not model.endswith(f"_{precision}"):
            variant = f"{model}_{precision}"
            if variant not in shipped:
                have = ", ".join(n for n in shipped if n.endswith(f"_{precision}")) or "none"
                raise ModelError(f"{model}: no {precision} variant is shipped (shipped {precision} models: {have})")
            model = variant
    if isinstance(model, str) and model in shipped:
        return shipped[model].path, shipped[model]
    path = Path(model)
    if not path.exists():
        shipped_registry().get(str(model))  # raises its one-line error: no such file, nor shipped name
    if path.is_dir():
        raise ModelError(f"{path}: is a folder, not a model file")
    return path, None


def resolve_model(model) -> Path:
    return resolve(model)[0]


def check_entry(entry: ZooEntry, card: ModelCard) -> None:
    """The index describes the file it names: a file replaced without re-indexing is refused."""
    a, b = entry.card.to_dict(), card.to_dict()
    for key in IDENTITY:
        if a[key] != b[key]:
            raise ModelError(f"{entry.path}: its card says {key}={b[key]!r} but the index ({INDEX.name}) says "
                             f"{a[key]!r}; re-run scripts/ship_model.py")


def write_index(default: str, entries: dict[str, tuple[str, ModelCard]], path: Path = INDEX) -> None:
    """Write the index: ``entries`` is name -> (file name inside weights/, card)."""
    from .fileio import write_text

    doc = {"format": INDEX_FORMAT, "default": default,
           "models": {n: {"file": f, "card": c.to_dict()} for n, (f, c) in entries.items()}}
    write_text(path, json.dumps(doc, indent=2) + "\n")


def listing() -> list[dict]:
    """One row per shipped model for people: name, default, what it is, size, accuracy."""
    default = default_model_name() if shipped_models() else None
    rows = []
    for name, e in shipped_models().items():
        c = e.card
        what = c.arch
        if c.members:
            what = "ensemble of " + " + ".join(Path(str(m.get("source") or m["arch"])).stem for m in c.members)
        rows.append({"name": name, "default": name == default, "what": what, "parameters": c.parameters or 0,
                     "tta": c.tta, "weights_dtype": c.weights_dtype, **c.accuracy})
    return rows
