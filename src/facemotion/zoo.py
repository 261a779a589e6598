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
from dataclasses import dataclass, field
from pathlib import Path

from .card import ModelCard
from .errors import ModelError, ModelOptionError
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

# shipped names that left the package -> the commit whose tree still holds the file
# (src/facemotion/weights/<name>.onnx); docs/history/models.md says what each was and how to
# make it again from its checkpoint. Loading one by name raises a one-line ModelError that says how.
RETIRED_IN_0_2 = "f637b9cc91f5"  # the last commit of 0.1.0: its eighteen emotion models
RETIRED = {name: RETIRED_IN_0_2 for name in (
    "ensemble", "ensemble_int8", "fer2013_resnet_s", "fer2013_resnet_s_int8", "fer2013_vgg_s_int8",
    "fer2013_mini_xception_int8", "ferplus_vgg_s", "ferplus_resnet_s", "ferplus_resnet_s_int8",
    "wild_rare_kd_vgg_s", "quad_ensemble")}
RETIRED.update({  # earlier, each replaced by a rule of docs/training-log.md
    "ferplus_ensemble": "905ecb6cc5da", "ferplus_ensemble_int8": "905ecb6cc5da",
    "wild_resnet_s": "86564b80e50b", "wild_resnet_s_int8": "86564b80e50b",
    "wild_ensemble": "ec0a48198546", "wild_ensemble_int8": "ec0a48198546",
    "wild_pseudo_resnet_s": "1f2914758748", "wild_pseudo_resnet_s_int8": "1f2914758748",
    "duo_ensemble": "c52439897ec4", "duo_ensemble_int8": "c52439897ec4",
    "wild_real3_resnet_s": "e8850ae00763", "wild_real3_resnet_s_int8": "e8850ae00763",
    "wild_rare_kd_vgg_s_int8": "50c7fb634ca3",
    "wild_reweigh_resnet_s": "083569e0b6f6", "wild_reweigh_resnet_s_int8": "083569e0b6f6",
    "newfaces_resnet_s": "1b001f8291d3", "newfaces_resnet_s_int8": "1b001f8291d3",
    "newfaces_kd_resnet_s": "c20cdf755f74", "newfaces_kd_resnet_s_int8": "c20cdf755f74",
    "newfaces3_resnet_s": "7f11cd55c9d8", "newfaces3_resnet_s_int8": "7f11cd55c9d8"})
# a retired name that still loads: the shipped model that took its place (with a note, once a process)
STANDS_IN = {"quad_ensemble": "quad_ensemble_int8"}


@dataclass(frozen=True)
class ZooEntry:
    name: str
    path: Path
    card: ModelCard
    guide: dict = field(default_factory=dict)  # its row of the table users choose from (guide_table)


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
        models = {name: ZooEntry(name, WEIGHTS_DIR / m["file"], ModelCard.from_dict(m["card"], f"{INDEX}: {name}"),
                                 dict(m.get("guide") or {}))
                  for name, m in index["models"].items()}
        registry = Registry("model", aliases={o: n for o, n in RENAMED.items() if n in models},
                            error=ModelOptionError, unknown="{name}: no such model file (shipped models: {names})")
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
    return _CACHE.get("registry") or Registry("model", error=ModelOptionError)


_NOTED: set[str] = set()  # old names already noted in this process (a job may load a model per thread)


def shipped_name(name: str) -> str:
    """A shipped name as it is now: an old name (:data:`RENAMED`) becomes the new one, and a
    retired name with a stand-in (:data:`STANDS_IN`) that stand-in, each with a note on stderr
    (once a process); a retired name raises its one-line :class:`ModelError`; any other string
    (a file, or a name nobody knows) is returned as given."""
    if Path(name).is_file():  # a folder is no model file: a shipped name is not hidden by one
        return name
    shipped = shipped_models()
    new = shipped_registry().canonical(name)
    if new != name:
        _note(name, f"note: model {name!r} is now called {new!r} (shipped names are no longer architecture names); "
                    "the old name goes in a future release")
        return new
    if name in STANDS_IN and name not in shipped and STANDS_IN[name] in shipped:
        _note(name, f"note: model {name!r} is shipped as {STANDS_IN[name]!r} only (its float file left the package: "
                    "docs/history/models.md)")
        return STANDS_IN[name]
    retired = RENAMED.get(name, name)
    if retired in RETIRED and retired not in shipped:
        raise retired_error(retired, name)
    return name


def _note(name: str, line: str) -> None:
    if name not in _NOTED:
        import sys

        print(line, file=sys.stderr)
        _NOTED.add(name)


def retired_error(name: str, asked: str | None = None) -> ModelError:
    """The one line a retired model's name gets: where its file is, and how to use it."""
    said = f"{asked!r} (now {name!r})" if asked and asked != name else repr(name)
    return ModelError(f"model {said} is no longer shipped {_where_retired(name)}")


def _where_retired(name: str) -> str:
    return (f"(docs/history/models.md); from a clone of the repository: git show "
            f"{RETIRED[name]}:src/facemotion/weights/{name}.onnx > {name}.onnx, "
            f"then --model {name}.onnx (model=\"{name}.onnx\" in Python)")


def no_checkpoint(path) -> str:
    """The one line for a checkpoint that is not there (a shipped model's name: how to get one)."""
    if Path(path).is_dir():
        best = Path(path) / "best.pt"
        return f"{path}: is a folder, not a checkpoint" + (f" (a run's: give {best})" if best.is_file() else "")
    shipped = f" (a shipped model's name: `facemotion import {path} -o DIR` rebuilds its checkpoint)" \
        if str(path) in shipped_models() else ""
    return f"{path}: no such checkpoint{shipped}"


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


