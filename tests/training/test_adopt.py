"""``facemotion adopt``: an ONNX model made elsewhere, with its own input and output conventions,
becomes a facemotion model that reads faces as the network inside it does.

The "models from elsewhere" here are shipped networks wrapped, with onnx's own tools, in the
conventions other projects use (colour, channels last, 0..1 with ImageNet's mean and deviation;
FER+'s ONNX model zoo file: 64 px gray in 0..255, its own label order, logits, one face a call;
an opset-8 graph whose weights are listed among its inputs), so what the adopted graph must
answer is known: the shipped network's answers."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="adopting writes ONNX graphs with onnx (the [train] extra)")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, compose, helper, numpy_helper  # noqa: E402

import facemotion  # noqa: E402
from facemotion import EmotionRecognizer  # noqa: E402
from facemotion.labels import EMOTIONS, FERPLUS_EMOTIONS  # noqa: E402
from facemotion.zoo import WEIGHTS_DIR  # noqa: E402

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
# the ONNX model zoo's emotion-ferplus-8 names its eight outputs in this order
ZOO = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
ZOO_ORDER = [FERPLUS_EMOTIONS.index({"happiness": "happy", "sadness": "sad", "anger": "angry"}.get(z, z)) for z in ZOO]


def wrapped(shipped: str, *, layout="nchw", channels=1, size=48, lo=0.0, hi=255.0, mean=None, std=None, order,
            scores="probabilities", batch="N", upscale=None):
    """``shipped``'s network in another project's conventions: its input taken as ``layout``,
    ``channels`` (colour: averaged to gray), ``size`` (resized to 48 inside: linear, or nearest
    by the whole factor ``upscale``), pixels in ``lo``..``hi`` after ``std`` and ``mean`` are undone;
    its outputs in ``order`` (the shipped model's index of each), as probabilities or log-probabilities."""
    m = onnx.load(str(WEIGHTS_DIR / f"{shipped}.onnx"))
    del m.metadata_props[:]
    ops, c, inits, nodes = list(m.opset_import), channels, [], []

    def const(name, v, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.asarray(v, dtype), name))
        return name

    def node(op, inputs, out, **attrs):
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    x = "pixels"
    if layout == "nhwc":
        x = node("Transpose", [x], "t", perm=[0, 3, 1, 2])
    if std is not None:
        x = node("Add", [node("Mul", [x, const("std", np.reshape(std, (1, c, 1, 1)))], "s"),
                         const("mean", np.reshape(mean, (1, c, 1, 1)))], "m")
    if c == 3:
        x = node("ReduceMean", [x, const("axes", [1], np.int64)], "gray", keepdims=1)
    x = node("Sub", [node("Mul", [node("Sub", [x, const("lo", lo)], "a"), const("k", 2 / (hi - lo))], "b"),
                     const("one", 1.0)], "x48" if size == 48 else "c")
    if size != 48:
        mode = {"mode": "nearest"} if upscale else {"mode": "linear", "antialias": 1}
        node("Resize", [x, "", const("scales", [1, 1, 48 / size, 48 / size])], "x48", **mode)
    shape = [batch, c, size, size] if layout == "nchw" else [batch, size, size, c]
    pre = helper.make_model(helper.make_graph(nodes, "pre", [helper.make_tensor_value_info("pixels", 1, shape)],
                                              [helper.make_tensor_value_info("x48", 1, [batch, 1, 48, 48])], inits),
                            opset_imports=ops, ir_version=m.ir_version)
    net = compose.merge_models(pre, m, io_map=[("x48", "input")], prefix2="net/")
    inits, nodes, y = [], [], "net/probs"
    if scores == "logits":
        y = node("Log", [y], "log")
    node("Gather", [y, const("order", order, np.int64)], "scores", axis=1)
    ends = [[helper.make_tensor_value_info(name, 1, [batch, len(order)])] for name in ("net/probs", "scores")]
    post = helper.make_model(helper.make_graph(nodes, "post", *ends, inits), opset_imports=ops, ir_version=m.ir_version)
    return compose.merge_models(net, post, io_map=[("net/probs", "net/probs")])


def _adopt(tmp_path, proto, *args) -> tuple[int, str, str]:
    from facemotion.cli import main

    src, out = tmp_path / "elsewhere.onnx", tmp_path / "adopted.onnx"
    onnx.save(proto, str(src))
    return main(["adopt", str(src), "--to", str(out), *args]), src, out


def _faces(model, picture) -> list:
    return EmotionRecognizer(model=str(model)).analyze(picture).faces


