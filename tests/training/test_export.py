from pathlib import Path

import numpy as np
import pytest

from facemotion.classify import OnnxClassifier
from facemotion.preprocess import crop_faces, faces_to_batch, normalize

from conftest import faces_like


def test_normalize_range():
    x = normalize(np.array([[0, 255, 127]], np.uint8))
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, [[-1.0, 1.0, 127 / 127.5 - 1]], atol=1e-6)


def test_tight_crop_no_padding():
    img = np.zeros((100, 100), np.uint8)
    img[20:60, 30:70] = 200  # the "face" fills its box exactly
    face = crop_faces(img, [(30, 20, 40, 40)])[0]
    assert face.shape == (48, 48) and face.min() == 200  # nothing from outside the box


@pytest.fixture(scope="module")
def tiny_onnx(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint exported once (T = 1.5, eight face-like crops in the parity check):
    each export costs seconds, and these tests read the same file."""
    pytest.importorskip("torch")
    from facemotion.training.export import export_onnx

    path = tmp_path_factory.mktemp("tiny_onnx") / "m.onnx"
    return path, export_onnx(tiny_checkpoint, path, temperature=1.5, check_images=faces_like(8))


@pytest.fixture(scope="module")
def tiny_half(tiny_checkpoint, tmp_path_factory):
    """``tiny_onnx``'s export again with float16 weights: its path and result."""
    pytest.importorskip("torch")
    from facemotion.training.export import export_onnx

    path = tmp_path_factory.mktemp("tiny_half") / "m16.onnx"
    return path, export_onnx(tiny_checkpoint, path, temperature=1.5, check_images=faces_like(8), weights="float16")


@pytest.fixture(scope="module")
def pair(tiny_checkpoint, tmp_path_factory):
    """Two differently built members exported as one ensemble (flip views, T = 0.8):
    ``(members, path, result)``. (An ensemble with float16 weights: the FER+ test below.)"""
    pytest.importorskip("torch")
    from facemotion.training.export import export_onnx

    folder = tmp_path_factory.mktemp("pair")
    members = [tiny_checkpoint, _second_checkpoint(folder)]
    return members, folder / "ens.onnx", export_onnx(members, folder / "ens.onnx", temperature=0.8, tta=True,
                                                      check_images=faces_like(8))


def test_training_and_inference_preprocess_identically(kaggle_zip, tiny_checkpoint, tiny_onnx):
    """The same FER2013 face gives the same network input, and the same probabilities,
    through the training/evaluation path and through the inference path."""
    torch = pytest.importorskip("torch")
    import zipfile

    from facemotion import EmotionRecognizer
    from facemotion.datasets import load_splits
    from facemotion.training.checkpoint import model_from_checkpoint
    from facemotion.training.engine import predict_logits

    split = load_splits(kaggle_zip, ("val",))["val"]
    # training path: uint8 arrays from the data loader -> normalize as a tensor
    x_train = normalize(torch.from_numpy(split.images).unsqueeze(1)).numpy()
    # inference path: the very same JPEG files through the recognizer's image loader, whole image = face
    rec_faces = []
    with zipfile.ZipFile(kaggle_zip) as zf:
        for name in split.sources:
            from facemotion.images import load_image

            rec_faces.append(load_image(zf.read(name)))
    x_infer = faces_to_batch(rec_faces)
    np.testing.assert_array_equal(x_train, x_infer)

    onnx_path, _ = tiny_onnx
    model, _ = model_from_checkpoint(tiny_checkpoint)
    # the file's temperature (1.5) divides the logits, as the recognizer applies it
    p_train = torch.softmax(predict_logits(model, torch.from_numpy(split.images).unsqueeze(1)) / 1.5, 1).numpy()
    rec = EmotionRecognizer(detector="none", model=onnx_path)
    with zipfile.ZipFile(kaggle_zip) as zf:
        p_infer = np.array([[r["emotions"][e] for e in r["emotions"]]
                            for name in split.sources for r in rec.detect_emotions(zf.read(name))])
    np.testing.assert_allclose(p_train, p_infer, atol=1e-4)


def test_export_writes_metadata_and_checks_parity(tiny_onnx):
    path, r = tiny_onnx
    assert r["max_abs_diff"] <= 1e-4 and r["checked_inputs"] == 72
    clf = OnnxClassifier(path)
    assert clf.card.to_dict()["labels"][0] == "angry" and clf.card.to_dict()["input_size"] == 48
    assert clf.card.to_dict()["temperature"] == 1.5 and clf.card.to_dict()["arch"] == "mini_xception"
    assert clf.card.to_dict()["normalization"]["scale"] == pytest.approx(2 / 255)
    p = clf.classify_faces(faces_like(5))
    assert p.shape == (5, 7) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_export_refuses_when_onnx_disagrees(tiny_checkpoint, tmp_path):
    pytest.importorskip("torch")
    from facemotion.errors import ModelError
    from facemotion.training.export import export_onnx

    with pytest.raises(ModelError, match="disagree"):
        export_onnx(tiny_checkpoint, tmp_path / "m.onnx", tolerance=-1.0)
    assert not (tmp_path / "m.onnx").exists()


def _second_checkpoint(tmp_path, **meta):
    """A differently built member (vgg_fer_s, random BatchNorm statistics so it is not trivial)."""
    import torch

    from facemotion.training.checkpoint import atomic_torch_save, describe
    from facemotion.training.models import create_model

    torch.manual_seed(1)
    model = create_model("vgg_fer_s").eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "second.pt"
    atomic_torch_save({**describe(model, epoch=2), **meta, "model_state": model.state_dict()}, path)
    return path


def test_ensemble_export_matches_evaluate(pair):
    """Several checkpoints export as one ONNX model whose output is what `evaluate` scores for
    that ensemble: the members' flip-averaged softmax outputs averaged, then one temperature."""
    from facemotion.metrics import softmax
    from facemotion.training.evaluate import ensemble_probs, model_logits

    (tiny_checkpoint, second), path, r = pair
    assert r["max_abs_diff"] <= 1e-4
    clf = OnnxClassifier(path)
    assert clf.card.to_dict()["arch"] == "ensemble" and clf.card.to_dict()["tta"] == "flip" and clf.card.to_dict()["temperature"] == 0.8
    assert [m["arch"] for m in clf.card.to_dict()["members"]] == ["mini_xception", "vgg_fer_s"]
    assert clf.card.to_dict()["parameters"] == sum(m["parameters"] for m in clf.card.to_dict()["members"])
    faces = faces_like(6)
    expected = softmax(np.log(ensemble_probs([model_logits(c, faces, tta="flip") for c in (tiny_checkpoint, second)])),
                       0.8)
    np.testing.assert_allclose(clf.classify_faces(faces), expected, atol=1e-5)


def test_float16_weights_halve_the_file_and_keep_the_outputs(tiny_checkpoint, tiny_onnx, tiny_half, tmp_path):
    """--weights float16 stores the big tensors in half precision behind Casts that ONNX Runtime
    folds at load: about half the weights' bytes, float32 compute, probabilities within the checked
    tolerance of the float32 file (which itself matched torch)."""
    import onnx

    from facemotion.errors import ModelError
    from facemotion.training.export import export_onnx

    (f32, full), (f16, half) = tiny_onnx, tiny_half
    weights = {p: sum(len(i.raw_data) for i in onnx.load(str(p)).graph.initializer) for p in (f32, f16)}
    assert weights[f16] < 0.6 * weights[f32] and half["bytes"] < full["bytes"] and half["fp16_tensors"] > 0
    assert half["max_abs_diff"] <= 1e-4 and 0 < half["fp16_max_abs_diff"] <= 1e-2
    proto = onnx.load(str(f16))
    assert sum(i.data_type == onnx.TensorProto.FLOAT16 for i in proto.graph.initializer) == half["fp16_tensors"]
    clf16, clf32 = OnnxClassifier(f16), OnnxClassifier(f32)
    assert clf16.card.to_dict()["weights_dtype"] == "float16" and clf32.card.to_dict()["weights_dtype"] == "float32"
    p16, p32 = clf16.classify_faces(faces_like(32)), clf32.classify_faces(faces_like(32))
    assert np.abs(p16 - p32).max() <= 1e-2 and not np.array_equal(p16, p32)
    with pytest.raises(ModelError, match="float16 weights change the probabilities"):
        export_onnx(tiny_checkpoint, tmp_path / "strict.onnx", weights="float16", fp16_tolerance=0.0)
    assert not (tmp_path / "strict.onnx").exists()


def test_ensemble_members_must_agree(tiny_checkpoint, tmp_path):
    pytest.importorskip("torch")
    from facemotion.errors import ModelError
    from facemotion.training.export import export_onnx

    odd = _second_checkpoint(tmp_path, normalization={"scale": 1 / 255, "offset": 0.0})
    # each member's card is checked first: a member facemotion would feed wrongly never gets in
    with pytest.raises(ModelError, match="second.pt: model normalization scale=.* differs"):
        export_onnx([tiny_checkpoint, odd], tmp_path / "ens.onnx")
    assert not (tmp_path / "ens.onnx").exists()


def test_broken_checkpoint_and_onnx_are_clear_errors(tmp_path):
    from facemotion.errors import ModelError

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelError, match="bad.onnx: not a loadable ONNX model"):
        OnnxClassifier(bad)
    pytest.importorskip("torch")
    from facemotion.training.checkpoint import load_checkpoint

    badpt = tmp_path / "bad.pt"
    badpt.write_bytes(b"garbage")
    with pytest.raises(ModelError, match="bad.pt: not a PyTorch checkpoint"):
        load_checkpoint(badpt)


