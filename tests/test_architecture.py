"""The package's shape, checked by walking its imports (module level and inside functions):
each folder is a layer, no module imports a layer above it, there is no import cycle, and
the inference core runs without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "facemotion"

# Each layer and the layers it may import (its own included). Lowest first.
BASE = {"errors", "labels", "names", "fileio", "progress", "validate", "threads", "plugins", "cpu", "boxes", "registry",
        "formats", "inputs"}
CORE = {"preprocess", "tta", "metrics", "card", "results", "jpeg", "decoding", "images", "robustness",
        "fairness"}
INFERENCE = {"detect", "zoo", "classify", "align", "orient", "render", "writers", "plots", "explain", "mesh", "sessions"}
PIPELINES = {"video", "photos", "labelled", "facecrops"}
LAYER_OF_TOP = {**{m: "base" for m in BASE}, **{m: "core" for m in CORE}, **{m: "inference" for m in INFERENCE},
                **{m: "pipelines" for m in PIPELINES}, "recognizer": "recognizer", "stages": "recognizer", "batch": "jobs",
                "deprecated": "recognizer",  # the 0.1 recognizer's members that moved to its stages
                "datasets": "datasets",
                "protocol": "datasets",  # the honest protocol: scores a split against FER+ votes (datasets.ferplus)
                "training": "training", "cli": "apps", "service": "apps", "web": "apps", "__main__": "apps",
                "compat": "apps",  # other packages' APIs (fer's FER and Video) over the public API
                "cuda": "cuda"}  # the networks as torch modules on a GPU (imported only for device != cpu)
MAY_IMPORT = {
    "base": {"base"},
    "core": {"base", "core"},
    "inference": {"base", "core", "inference"},
    "pipelines": {"base", "core", "inference", "pipelines"},
    "cuda": {"base", "core", "inference", "cuda"},
    "recognizer": {"base", "core", "inference", "pipelines", "cuda", "recognizer"},
    "datasets": {"base", "core", "datasets"},
    "training": {"base", "core", "inference", "datasets", "cuda", "training"},
    "api": {"base", "core", "inference", "pipelines", "cuda", "recognizer", "api"},  # facemotion/__init__.py
    "jobs": {"base", "core", "inference", "pipelines", "cuda", "recognizer", "jobs"},  # batch: local or on Ray
    "apps": {"base", "core", "inference", "pipelines", "cuda", "recognizer", "datasets", "training", "api", "jobs",
             "apps"},
}
# the layers that may import torch; cuda's modules import it only for a device other than the CPU
TORCH_LAYERS = {"training", "cuda"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "api"
    if parts[1] not in LAYER_OF_TOP:
        raise AssertionError(f"{module}: in no layer; add it to tests/test_architecture.py")
    return LAYER_OF_TOP[parts[1]]


def imports_of(module: str) -> set[str]:
    """facemotion modules that ``module`` imports, anywhere in its code."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "facemotion"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "facemotion":
                continue
            subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES}
            out |= subs or {target}
            if subs and len(subs) < len(node.names):  # names that are not modules come from the package itself
                out.add(target)
    return {m for m in out if m != module}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_import_resolves_to_a_module():
    missing = {f"{m} -> {t}" for m, ts in GRAPH.items() for t in ts if t not in MODULES}
    assert not missing, sorted(missing)


def test_no_module_imports_a_layer_above_it():
    upward = [f"{m} ({layer(m)}) imports {t} ({layer(t)})" for m, ts in GRAPH.items() for t in ts
              if layer(t) not in MAY_IMPORT[layer(m)]]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(GRAPH[m]):
            if state.get(t) == "open":
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(cycles)


def test_only_the_training_wing_imports_torch():
    offenders = []
    for m, path in MODULES.items():
        if layer(m) in TORCH_LAYERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{m} imports {n}" for n in names if n.split(".")[0] in ("torch", "onnx", "onnxscript")]
    assert not offenders, offenders


@pytest.mark.parametrize("block", [False, True], ids=["torch-installed", "torch-absent"])
def test_the_core_runs_without_torch(block):
    """Every module outside the training wing imports, and the whole pipeline runs, without
    pulling torch in, and with torch (and onnx) made unimportable, as on the core install."""
    core = sorted(m for m in MODULES if layer(m) not in TORCH_LAYERS and m != "facemotion.__main__")  # that one runs
    code = textwrap.dedent(f"""
        import importlib, subprocess, sys
        if {block}:
            class Block:
                def find_spec(self, name, path=None, target=None):
                    if name.split(".")[0] in ("torch", "onnx", "onnxscript"):
                        raise ImportError(f"No module named {{name!r}}", name=name)
            sys.meta_path.insert(0, Block())
        for m in {core!r}:
            importlib.import_module(m)
        import facemotion
        (face,) = facemotion.detect_emotions(facemotion.SAMPLE_IMAGE)
        assert face["dominant_emotion"] == "happy", face
        bad = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx"))
        assert not bad, bad[:5]
        from facemotion.cli import main
        assert main(["models"]) == 0  # lists the architectures too when torch is there
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]
    if block:
        assert "install the [train] extra" in r.stdout  # `facemotion models` says how to get architectures


# the recognizer's parts and the functions that are its stages: only the recognizer (and the
# layers below it, where they are defined) may reach them; every app goes through its stage methods
PIPELINE_PARTS = {"detector", "classifier"}
PIPELINE_FUNCTIONS = {"crop_faces", "faces_to_batch", "normalize", "get_detector", "load_classifier", "load_scaled",
                      "make_result"}
THROUGH_THE_RECOGNIZER = {"pipelines", "jobs", "apps", "api"}
ALLOWED = {"facemotion.video.stream": {"make_result"}}
# options named detector/classifier are no recognizer's parts; FaceTracking.finish makes the stream's records
NOT_A_RECOGNIZER = {"self", "args", "spec"}


def test_apps_go_through_the_recognizer():
    """No module of the pipelines, the batch engines, the service, the CLI or the public API
    calls a detector, a classifier or a crop function itself (the recognizer's stage methods
    -- read, detect, crop, classify_crops, results -- are the one way from a frame to a result)."""
    offenders = []
    for m, path in MODULES.items():
        if layer(m) not in THROUGH_THE_RECOGNIZER or m.startswith("facemotion.cli.training"):
            continue  # the training commands drive the training wing, not the pipeline
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in PIPELINE_PARTS and not (
                    isinstance(node.value, ast.Name) and node.value.id in NOT_A_RECOGNIZER):
                offenders.append(f"{m}:{node.lineno} reaches into .{node.attr}")
            elif isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in PIPELINE_FUNCTIONS - ALLOWED.get(m, set()):
                    offenders.append(f"{m}:{node.lineno} calls {name}()")
    assert not offenders, "\n".join(offenders)


# argument tables: a line per option reads better than options spread over helpers
ARGUMENT_TABLES = {"get_args_parser", "add_commands"}


def test_no_function_is_longer_than_sixty_lines():
    """A function a reader can hold at once: 60 lines at most in src/ (argument tables exempt)."""
    long = []
    for m, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in ARGUMENT_TABLES:
                n = node.end_lineno - node.lineno + 1
                if n > 60:
                    long.append(f"{m}.{node.name}: {n} lines")
    assert not long, "\n".join(long)


def test_no_module_is_longer_than_about_350_lines():
    """Files that do one job: a module a reader can take in whole (about 350 lines; a module
    past 360 is split along its jobs, as detect/ and robustness/ were)."""
    long = [f"{m}: {n} lines" for m, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 360]
    assert not long, "\n".join(long)