def test_a_colour_channels_last_graph_reads_the_faces_of_the_network_inside_it(tmp_path, capsys, media):
    order = list(reversed(range(7)))
    proto = wrapped("fer2013_mini_xception", layout="nhwc", channels=3, lo=0, hi=1, order=order, **IMAGENET)
    rc, src, out = _adopt(tmp_path, proto, "--outputs", ",".join(EMOTIONS[i] for i in order), "--range", "0,1",
                          "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225", "--name", "colour")
    said = capsys.readouterr()
    assert rc == 0, said.err
    assert "(48 x 48 colour, 0..1; 7 probabilities in its order)" in said.out
    assert "face (a smile) reads happy" in said.out
    rec = EmotionRecognizer(model=str(out))
    card = rec.model_card
    assert (card.name, card.arch, tuple(card.labels), card.temperature) == ("colour", "adopted", EMOTIONS, 1.0)
    assert card.adopted["source"] == "elsewhere.onnx" and card.adopted["scores"] == "probabilities"
    assert card.adopted["input"] == {"layout": "nhwc", "channels": 3, "size": 48, "range": [0.0, 1.0], **IMAGENET}
    import hashlib
    assert card.adopted["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    graph = onnx.load(str(out))  # onnx.compose repeated the source's opset entry: one a domain now
    assert len(graph.opset_import) == len({o.domain for o in graph.opset_import}) == 1 < len(proto.opset_import)
    assert all(n.name for n in graph.graph.node)  # `facemotion quantize` finds layers by name
    from facemotion.cli import main

    assert main(["models", str(out)]) == 0  # what the file is, where it came from
    said = capsys.readouterr().out
    assert "network: another project's graph, adopted" in said and "adopted from elsewhere.onnx (sha256 " in said
    assert ("it takes 48 x 48 colour (NHWC), pixels as 0..1, mean 0.485,0.456,0.406, std 0.229,0.224,0.225; its "
            "probabilities: neutral, surprise, sad, happy, fear, disgust, angry") in said
    # the gray face in all three channels, averaged back inside: the shipped network's own answers
    for picture in (facemotion.SAMPLE_IMAGE, media / "two_people.jpg", media / "obama_and_biden.jpg"):
        got, want = _faces(out, picture), _faces("fer2013_mini_xception", picture)
        assert [f.box for f in got] == [f.box for f in want] and got
        for f, g in zip(got, want):
            assert max(abs(f.emotions[k] - g.emotions[k]) for k in EMOTIONS) < 1e-5, (picture, f.emotions, g.emotions)


def test_the_fer_plus_zoo_convention_64_px_gray_logits_one_face_a_call(tmp_path, media):
    from facemotion.training.adopt import adopt

    proto = wrapped("newfaces4_resnet_s", size=64, order=ZOO_ORDER, scores="logits", batch=1)
    src = tmp_path / "emotion-ferplus.onnx"
    onnx.save(proto, str(src))
    r = adopt(src, tmp_path / "zoo.onnx", outputs=ZOO, value_range=(0, 255))
    assert r["scores"] == "logits" and r["labels"] == list(FERPLUS_EMOTIONS)
    assert r["sample"]["emotion"] == "happy"
    faces = got = 0
    worst = 0.0
    for picture in sorted(media.glob("*.jpg")):
        a, b = _faces(tmp_path / "zoo.onnx", picture), _faces("newfaces4_resnet_s", picture)
        assert [f.box for f in a] == [f.box for f in b]
        faces += len(a)
        got += sum(f.dominant_emotion == g.dominant_emotion for f, g in zip(a, b))
        worst = max([worst] + [abs(f.emotions[k] - g.emotions[k]) for f, g in zip(a, b) for k in f.emotions])
    # the face enlarged to 64 px by facemotion, shrunk back to 48 inside: two resamplings, no more
    # (measured: every top emotion kept, the largest change 0.064 on the shared photos)
    assert faces >= 10 and got == faces, (got, faces)
    assert worst < 0.1, worst


def test_an_opset_8_graph_with_its_weights_among_its_inputs(tmp_path):
    """emotion-ferplus-8's vintage (IR 3, opset 8); a linear "network" over the 64 px face whose
    answer is computed here from OpenCV's resize: the adopted graph's resize is the crop's."""
    from facemotion.preprocess import normalize
    from facemotion.training.adopt import adopt

    rng = np.random.default_rng(0)
    w = rng.normal(0, 1e-3, (64 * 64, 8)).astype(np.float32)
    weights = numpy_helper.from_array(w, "W")
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["Input3", "shape"], ["flat"]),
         helper.make_node("MatMul", ["flat", "W"], ["out"])],
        "linear", [helper.make_tensor_value_info("Input3", TensorProto.FLOAT, [1, 1, 64, 64]),
                   helper.make_tensor_value_info("W", TensorProto.FLOAT, [4096, 8]),
                   helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8])],
        [weights, numpy_helper.from_array(np.array([1, 4096], np.int64), "shape")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 8)], ir_version=3)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp_path / "old.onnx"))
    adopt(tmp_path / "old.onnx", tmp_path / "new.onnx", outputs=ZOO, value_range=(0, 255))
    faces = rng.integers(0, 256, (3, 48, 48), dtype=np.uint8)
    session = ort.InferenceSession(str(tmp_path / "new.onnx"), providers=["CPUExecutionProvider"])
    got = np.concatenate([session.run(None, {"input": normalize(f)[None, None]})[0] for f in faces])
    big = np.stack([cv2.resize(f.astype(np.float32), (64, 64), interpolation=cv2.INTER_LINEAR) for f in faces])
    logits = (big.reshape(3, -1) @ w)[:, np.argsort(ZOO_ORDER)]  # its outputs in facemotion's order
    want = np.exp(logits - logits.max(1, keepdims=True))
    assert np.abs(got - want / want.sum(1, keepdims=True)).max() < 1e-5