def _int8_file(model) -> bool:
    """Whether ``model`` is an ONNX file whose card says its weights are int8 (read from its
    metadata, which ONNX Runtime reads without running it)."""
    if not (isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(".onnx") and Path(model).is_file()):
        return False
    try:
        import onnxruntime as ort

        meta = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_modelmeta()
        return json.loads(meta.custom_metadata_map.get("weights_dtype", "null")) == "int8"
    except Exception:  # noqa: BLE001 - not a readable model: loading it says why
        return False


def resolve(model: str | os.PathLike | None, precision: str | None = None) -> tuple[Path, ZooEntry | None]:
    """None / a shipped name / a path -> (file, its zoo entry when it is a shipped model).

    ``precision="int8"`` picks a shipped model's int8 variant (``<name>_int8``), made by
    ``facemotion quantize``; None or "float32" the model as named; "auto" (the recognizer's and
    the commands' default) the default model's int8 copy where :func:`default_precision` says
    so, and a model named as named."""
    if isinstance(model, (str, os.PathLike)) and not os.fspath(model).strip():  # Path("") is "."
        raise ModelOptionError(f"model: an empty name ({', '.join(shipped_models())}, or a model file)")
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
            if _int8_file(model) and precision == "int8":  # asked for what it is: the file as it is
                return Path(model), None
            raise ModelOptionError(f"{model}: precision={precision} picks a variant of a shipped model by name; "
                             "quantize a file of your own with `facemotion quantize`")
        if not model.endswith(f"_{precision}"):
            variant = f"{model}_{precision}"
            if variant not in shipped:
                have = ", ".join(n for n in shipped if n.endswith(f"_{precision}")) or "none"
                was = f"; {variant} was retired {_where_retired(variant)}" if variant in RETIRED else ""
                raise ModelError(f"{model}: no {precision} variant is shipped (shipped {precision} models: {have}){was}")
            model = variant
    if isinstance(model, str) and model in shipped:
        return shipped[model].path, shipped[model]
    path = Path(model)
    if not path.exists():  # its one-line error: no such file, nor shipped name
        try:
            shipped_registry().get(str(model))
        except ModelOptionError as e:  # a name no model has is a bad option (exit 2); a missing file, as any (1)
            if path.suffix.lower() in (".onnx", ".pt", ".pth") or len(path.parts) > 1:
                raise ModelError(str(e)) from None
            raise
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


def write_index(default: str, entries: dict[str, tuple[str, ModelCard]], path: Path = INDEX,
                guides: dict[str, dict] | None = None) -> None:
    """Write the index: ``entries`` is name -> (file name inside weights/, card); ``guides`` is
    name -> the model's row of the table users choose from (:func:`guide_table`); a name
    without one keeps the row the index at ``path`` has for it."""
    from .fileio import write_text

    old = json.loads(path.read_text())["models"] if path.exists() else {}
    guides = {n: g for n, m in old.items() if (g := m.get("guide"))} | dict(guides or {})
    doc = {"format": INDEX_FORMAT, "default": default,
           "models": {n: {"file": f, "card": c.to_dict()} | ({"guide": guides[n]} if n in guides else {})
                      for n, (f, c) in entries.items()}}
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


GUIDE_COLUMNS = ("model", "use it for", "FER+ majority, 7 classes", "FER2013 labels, duplicates out",
                 "posed photos, balanced", "weakest classes (FER+ recall)", "weakest classes (FER2013 recall)", "called neutral", "faces/s",
                 "size")


def guide_rows() -> list[list[str]]:
    """The table users choose a model from, a row per shipped model in the index's order: what
    it is for, PrivateTest accuracy on both label sets (the card's, measured on the file), its two
    weakest classes on each label set, the share of the faces it calls neutral (PrivateTest: FER2013 labels
    17.4% of them neutral, FER+'s majority 34.7%), its balanced accuracy on posed_val's photos of
    people no training read (whole photos through the default detector), faces a second (the classifier alone, batch 1,
    the machine of benchmarks/results/pipeline_classifiers.txt) and its size
    (scripts/zoo_table.py)."""
    rows = []
    for name, e in shipped_models().items():
        m, g = e.card.metrics, e.guide
        pct = lambda k: f"{m[k] * 100:.1f}%" if k in m else "–"  # noqa: E731
        weak = [", ".join(f"{k} {v * 100:.0f}%" for k, v in sorted((g.get(key) or {}).items(), key=lambda kv: kv[1])[:2])
                or "–" for key in ("ferplus_recall", "fer2013_recall")]
        neutral = f"{g['neutral_share'] * 100:.1f}%" if g.get("neutral_share") is not None else "–"
        posed = f"{g['posed_balanced'] * 100:.1f}%" if g.get("posed_balanced") is not None else "–"
        speed = f"{g['faces_per_s']:,}" if g.get("faces_per_s") else "–"
        size = f"{e.path.stat().st_size / 1e6:.1f} MB, {(e.card.parameters or 0) / 1e6:.2f}M params"
        rows.append([f"`{name}`", g.get("use", ""), pct("ferplus_test"), pct("private_test_dedup"), posed, *weak, neutral,
                     speed, size])
    return rows


def guide_table(markdown: bool = True) -> str:
    """:func:`guide_rows` as one table (a Markdown table: README.md holds the same text)."""
    rows = [list(GUIDE_COLUMNS)] + guide_rows()
    if not markdown:
        rows = [[c.replace("`", "") for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(GUIDE_COLUMNS))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows[1:]])