def test_import_rebuilds_the_members_of_an_exported_ensemble(pair, tiny_checkpoint, tmp_path):
    """`facemotion import`: an ONNX file (the user may have nothing else) back to checkpoints that
    predict what the originals did, BatchNorm folded (a file with float16 weights: the FER+ test
    below)."""
    torch = pytest.importorskip("torch")
    from facemotion.cli import main as cli
    from facemotion.errors import ModelError
    from facemotion.training.checkpoint import load_checkpoint, model_from_checkpoint
    from facemotion.training.export import export_onnx
    from facemotion.training.importing import checkpoints_from_onnx

    members, ens, _ = pair  # exported with flip views, T = 0.8
    ckpts, info = checkpoints_from_onnx(ens)
    assert info["max_abs_diff"] <= 1e-4  # rebuilt members + the export's wrapper == the graph
    assert [c["arch"] for c in ckpts] == ["mini_xception", "vgg_fer_s"]
    x = torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (16, 1, 48, 48)).astype(np.float32))
    for original, rebuilt in zip(members, ckpts):
        assert rebuilt["recovered_from"]["source"] == original.name
        a, _ = model_from_checkpoint(original)
        b, _ = model_from_checkpoint(rebuilt)
        with torch.no_grad():
            assert (torch.softmax(a(x), 1) - torch.softmax(b(x), 1)).abs().max() < 1e-4  # BatchNorm folded: rounding only
    assert cli(["import", str(ens), "-o", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.pt")) == sorted(p.name for p in members)
    assert load_checkpoint(tmp_path / "out" / tiny_checkpoint.name)["arch"] == "mini_xception"
    assert cli(["import", str(ens), "-o", str(tmp_path / "out")]) == 0  # an import replaces its own
    # beside the checkpoint it was exported from, an import never replaces that trained file (nor any other)
    import shutil

    trained = tmp_path / "mx" / "mx.pt"
    trained.parent.mkdir()
    shutil.copy(tiny_checkpoint, trained)
    export_onnx([trained], tmp_path / "mx" / "mx.onnx")
    kept = trained.read_bytes()
    assert cli(["import", str(tmp_path / "mx" / "mx.onnx"), "-o", str(tmp_path / "mx")]) == 2
    assert trained.read_bytes() == kept
    (tmp_path / "mx" / "mx.pt").write_text("notes")
    assert cli(["import", str(tmp_path / "mx" / "mx.onnx"), "-o", str(tmp_path / "mx")]) == 2
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="bad.onnx: not a loadable ONNX file"):
        checkpoints_from_onnx(tmp_path / "bad.onnx")


def test_import_rebuilds_an_ensemble_that_repeats_a_member(tiny_checkpoint, tmp_path):
    """The exporter keeps one copy of equal weights and computes equal layers once: the same
    checkpoint named twice leaves the second member's layers under the first one's names. Import
    reads them there, and both members come back equal to the checkpoint."""
    torch = pytest.importorskip("torch")
    from facemotion.training.checkpoint import model_from_checkpoint
    from facemotion.training.export import export_onnx
    from facemotion.training.importing import checkpoints_from_onnx

    export_onnx([tiny_checkpoint, tiny_checkpoint], tmp_path / "twice.onnx", tta=True)
    ckpts, info = checkpoints_from_onnx(tmp_path / "twice.onnx")
    assert len(ckpts) == 2 and info["max_abs_diff"] <= 1e-4
    original, _ = model_from_checkpoint(tiny_checkpoint)
    x = torch.from_numpy(np.random.default_rng(2).uniform(-1, 1, (8, 1, 48, 48)).astype(np.float32))
    for ck in ckpts:
        rebuilt, _ = model_from_checkpoint(ck)
        with torch.no_grad():
            assert (torch.softmax(original(x), 1) - torch.softmax(rebuilt(x), 1)).abs().max() < 1e-4


def test_a_seven_class_member_joins_a_fer_plus_ensemble_and_import_gives_each_its_labels(tiny_checkpoint, tmp_path):
    """FER2013's seven and FER+'s eight export as one eight-label file: the seven-class member
    gives contempt 0, as `evaluate` averages such members. Import gives each member its own
    labels back (the FER+ one contempt: the file's label set, not FER2013's seven), its views
    and T = 1 (the average's temperature is not theirs), and they export to the same file
    again, float16 weights and all. A checkpoint whose card lists fewer labels than its network
    has outputs is refused on load; an int8 file (the shipped ensemble) is refused in one line:
    import reads float weights. A single model keeps its temperature, to export as shipped."""
    torch = pytest.importorskip("torch")
    from pathlib import Path

    from facemotion.classify import load_classifier
    from facemotion.errors import ModelError
    from facemotion.labels import EMOTIONS, FERPLUS_EMOTIONS
    from facemotion.training.checkpoint import load_checkpoint
    from facemotion.training.evaluate import ensemble_probs, model_logits
    from facemotion.training.export import export_onnx
    from facemotion.training.importing import import_checkpoints

    eight = Path(__file__).resolve().parents[2] / "models" / "ferplus_mini.pt"
    export_onnx([tiny_checkpoint, eight], tmp_path / "mix.onnx", tta=True, weights="float16")
    clf = OnnxClassifier(tmp_path / "mix.onnx")
    assert clf.card.labels == FERPLUS_EMOTIONS
    faces = faces_like(6)
    expected = ensemble_probs([model_logits(c, faces, tta="flip") for c in (tiny_checkpoint, eight)])
    mixed = clf.classify_faces(faces)
    np.testing.assert_allclose(mixed, expected, atol=1e-2)  # float16 weights
    written, _ = import_checkpoints(str(tmp_path / "mix.onnx"), tmp_path / "members")
    paths = [p for p, _ in written]
    assert [tuple(load_checkpoint(p)["labels"]) for p in paths] == [EMOTIONS, FERPLUS_EMOTIONS]
    assert all(load_checkpoint(p)["tta"] == "flip" and load_checkpoint(p)["temperature"] == 1.0 for p in paths)
    export_onnx(paths, tmp_path / "again.onnx")
    again = load_classifier(str(tmp_path / "again.onnx"))
    assert again.card.labels == FERPLUS_EMOTIONS
    np.testing.assert_allclose(again.classify_faces(faces), mixed, atol=1e-5)
    bad = torch.load(paths[1], weights_only=True)
    bad["labels"] = list(FERPLUS_EMOTIONS[:7])
    torch.save(bad, tmp_path / "seven.pt")
    with pytest.raises(ModelError, match="seven.pt: the network has 8 outputs .* 7 labels"):
        load_checkpoint(tmp_path / "seven.pt")
    with pytest.raises(ModelError, match="an int8 model; import rebuilds checkpoints from float weights"):
        import_checkpoints("quad_ensemble_int8", tmp_path / "int8")
    (one, _), = import_checkpoints("fer2013_vgg_s", tmp_path / "one")[0]
    shipped = load_classifier("fer2013_vgg_s").card
    assert load_checkpoint(one)["temperature"] == shipped.temperature and load_checkpoint(one)["tta"] == shipped.tta


def test_rebuilt_batchnorm_gets_statistics_so_it_trains_like_the_original(kaggle_zip, tmp_path):
    """A folded BatchNorm is exact in eval mode but not in train mode (batch statistics): the
    statistics restored from real faces keep eval outputs and bring train mode back in line."""
    torch = pytest.importorskip("torch")
    import copy

    from facemotion.datasets import load_training_data
    from facemotion.training.checkpoint import model_from_checkpoint
    from facemotion.training.export import export_onnx
    from facemotion.training.importing import checkpoints_from_onnx
    from facemotion.training.train import get_args_parser, main
    from facemotion.training.warmstart import restore_batchnorm_statistics

    original = _second_checkpoint(tmp_path)
    export_onnx(original, tmp_path / "m.onnx")
    (ck,), _ = checkpoints_from_onnx(tmp_path / "m.onnx")
    tr, _ = load_training_data(kaggle_zip)
    x = normalize(torch.from_numpy(tr.images).unsqueeze(1))

    def train_mode(m):  # batch statistics, dropout off
        c = copy.deepcopy(m).train()
        for mod in c.modules():
            if isinstance(mod, torch.nn.Dropout):
                mod.eval()
        with torch.no_grad():
            return torch.softmax(c(x), 1)

    a, _ = model_from_checkpoint(original)
    b, _ = model_from_checkpoint(ck)
    with torch.no_grad():
        before = torch.softmax(b(x), 1)
        folded_gap = (train_mode(b) - before).abs().max()
        assert restore_batchnorm_statistics(b, x) == 8
        after = torch.softmax(b(x), 1)
    assert (after - before).abs().max() < 1e-5  # the eval-mode function is unchanged
    assert (train_mode(b) - after).abs().max() < 1e-4 < folded_gap  # same batch: train mode = eval mode
    assert restore_batchnorm_statistics(a, x) == 0  # a normal network is left alone
    # --init from the rebuilt file does it on its own
    torch.save(ck, tmp_path / "rebuilt.pt")
    argv = ["--data", str(kaggle_zip), "--out", str(tmp_path / "run"), "--arch", "vgg_fer_s", "--epochs", "1",
            "--batch-size", "4", "--no-progress", "--threads", "1", "--init", str(tmp_path / "rebuilt.pt")]
    assert main(get_args_parser().parse_args(argv))["epochs_run"] == 1


def test_an_output_that_is_no_new_model_file_is_refused_before_the_work(tiny_checkpoint, tiny_onnx, kaggle_zip,
                                                                      tmp_path, capsys):
    """--to naming the input (it would be replaced), a folder, a device or a pipe (the atomic
    write would replace it), no name or another suffix: one line, exit 2, the input untouched."""
    import os
    import shutil

    from facemotion.cli import main

    ckpt = tmp_path / "m.pt"
    shutil.copy(tiny_checkpoint, ckpt)
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe.onnx")
    for to, said in [(tmp_path / "folder", "is a folder"), (tmp_path / "pipe.onnx", "not a regular file"),
                     ("", "give a file name"), (".", "give a file name"), (tmp_path / "m.txt", "must end in .onnx")]:
        assert main(["export", str(ckpt), "--to", str(to)]) == 2
        assert said in capsys.readouterr().err
    assert (tmp_path / "pipe.onnx").is_fifo() and ckpt.read_bytes() == Path(tiny_checkpoint).read_bytes()
    shutil.copy(tiny_onnx[0], tmp_path / "m.onnx")  # its export (the fixture's: an export costs seconds)
    assert main(["quantize", str(tmp_path / "m.onnx"), "--to", str(tmp_path / "m.onnx"), "--data", str(kaggle_zip)]) == 2
    assert f"--to {tmp_path / 'm.onnx'}: is the input" in capsys.readouterr().err
    assert main(["interpolate", str(ckpt), str(ckpt), "--alpha", "0.5", "--to", str(ckpt)]) == 2
    from facemotion.training.checkpoint import load_checkpoint

    assert load_checkpoint(ckpt)["model_state"]  # still the checkpoint


def test_export_keeps_the_checkpoints_views_name_and_metrics(tmp_path, capsys):
    """By default an export bakes the views the checkpoint's accuracy was measured with and keeps
    its name; other views drop the metrics, which would no longer hold."""
    from facemotion.classify import load_classifier
    from facemotion.cli import main
    from facemotion.training.checkpoint import load_checkpoint

    ck = Path(__file__).resolve().parents[2] / "models" / "mini_xception.pt"
    if not ck.is_file():
        pytest.skip(f"{ck} is not in this checkout")
    own = load_checkpoint(ck)
    assert main(["export", str(ck), "--to", str(tmp_path / "own.onnx")]) == 0
    assert "test-time views: flip" in capsys.readouterr().out
    card = load_classifier(tmp_path / "own.onnx").card  # named by its file ("mini_xception": a shipped model's too)
    assert card.tta == own["tta"] == "flip" and card.metrics == own["metrics"] and card.name == (own["name"] or "own")
    assert main(["export", str(ck), "--tta", "none", "--name", "plain", "--to", str(tmp_path / "plain.onnx")]) == 0
    card = load_classifier(tmp_path / "plain.onnx").card
    assert card.tta == "none" and card.metrics == {} and card.name == "plain"


def test_export_and_quantize_replace_an_onnx_model_but_no_other_file(tiny_checkpoint, tiny_onnx, tmp_path, capsys):
    import shutil

    from facemotion.classify import load_classifier
    from facemotion.cli import main

    notes = tmp_path / "notes.onnx"
    notes.write_text("my notes\n")
    for argv in (["export", str(tiny_checkpoint), "--to", str(notes)],
                 ["quantize", "fer2013_mini_xception", "--to", str(notes), "--data", str(tmp_path)]):
        assert main(argv) == 2
        assert "holds another file (no ONNX model)" in capsys.readouterr().err and notes.read_text() == "my notes\n"
    shutil.copy(tiny_onnx[0], tmp_path / "m.onnx")  # an earlier export, at T = 1.5
    assert main(["export", str(tiny_checkpoint), "--to", str(tmp_path / "m.onnx")]) == 0  # a re-export replaces it
    assert load_classifier(tmp_path / "m.onnx").card.temperature == 1.0