def test_the_gpu_paths_torch_runtime_runs_an_adopted_graph(tmp_path):
    torch = pytest.importorskip("torch", reason="the torch runtime needs torch")
    from facemotion.cuda.graph import OnnxModule
    from facemotion.training.adopt import adopt

    # a 24 px network: facemotion's crop shrunk by the adopted graph's matrices, enlarged inside by 2
    proto = wrapped("fer2013_mini_xception", size=24, order=list(range(7)), upscale=2)
    onnx.save(proto, str(tmp_path / "small.onnx"))
    adopt(tmp_path / "small.onnx", tmp_path / "a.onnx", outputs=list(EMOTIONS), value_range=(0, 255), temperature=1.5)
    x = np.random.default_rng(1).uniform(-1, 1, (5, 1, 48, 48)).astype(np.float32)
    want = ort.InferenceSession(str(tmp_path / "a.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    module = OnnxModule(tmp_path / "a.onnx").eval()
    with torch.no_grad():
        got = module(torch.from_numpy(x))[0].numpy()
    assert np.abs(got - want).max() < 1e-5
    with torch.inference_mode():  # nothing read back on the host: it keeps to a GPU
        assert module.to("meta")(torch.from_numpy(x).to("meta"))[0].device.type == "meta"
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(tmp_path / "a.onnx")).metadata_props}
    assert meta["temperature"] == 1.5 and meta["adopted"]["input"]["size"] == 24


REFUSED = [
    (["--outputs", "neutral,happy"], "elsewhere.onnx gives 7 scores a face, and 2 names were given", 2),
    (["--outputs", "angry,disgust,fear,happy,sad,surprise,joy"], "--outputs: happy named twice", 2),
    (["--outputs", "angry,disgust,fear,happy,sad,surprise,bored"], "--outputs: 'bored' names no emotion", 2),
    (["--outputs", "angry,disgust,fear,happy,sad,surprise,contempt"],
     "--outputs: 7 outputs make facemotion's 7 emotions (angry, disgust, fear, happy, sad, surprise, neutral); "
     "these lack neutral", 2),
    (["--scores", "logits", "--mean", "1,2"], "--mean: 2 values for a graph of 1 channel(s)", 2),
    (["--std", "0"], "--std: a deviation of 0 divides by zero", 2),
    (["--size", "64"], "--size 64: ", 2),
]


@pytest.mark.parametrize("args, said, code", REFUSED, ids=[r[1].split(":")[0] + str(i) for i, r in enumerate(REFUSED)])
def test_what_cannot_be_adopted_is_one_line_naming_the_option(tmp_path, capsys, args, said, code):
    proto = wrapped("fer2013_mini_xception", order=list(range(7)), scores="logits")
    base = ["--range", "0,255"] + ([] if "--outputs" in args else ["--outputs", ",".join(EMOTIONS)])
    rc, _, out = _adopt(tmp_path, proto, *base, *args)
    err = capsys.readouterr().err
    assert rc == code and said in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_files_that_are_not_models_from_elsewhere_are_refused(tmp_path, capsys):
    from facemotion.cli import main

    logits = wrapped("fer2013_mini_xception", order=list(range(7)), scores="logits")
    rc, src, out = _adopt(tmp_path, logits, "--range", "0,255", "--outputs", ",".join(EMOTIONS),
                          "--scores", "probabilities")
    assert rc == 2 and "elsewhere.onnx's scores are not probabilities" in capsys.readouterr().err
    shipped = WEIGHTS_DIR / "fer2013_vgg_s.onnx"
    (tmp_path / "photo.onnx").write_bytes(open(facemotion.SAMPLE_IMAGE, "rb").read())
    for source, said in ((shipped, "a facemotion model already"), (tmp_path / "photo.onnx", "not an ONNX model"),
                         (tmp_path / "missing.onnx", "no such model file")):
        assert main(["adopt", str(source), "--to", str(out), "--range", "0,255", "--outputs", ",".join(EMOTIONS)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: {source}: {said}") and len(err.strip().splitlines()) == 1, err
    assert main(["adopt", str(src), "--to", str(src), "--range", "0,255", "--outputs", ",".join(EMOTIONS)]) == 2
    assert "write to another file" in capsys.readouterr().err
    assert main(["adopt", str(src), "--to", str(out), "--range", "0,255", "--outputs", ",".join(EMOTIONS)]) == 0
    capsys.readouterr()
    assert main(["import", str(out), "-o", str(tmp_path / "ck")]) == 1  # no facemotion network to rebuild
    assert "adopted from elsewhere.onnx (`facemotion adopt`)" in capsys.readouterr().err
