"""Outputs follow the model's labels: a FER+ model (eight outputs, contempt last) gives eight
emotions everywhere, and ``fold_contempt`` / ``--fold-contempt`` folds contempt into disgust.

The FER+ model is the shipped ``newfaces4_resnet_s`` (float), given by its file's path as a
model of the user's own would be."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import facemotion
from facemotion import EmotionRecognizer
from facemotion.labels import EMOTIONS, FERPLUS_EMOTIONS


@pytest.fixture(scope="session")
def ferplus_onnx():
    path = facemotion.zoo.shipped_models()["newfaces4_resnet_s"].path
    assert EmotionRecognizer(detector="none", model=str(path)).labels == FERPLUS_EMOTIONS
    return path


@pytest.fixture(scope="module")
def rec8(ferplus_onnx):
    return EmotionRecognizer(model=str(ferplus_onnx))


def test_eight_emotions_with_contempt(rec8, ferplus_onnx):
    assert rec8.labels == FERPLUS_EMOTIONS
    faces = facemotion.detect_emotions(facemotion.SAMPLE_IMAGE, model=str(ferplus_onnx))
    assert faces
    for f in faces:
        assert tuple(f["emotions"]) == FERPLUS_EMOTIONS
        assert abs(sum(f["emotions"].values()) - 1) < 1e-5
        assert f["dominant_emotion"] == max(f["emotions"], key=f["emotions"].get)


def test_fold_contempt_adds_it_to_disgust(rec8, ferplus_onnx):
    folded = EmotionRecognizer(model=str(ferplus_onnx), fold_contempt=True)
    assert folded.labels == EMOTIONS
    full, seven = rec8.detect_emotions(facemotion.SAMPLE_IMAGE), folded.detect_emotions(facemotion.SAMPLE_IMAGE)
    assert [f["box"] for f in full] == [f["box"] for f in seven]
    for a, b in zip(full, seven):
        assert tuple(b["emotions"]) == EMOTIONS
        assert b["emotions"]["disgust"] == pytest.approx(a["emotions"]["disgust"] + a["emotions"]["contempt"], abs=1e-6)
        for e in EMOTIONS:
            if e != "disgust":
                assert b["emotions"][e] == a["emotions"][e]
        assert abs(sum(b["emotions"].values()) - 1) < 1e-5


def test_fold_changes_nothing_for_a_fer2013_model():
    plain = EmotionRecognizer(model="fer2013_mini_xception")
    folded = EmotionRecognizer(model="fer2013_mini_xception", fold_contempt=True)
    assert folded.stages.classifier is not plain.stages.classifier
    assert type(folded.stages.classifier) is type(plain.stages.classifier)
    assert folded.detect_emotions(facemotion.SAMPLE_IMAGE) == plain.detect_emotions(facemotion.SAMPLE_IMAGE)


def test_fold_contempt_function():
    from facemotion.classify import fold_contempt

    p = np.array([[0.1, 0.2, 0.0, 0.3, 0.1, 0.0, 0.1, 0.2]], np.float32)
    out, labels = fold_contempt(p, FERPLUS_EMOTIONS)
    assert labels == EMOTIONS and out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.1, 0.4, 0.0, 0.3, 0.1, 0.0, 0.1]], atol=1e-7)
    same, labels = fold_contempt(p[:, :7], EMOTIONS)
    assert same is not None and labels == EMOTIONS and np.array_equal(same, p[:, :7])


def test_image_command_json(ferplus_onnx, tmp_path):
    from facemotion.cli import main

    for fold, labels in ((False, FERPLUS_EMOTIONS), (True, EMOTIONS)):
        out = tmp_path / f"fold{fold}"
        assert main(["image", str(facemotion.SAMPLE_IMAGE), "--model", str(ferplus_onnx), "-o", str(out),
                     *(["--fold-contempt"] if fold else [])]) == 0
        record, = [json.loads(p.read_text()) for p in out.glob("*.json")]
        assert record["faces"] and all(tuple(f["emotions"]) == labels for f in record["faces"])


def test_video_csv_and_summary(rec8, tmp_path):
    from facemotion.images import load_image
    from facemotion.video.process import process_video

    frames = [load_image(facemotion.SAMPLE_IMAGE)] * 3
    summary = process_video(rec8, frames, tmp_path, write_video=False, progress=False, name="clip")
    with open(tmp_path / "clip_faces.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][8:17] == [*FERPLUS_EMOTIONS, "dominant_emotion"] and len(rows) > 1
    assert all(len(r) == len(rows[0]) for r in rows)
    face = next(iter(summary["faces"].values()))
    assert tuple(face["mean_probabilities"]) == FERPLUS_EMOTIONS and tuple(face["time_share"]) == FERPLUS_EMOTIONS


def test_batch_rows(rec8, ferplus_onnx, tmp_path):
    from facemotion.batch import JobSpec, read_rows, run_batch
    from facemotion.batch.rows import columns, error_row, face_row, typed
    from facemotion.errors import FacemotionError
    from facemotion.recognizer import RecognizerOptions

    cols = columns(rec8.labels)
    assert cols[9:18] == (*FERPLUS_EMOTIONS, "dominant_emotion")
    face, = rec8.detect_emotions(facemotion.SAMPLE_IMAGE)[:1]
    row = face_row("x.jpg", face, rec8.model_name, face_id=0)
    assert len(row) == len(cols) and len(error_row("y.jpg", "bad", "m", rec8.labels)) == len(cols)
    named = dict(zip(cols, typed([str(v) if v is not None else "" for v in row], rec8.labels)))
    assert named["contempt"] == round(face["emotions"]["contempt"], 6)
    # the table's columns follow the model's labels, in every format, and read back typed
    spec = JobSpec(RecognizerOptions(model=str(ferplus_onnx)))
    for suffix in (".csv", ".jsonl", ".parquet"):
        out = tmp_path / f"r{suffix}"
        run_batch([facemotion.SAMPLE_IMAGE], out, spec=spec, progress=False)
        got = [dict(zip(cols, r)) for r in read_rows(out)]
        assert got and got[0]["contempt"] is not None and got[0]["error"] is None
        assert sum(got[0][e] for e in FERPLUS_EMOTIONS) == pytest.approx(1, abs=1e-5)
        # a rerun resumes (nothing left to do), the columns recognised from the file itself
        again = run_batch([facemotion.SAMPLE_IMAGE], out, spec=spec, progress=False)
        assert again["skipped"] == 1 and read_rows(out) == [tuple(g.values()) for g in got]
    header = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert header[9:17] == list(FERPLUS_EMOTIONS)
    # folded, the seven FER2013 columns; the option is part of the job's signature
    folded = JobSpec(RecognizerOptions(model=str(ferplus_onnx), fold_contempt=True))
    assert folded.signature()["fold_contempt"] is True and "fold_contempt" not in JobSpec().signature()
    assert folded.labels() == EMOTIONS and spec.labels() == FERPLUS_EMOTIONS
    run_batch([facemotion.SAMPLE_IMAGE], tmp_path / "f.csv", spec=folded, progress=False)
    rows = read_rows(tmp_path / "f.csv")
    assert rows and all(r[-1] is None for r in rows) and len(rows[0]) == len(columns(EMOTIONS))
    with pytest.raises(FacemotionError, match="other options"):
        run_batch([facemotion.SAMPLE_IMAGE], tmp_path / "f.csv", spec=spec, progress=False)


def test_explain_targets_follow_the_labels(rec8, ferplus_onnx, tmp_path):
    from facemotion.cli import main

    faces = rec8.explain(facemotion.SAMPLE_IMAGE, target="contempt", method="occlusion", stride=8)
    assert faces and all(f["target"] == "contempt" and tuple(f["emotions"]) == FERPLUS_EMOTIONS for f in faces)
    folded = EmotionRecognizer(model=str(ferplus_onnx), fold_contempt=True)
    with pytest.raises(ValueError, match="unknown emotion 'contempt'"):
        folded.explain(facemotion.SAMPLE_IMAGE, target="contempt", method="occlusion", stride=8)
    # the command refuses it once, before any photo
    assert main(["explain", str(facemotion.SAMPLE_IMAGE), "--target", "contempt", "--fold-contempt",
                 "--model", str(ferplus_onnx), "-o", str(tmp_path / "out")]) != 0
    assert not (tmp_path / "out").exists()


def test_service_lists_the_models_emotions(ferplus_onnx):
    pytest.importorskip("fastapi", reason="the service needs the [serve] extra")
    from .conftest import ServerProcess, request

    s = ServerProcess("--model", str(ferplus_onnx))
    try:
        status, _, body = request(s.url + "/health")
        health = json.loads(body)
        assert status == 200 and health["emotions"] == list(FERPLUS_EMOTIONS)
        assert set(health["colors"]) == set(FERPLUS_EMOTIONS)
    finally:
        s.stop()


def test_page_config_follows_the_model_card(ferplus_onnx):
    from facemotion.web.export import page_config

    card = EmotionRecognizer(detector="none", model=str(ferplus_onnx)).model_card.to_dict()
    config = page_config([("ferplus", "models/ferplus.onnx", card)], static=True)
    assert config["emotions"] == list(FERPLUS_EMOTIONS) and set(config["colors"]) == set(FERPLUS_EMOTIONS)


def _graph(path, *, batch="n", softmax=True, half=False, second_input=False):
    """A small ONNX classifier with the shipped mini_xception's card: faces N x 1 x 48 x 48 -> each
    face's mean grey -> seven scores -> (softmax). ``batch``: its faces' dimension (1: fixed)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    card = onnx.load(str(facemotion.zoo.shipped_models()["fer2013_mini_xception"].path), load_external_data=False)
    kind = TensorProto.FLOAT16 if half else TensorProto.FLOAT
    nodes = [helper.make_node("Cast", ["faces"], ["x"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),
             helper.make_node("MatMul", ["m", "w"], ["s"])]
    nodes.append(helper.make_node("Softmax", ["s"], ["probs"], axis=1) if softmax else
                 helper.make_node("Identity", ["s"], ["probs"]))
    inputs = [helper.make_tensor_value_info("faces", kind, [batch, 1, 48, 48])]
    if second_input:
        inputs.append(helper.make_tensor_value_info("scale", TensorProto.FLOAT, [1]))
    w = numpy_helper.from_array(np.linspace(-2, 2, 7, dtype=np.float32)[None], "w")
    g = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, 7])],
                          [w])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for p in card.metadata_props:
        model.metadata_props.add(key=p.key, value=p.value)
    onnx.save(model, str(path))
    return path


def test_graphs_of_other_shapes_run_or_are_refused_at_load(tmp_path):
    """A graph made for one face at a time, or for float16 faces, answers as the same graph for
    any number of float32 faces; one with logits for outputs, or a second input, is refused when
    it is loaded, in one line (it gave wrong numbers, or a traceback at the second face)."""
    from facemotion.errors import ModelError

    faces = np.random.default_rng(0).integers(0, 255, (5, 48, 48), dtype=np.uint8)
    want = EmotionRecognizer(model=_graph(tmp_path / "any.onnx")).classify_faces(faces)
    for kw in ({"batch": 1}, {"batch": 3}, {"half": True}):
        got = EmotionRecognizer(model=_graph(tmp_path / "other.onnx", **kw)).classify_faces(faces)
        assert np.allclose(got, want, atol=2e-3), kw
    with pytest.raises(ModelError, match="outputs are not probabilities .* export it with its softmax"):
        EmotionRecognizer(model=_graph(tmp_path / "logits.onnx", softmax=False))
    with pytest.raises(ModelError, match=r"takes 2 inputs \(faces, scale\)"):
        EmotionRecognizer(model=_graph(tmp_path / "two.onnx", second_input=True))
    # the paths that feed the graph batches of float32 faces themselves refuse it, in one line
    fixed = _graph(tmp_path / "fixed.onnx", batch=1)
    from facemotion.training.quantize import quantize_model

    with pytest.raises(ModelError, match="takes 1 face at a time; quantize reads graphs"):
        quantize_model(fixed, tmp_path / "q.onnx", data=tmp_path)
    pytest.importorskip("torch")
    from facemotion.cuda import torch_runtime

    rec = EmotionRecognizer(model=fixed, precision="float32")
    with pytest.raises(ModelError, match="fixed.onnx: "):  # (this small graph's MatMul is said first)
        rec.stages.use_runtime(torch_runtime("cpu", autocast=False))
