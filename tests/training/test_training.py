import csv
import re
import shutil

import pytest

torch = pytest.importorskip("torch")

from facemotion.datasets import load_training_data  # noqa: E402
from facemotion.training.augment import BatchAugment  # noqa: E402
from facemotion.training.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from facemotion.training.models import count_parameters, create_model, list_models  # noqa: E402
from facemotion.training.train import main  # noqa: E402

from conftest import faces_like, load_script, train_args  # noqa: E402


def test_registry():
    assert {"mini_xception", "gelu_cnn"} <= set(list_models())
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        create_model("nope")


def test_mini_xception_matches_the_design():
    m = create_model("mini_xception")
    assert abs(count_parameters(m) - 60_000) <= 6_000  # "about 60k parameters"
    assert not any(isinstance(x, torch.nn.Linear) for x in m.modules())  # fully convolutional
    blocks = [x for x in m.modules() if type(x).__name__ == "XceptionBlock"]
    assert len(blocks) == 4
    depthwise = [x for x in m.modules() if isinstance(x, torch.nn.Conv2d) and x.groups > 1]
    assert len(depthwise) == 8  # two separable convs per block
    assert m(torch.zeros(3, 1, 48, 48)).shape == (3, 7)


def test_gelu_cnn_matches_the_design():
    m = create_model("gelu_cnn", batchnorm=False)
    convs = [x for x in m.modules() if isinstance(x, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [128, 256, 512, 512]
    assert sum(isinstance(x, torch.nn.GELU) for x in m.modules()) == 6
    assert sum(isinstance(x, torch.nn.MaxPool2d) for x in m.modules()) == 4
    assert [x.p for x in m.modules() if isinstance(x, torch.nn.Dropout)][:4] == [0.4] * 4
    linears = [x for x in m.modules() if isinstance(x, torch.nn.Linear)]
    assert [x.out_features for x in linears] == [256, 512, 7]
    assert not any(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())
    assert any(isinstance(x, torch.nn.BatchNorm2d) for x in create_model("gelu_cnn", batchnorm=True).modules())
    assert m(torch.zeros(2, 1, 48, 48)).shape == (2, 7)


def test_augmentation_is_batched_and_keeps_range():
    x = torch.from_numpy(faces_like(16)).unsqueeze(1).float() / 127.5 - 1
    g = torch.Generator().manual_seed(0)
    y = BatchAugment(erase=0.5)(x, g)
    assert y.shape == x.shape and y.min() >= -1.0001 and y.max() <= 1.0001
    assert not torch.allclose(x, y)
    flip_only = BatchAugment(shift=0, zoom=0, rotate=0, flip=True)(x, torch.Generator().manual_seed(1))
    for a, b in zip(x, flip_only):  # each image is itself or its exact mirror
        assert torch.allclose(a, b, atol=1e-5) or torch.allclose(torch.flip(a, [2]), b, atol=1e-5)


def _args(data, out, **kw):
    return train_args(data, out, **kw)


def test_training_writes_checkpoints_log_curves_and_resumes(kaggle_zip, tmp_path):
    out = tmp_path / "run"
    summary = main(_args(kaggle_zip, out, ema=0.9))
    assert summary["epochs_run"] == 2
    named = sorted(p.name for p in out.glob("mini_xception.*-*.pt"))
    assert named and all(n.startswith("mini_xception.0") for n in named)  # <model>.<epoch>-<val_acc>.pt
    for f in ("best.pt", "last.pt", "log.csv", "accuracy.png", "loss.png", "summary.json"):
        assert (out / f).exists(), f
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    ck = load_checkpoint(out / "last.pt")
    assert ck["arch"] == "mini_xception" and ck["labels"][3] == "happy" and ck["input_size"] == 48
    assert ck["normalization"]["offset"] == -1.0 and "optimizer_state" in ck and ck["epoch"] == 2
    model, _ = model_from_checkpoint(out / "best.pt")
    assert model(torch.zeros(1, 1, 48, 48)).shape == (1, 7)
    # resume: continue to epoch 3 from last.pt, keeping the log
    main(_args(kaggle_zip, out, ema=0.9, epochs=3, resume=True))
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert load_checkpoint(out / "last.pt")["epoch"] == 3


def test_a_run_is_never_replaced_or_continued_otherwise_without_a_word(kaggle_zip, tmp_path, capsys):
    """A new run into a run's folder is refused (it replaced the run's checkpoints and appended to
    its log.csv); --overwrite replaces it; --resume goes on only as the run began (its data, its
    cosine's length), says when there is nothing yet to resume, and when nothing is left to train."""
    from facemotion.errors import UsageError

    out = tmp_path / "run"
    main(_args(kaggle_zip, out, epochs=1))
    before = (out / "last.pt").read_bytes()
    with pytest.raises(UsageError, match=r"^--out .*run: holds a run \(.*best\.pt.*\); --resume continues it, "
                                         r"--overwrite replaces it, or give another --out$"):
        main(_args(kaggle_zip, out, epochs=1, lr=0.5))
    assert (out / "last.pt").read_bytes() == before
    with pytest.raises(UsageError, match=r"--epochs 2: .*last\.pt is a one-cycle run of 1 epoch, whose schedule "):
        main(_args(kaggle_zip, tmp_path / "oc", epochs=1, sched="onecycle"))  # a run of its own
        main(_args(kaggle_zip, tmp_path / "oc", epochs=2, sched="onecycle", resume=True))
    other = tmp_path / "other.zip"
    other.write_bytes(kaggle_zip.read_bytes())
    with pytest.raises(UsageError, match=r"--resume: .*last\.pt is a run with --data .*, not .*other\.zip; continue"):
        main(_args(other, out, epochs=1, resume=True))
    capsys.readouterr()
    main(_args(kaggle_zip, out, epochs=1, resume=True))
    assert "last.pt is at epoch 1, --epochs 1: nothing to train, the run's files left as they are" in \
        capsys.readouterr().err
    main(_args(kaggle_zip, out, epochs=2, resume=True))  # a cosine goes on, and says where its rate stands
    assert "cosine schedule was laid out for 1 epoch; it goes on as one of 2, the learning rate at " in \
        capsys.readouterr().err
    # resumed from its first epoch's file with nothing to train: its two epochs' log and summary kept
    kept = {f: (out / f).read_bytes() for f in ("log.csv", "summary.json", "last.pt")}
    first = next(out.glob("mini_xception.01-*.pt"))
    main(_args(kaggle_zip, out, epochs=1, resume=first))
    assert "is at epoch 1, --epochs 1: nothing to train" in capsys.readouterr().err
    assert {f: (out / f).read_bytes() for f in kept} == kept
    with pytest.raises(UsageError, match=r"--resume: .*run is a folder, not a checkpoint; give .*run/last\.pt"):
        main(_args(kaggle_zip, out, epochs=3, resume=out))
    main(_args(kaggle_zip, out, epochs=1, overwrite=True, seed=3))
    assert load_checkpoint(out / "last.pt")["train_args"]["seed"] == 3
    assert [int(r["epoch"]) for r in csv.DictReader(open(out / "log.csv"))] == [1]  # a log of its own
    main(_args(kaggle_zip, tmp_path / "new", epochs=1, resume=True))  # one command starts and continues a run
    assert "no " in capsys.readouterr().err and (tmp_path / "new" / "last.pt").exists()


def test_init_starts_from_a_checkpoints_weights_and_refuses_another_network(kaggle_zip, tmp_path, tiny_checkpoint):
    from facemotion.errors import FacemotionError
    from facemotion.training.warmstart import init_from

    model = create_model("mini_xception")
    init_from(model, tiny_checkpoint, "mini_xception", {})
    ref, _ = model_from_checkpoint(tiny_checkpoint)
    for k, v in ref.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    with pytest.raises(FacemotionError, match=r"tiny\.pt: --init checkpoint is mini_xception .* --arch is resnet_fer_s"):
        init_from(create_model("resnet_fer_s"), tiny_checkpoint, "resnet_fer_s", {})
    with pytest.raises(FacemotionError, match="nope.pt"):
        init_from(model, tmp_path / "nope.pt", "mini_xception", {})
    # a fine-tune from it: a fresh run (epoch 1, fresh schedule), not a resume of the checkpoint's
    summary = main(_args(kaggle_zip, tmp_path / "ft", epochs=1, init=tiny_checkpoint))
    ft = load_checkpoint(tmp_path / "ft" / "last.pt")
    assert summary["epochs_run"] == 1 and ft["train_args"]["init"] == str(tiny_checkpoint)
    # its compute is charged with the checkpoint it started from (which has no history: 0 epochs)
    from facemotion.training.checkpoint import training_compute

    tc = training_compute(ft)
    assert tc["epochs"] == 1 and tc["epochs_by_run"] == [0, 1] and tc["init"] == str(tiny_checkpoint)
    assert tc["cpu_hours"] > 0
    # a second cycle from the fine-tune records the chain at training time, so the compute
    # survives the first run's folder being gone (or the path being relative to elsewhere)
    main(_args(kaggle_zip, tmp_path / "ft2", epochs=1, init=tmp_path / "ft" / "best.pt"))
    shutil.rmtree(tmp_path / "ft")
    tc2 = training_compute(load_checkpoint(tmp_path / "ft2" / "last.pt"))
    assert tc2["epochs"] == 2 and tc2["epochs_by_run"] == [0, 1, 1] and tc2["cpu_hours"] > tc["cpu_hours"]
    # resuming that second cycle needs last.pt only, not the (now deleted) checkpoint it started from
    main(_args(kaggle_zip, tmp_path / "ft2", epochs=2, init=tmp_path / "ft" / "best.pt", resume=True))
    tc3 = training_compute(load_checkpoint(tmp_path / "ft2" / "last.pt"))
    assert tc3["epochs_by_run"] == [0, 1, 2]


def test_a_record_of_folded_offsets_alone_charges_no_compute():
    """A checkpoint whose ``training`` holds only the class offsets folded into it (what a fold of
    a run's checkpoint once wrote) is charged its history; a run started from one, its own."""
    from facemotion.training.checkpoint import training_compute

    hist = [{"train_time_s": 1800, "eval_time_s": 0}] * 2
    folded = {"history": hist, "training": {"class_offsets": {"angry": 1.0}},
              "init_training": {"epochs": 300, "cpu_hours": 1.0}}
    assert training_compute(folded)["epochs"] == 302 and training_compute(folded)["cpu_hours"] == 2.0
    child = {"history": hist[:1], "init_training": {"class_offsets": {"angry": 1.0}},
             "train_args": {"init": "no/such/checkpoint.pt"}}
    assert training_compute(child)["epochs"] == 1


def test_training_is_reproducible_with_seed(kaggle_zip, tmp_path):
    a = main(_args(kaggle_zip, tmp_path / "a", epochs=1, seed=3))
    b = main(_args(kaggle_zip, tmp_path / "b", epochs=1, seed=3))
    assert a["best"] == b["best"]


def test_protocol_training_never_reads_private_test(kaggle_zip, tmp_path, monkeypatch):
    """Training selects on PublicTest (val) and never requests or decodes PrivateTest."""
    import facemotion.datasets.fer2013 as data
    import facemotion.datasets.loading as loading

    requested, decoded = [], []
    real_load, real_decode = loading.load_splits, data.decode_image

    def spy_load(path, splits=loading.SPLITS, **kw):
        requested.extend(splits)
        return real_load(path, splits, **kw)

    monkeypatch.setattr(loading, "load_splits", spy_load)
    monkeypatch.setattr(data, "decode_image", lambda b, w: (decoded.append(w), real_decode(b, w))[1])
    tr, va = load_training_data(kaggle_zip)
    assert "test" not in requested and "val" in requested
    assert all("PublicTest_" in s for s in va.sources)
    assert decoded and not any("PrivateTest" in w for w in decoded)
    main(_args(kaggle_zip, tmp_path / "run", epochs=1))
    assert "test" not in requested
    ck = load_checkpoint(tmp_path / "run" / "best.pt")
    assert ck["metrics"]["val_split"] == "PublicTest"


def test_user_folder_without_val_gets_a_stratified_holdout(tmp_path):
    import cv2

    for cls in ("happy", "sad"):
        (tmp_path / cls).mkdir()
        for i in range(10):
            cv2.imwrite(str(tmp_path / cls / f"{i}.png"), faces_like(1, i)[0])
    tr, va = load_training_data(tmp_path, val_fraction=0.2)
    assert len(tr) == 16 and len(va) == 4
    assert sorted(va.labels.tolist()) == [3, 3, 4, 4]
    assert not set(tr.sources) & set(va.sources)


def test_issue4_sizes():
    for n in ("resnet_fer_s", "vgg_fer_s"):
        assert count_parameters(create_model(n)) <= 1_000_000  # the "fast" size
    for n in ("resnet18_fer", "vgg_fer_m"):
        assert count_parameters(create_model(n)) <= 15_000_000  # the "accurate" size
    for n in ("resnet_fer_s", "vgg_fer_s", "resnet18_fer", "vgg_fer_m"):
        assert create_model(n).eval()(torch.zeros(2, 1, 48, 48)).shape == (2, 7)


def test_tta_views():
    from facemotion.training.engine import predict_logits
    from facemotion.tta import views as tta_views

    x = torch.from_numpy(faces_like(3)).unsqueeze(1).float() / 127.5 - 1
    assert len(tta_views(x, "none")) == 1
    flip = tta_views(x, "flip")
    assert len(flip) == 2 and torch.equal(flip[1], torch.flip(x, dims=[3]))
    ten = tta_views(x, "tencrop")
    assert len(ten) == 10 and all(v.shape == x.shape for v in ten)
    assert torch.equal(ten[0], x)  # the centre crop of the padded image is the image
    assert torch.equal(ten[1][..., 3:, 3:], x[..., :-3, :-3])  # top-left crop = shift by 3 px
    m = create_model("mini_xception").eval()
    imgs = torch.from_numpy(faces_like(4)).unsqueeze(1)
    assert predict_logits(m, imgs, tta="tencrop").shape == (4, 7)
    with pytest.raises(ValueError, match="unknown TTA mode"):
        tta_views(x, "twelve")


def test_offline_distillation_targets_are_the_teachers_and_survive_resume(kaggle_zip, tmp_path, monkeypatch):
    import facemotion.training.distill as distill
    from facemotion.preprocess import normalize

    main(_args(kaggle_zip, tmp_path / "t", epochs=1))
    teacher = tmp_path / "t" / "best.pt"
    out = tmp_path / "s"
    main(_args(kaggle_zip, out, epochs=1, teacher=teacher, kd_offline=True, mixup=0.2))
    cached = torch.load(out / "teacher_targets.pt", weights_only=True)["targets"]
    tr, _ = load_training_data(kaggle_zip)
    assert cached.shape == (len(tr), 7)
    # the cached rows are the teacher's temperature-softened, mirror-averaged probabilities
    t, _ = model_from_checkpoint(teacher)
    x = normalize(torch.from_numpy(tr.images[:5]).unsqueeze(1))
    with torch.no_grad():
        want = (torch.softmax(t.eval()(x) / 4, 1) + torch.softmax(t(torch.flip(x, [3])) / 4, 1)) / 2
    assert torch.allclose(cached[:5], want, atol=1e-5)
    assert torch.allclose(cached.sum(1), torch.ones(len(cached)), atol=1e-5)
    # a resumed run reuses them instead of running the teacher again
    monkeypatch.setattr(distill, "offline_teacher_targets", lambda *a, **k: pytest.fail("recomputed"))
    main(_args(kaggle_zip, out, epochs=2, teacher=teacher, kd_offline=True, mixup=0.2, resume=True))
    assert load_checkpoint(out / "last.pt")["epoch"] == 2


def test_a_shipped_onnx_model_is_a_teacher_by_name(kaggle_zip, tmp_path, capsys):
    """--teacher <shipped name>: distils from the pip-installed ONNX file (no checkpoint needed);
    its logits come back as T * log p, and ONNX teachers switch on offline targets."""
    import numpy as np

    from facemotion.classify import load_classifier
    from facemotion.preprocess import normalize

    out = tmp_path / "s"
    main(_args(kaggle_zip, out, epochs=1, teacher="fer2013_mini_xception"))
    assert "turning on --kd-offline" in capsys.readouterr().err
    cached = torch.load(out / "teacher_targets.pt", weights_only=True)["targets"]
    tr, _ = load_training_data(kaggle_zip)
    clf = load_classifier("fer2013_mini_xception")
    assert clf.card.to_dict()["tta"] == "flip"  # the mirror average is inside the graph: one view per image
    p = clf.predict(normalize(tr.images[:5])[:, None])
    z = torch.from_numpy(clf.card.to_dict()["temperature"] * np.log(p))
    assert torch.allclose(cached[:5], torch.softmax(z / 4, 1), atol=1e-5)
    # at the model's own temperature the target is exactly what the user's install predicts
    from facemotion.training.distill import OnnxTeacher, offline_teacher_targets

    t = OnnxTeacher("fer2013_mini_xception")
    same = offline_teacher_targets([t], torch.from_numpy(tr.images[:5]).unsqueeze(1), t.temperature, progress=False)
    assert torch.allclose(same, torch.from_numpy(p), atol=1e-5)


def test_a_file_that_holds_no_teacher_targets_is_named_in_one_short_line(tmp_path, tiny_checkpoint):
    from facemotion.errors import FacemotionError
    from facemotion.training.distill import load_teacher_targets
    from facemotion.zoo import shipped_models

    images = torch.zeros(2, 1, 48, 48)
    for path, said in ((shipped_models()["fer2013_mini_xception"].path, "not a PyTorch checkpoint"),
                       (tiny_checkpoint, "(a model checkpoint); those are written by facemotion teacher-targets")):
        with pytest.raises(FacemotionError) as e:
            load_teacher_targets(path, images, kd_temp=4.0)
        assert f"{path}: not a teacher-targets file" in str(e.value) and said in str(e.value)
        assert "\n" not in str(e.value) and len(str(e.value)) < 300  # torch's paragraph is not passed on


def test_compute_of_a_best_checkpoint_counts_its_whole_run(tmp_path, tiny_checkpoint):
    """best.pt's history stops at its epoch; the epochs after it were spent too (last.pt has them)."""
    from facemotion.training.checkpoint import atomic_torch_save, checkpoint_compute

    ep = {"train_time_s": 3000.0, "eval_time_s": 600.0}
    run = {**load_checkpoint(tiny_checkpoint), "train_args": {"out": "runs/a"}}
    atomic_torch_save({**run, "history": [ep] * 2}, tmp_path / "best.pt")
    atomic_torch_save({**run, "history": [ep] * 5}, tmp_path / "last.pt")
    tc = checkpoint_compute(tmp_path / "best.pt")
    assert tc["epochs"] == 5 and tc["cpu_hours"] == pytest.approx(5.0)
    # a last.pt from another run (a different output folder) is not charged
    atomic_torch_save({**run, "train_args": {"out": "runs/b"}, "history": [ep] * 5}, tmp_path / "last.pt")
    assert checkpoint_compute(tmp_path / "best.pt")["epochs"] == 2


def test_a_run_comes_back_from_the_device_machine_in_parts(kaggle_zip, tmp_path):
    """scripts/device_transfer.py: best.pt -> parts small enough for the device tool -> the same
    weights here, with the whole run's compute; a damaged part is refused, not loaded."""

    from facemotion.errors import FacemotionError
    from facemotion.training.checkpoint import checkpoint_compute

    dt = load_script("device_transfer")
    run = tmp_path / "run"
    main(_args(kaggle_zip, run, ema=0.9, epochs=3))
    parts = dt.pack(run / "best.pt", tmp_path / "back", part_mib=0.1)
    assert len(parts) >= 3 and all(p.stat().st_size <= 0.1 * 2**20 for p in parts)
    got = dt.unpack(tmp_path / "back", tmp_path / "here" / "best.pt")
    model, ck = model_from_checkpoint(got)
    ref, _ = model_from_checkpoint(run / "best.pt")  # EMA weights, as selection used them
    for (k, a), b in zip(ref.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), k
    assert "optimizer_state" not in ck and "ema_state" not in ck
    assert checkpoint_compute(got)["epochs"] == 3  # all three epochs, whichever one was best
    # --half: float16 on the way, float32 again here, within float16's rounding
    dt.pack(run / "best.pt", tmp_path / "half", part_mib=0.1, half=True)
    halved, _ = model_from_checkpoint(dt.unpack(tmp_path / "half", tmp_path / "half.pt"))
    for (k, a), b in zip(ref.state_dict().items(), halved.state_dict().values()):
        assert b.dtype == a.dtype and torch.allclose(a.float(), b.float(), rtol=1e-3, atol=1e-4), k
    parts[1].write_bytes(parts[1].read_bytes()[:-1] + b"x")
    with pytest.raises(FacemotionError, match="part01: damaged part"):
        dt.unpack(tmp_path / "back", tmp_path / "again.pt")
    assert not (tmp_path / "again.pt").exists()


def test_resume_from_weights_only_says_to_use_init(kaggle_zip, tmp_path, tiny_checkpoint):
    from facemotion.errors import UsageError
    from facemotion.training.checkpoint import load_checkpoint, slim

    run = tmp_path / "run"
    run.mkdir()
    torch.save(slim(load_checkpoint(tiny_checkpoint)), run / "last.pt")  # a shipped checkpoint's form
    with pytest.raises(UsageError, match=r"last\.pt holds weights only .* --init"):
        main(_args(kaggle_zip, run, arch="mini_xception", resume=True))


def test_extra_data_joins_the_training_split_only(kaggle_zip, tmp_path):
    """`--extra-data` folders of face crops join training (labels by name, one-hot targets where
    the run has soft targets), never validation; a folder naming no emotion is refused."""
    import cv2
    import numpy as np

    from facemotion.datasets import Split
    from facemotion.errors import FacemotionError
    from facemotion.labels import EMOTIONS, FERPLUS_EMOTIONS
    from facemotion.training.data import load_train_val, with_extra_faces

    extra = tmp_path / "crops"
    for k, (folder, img) in enumerate(zip(("Smiling", "Smiling", "sadness", "contempt"), faces_like(4, seed=5))):
        (extra / folder).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(extra / folder / f"{k}.png"), img)
    plain_tr, plain_va = load_train_val(train_args(kaggle_zip, tmp_path / "run"))
    tr, va = load_train_val(train_args(kaggle_zip, tmp_path / "run", extra_data=extra))
    assert len(tr) == len(plain_tr) + 4 and len(va) == len(plain_va)
    assert sorted(EMOTIONS[i] for i in tr.labels[len(plain_tr):]) == ["disgust", "happy", "happy", "sad"]
    assert tr.targets is None and (tr.images[:len(plain_tr)] == plain_tr.images).all()
    # a FER+ split (soft targets, eight labels): the crops get one-hot targets, contempt stays contempt
    soft = Split("train", plain_tr.images, plain_tr.labels, plain_tr.sources,
                 targets=np.full((len(plain_tr), 8), 1 / 8, np.float32), label_names=FERPLUS_EMOTIONS)
    mixed = with_extra_faces(soft, extra, progress=False)
    added = mixed.targets[len(plain_tr):]
    assert added.shape == (4, 8) and (added.sum(1) == 1).all() and added.max(1).min() == 1
    assert sorted(FERPLUS_EMOTIONS[i] for i in mixed.labels[len(plain_tr):]) == ["contempt", "happy", "happy", "sad"]
    (extra / "bored").mkdir()
    cv2.imwrite(str(extra / "bored" / "x.png"), faces_like(1)[0])
    with pytest.raises(FacemotionError, match="bored"):
        load_train_val(train_args(kaggle_zip, tmp_path / "run", extra_data=extra))


def test_kd_skip_extra_leaves_the_extra_faces_to_their_own_labels(kaggle_zip, tmp_path):
    """--kd-skip-extra: the run knows which training faces came from --extra-data (after --limit's
    draw too), and the distillation term weighs nothing on them: a face of weight 0 learns its
    own target alone, weight 1 gives the plain distillation loss, whatever the mix."""
    import argparse

    import cv2

    from facemotion.errors import UsageError
    from facemotion.training.data import load_train_val
    from facemotion.training.engine import _loss

    extra = tmp_path / "crops"
    for k, img in enumerate(faces_like(6, seed=3)):
        (extra / "disgust").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(extra / "disgust" / f"{k}.png"), img)
    tr, _ = load_train_val(train_args(kaggle_zip, tmp_path / "run", extra_data=extra))
    assert tr.from_extra.sum() == 6 and tr.from_extra[-6:].all()
    limited, _ = load_train_val(train_args(kaggle_zip, tmp_path / "run", extra_data=extra, limit=len(tr) - 3))
    kept = {bytes(im) for im in tr.images[tr.from_extra]}
    assert all((bytes(im) in kept) == flag for im, flag in zip(limited.images, limited.from_extra))

    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(5, 7, generator=g), torch.softmax(torch.randn(5, 7, generator=g), 1)
    t = torch.softmax(torch.randn(5, 7, generator=g), 1)
    args = argparse.Namespace(kd_alpha=0.7, kd_temp=4.0)
    plain_kd = _loss(logits, y, t, args, None)
    assert torch.allclose(_loss(logits, y, t, args, None, torch.ones(5)), plain_kd, atol=1e-6)
    assert torch.allclose(_loss(logits, y, t, args, None, torch.zeros(5)), _loss(logits, y, None, args, None))
    half = _loss(logits, y, t, args, None, torch.tensor([1.0, 1, 1, 0, 0]))
    first, last = (_loss(logits[s], y[s], t[s], args, None, w) for s, w in
                   ((slice(0, 3), torch.ones(3)), (slice(3, 5), torch.zeros(2))))
    assert torch.allclose(half, (3 * first + 2 * last) / 5, atol=1e-6)
    # a whole run with a teacher distils on FER2013's faces and leaves the crops to their labels
    main(_args(kaggle_zip, tmp_path / "t", epochs=1))
    s = main(_args(kaggle_zip, tmp_path / "s", epochs=1, extra_data=extra, teacher=tmp_path / "t" / "best.pt",
                   kd_offline=True, kd_skip_extra=True, mixup=0.2))
    assert s["epochs_run"] == 1
    with pytest.raises(UsageError, match="--kd-skip-extra"):  # with nothing to skip, the flag would do nothing
        main(_args(kaggle_zip, tmp_path / "u", epochs=1, extra_data=extra, kd_skip_extra=True))


def test_unlabelled_faces_are_learnt_by_consistency(kaggle_zip, fer_zip, tmp_path):
    """`--unlabelled` (FixMatch): real FER2013 faces, read from any depth of a folder, join every
    batch; the share of them the network was sure of is logged per epoch and follows
    --unlabelled-threshold; a missing or empty folder is refused in one line."""
    import zipfile

    import numpy as np

    from facemotion.errors import UsageError
    from facemotion.training.consistency import load_unlabelled

    pool = tmp_path / "unlabelled"
    with zipfile.ZipFile(fer_zip) as zf:  # real faces, no labels kept: a flat part and a nested part
        names = [n for n in zf.namelist() if "/PublicTest_" in n][:12]
        for i, n in enumerate(names):
            dest = pool / ("deep/er" if i % 2 else "") / f"{i}.jpg"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(zf.read(n))
    faces = load_unlabelled(pool, progress=False)
    assert faces.shape == (12, 48, 48) and faces.dtype == np.uint8
    for threshold, sure in ((0, 1.0), (1, 0.0)):
        run = tmp_path / f"run{threshold}"
        main(train_args(kaggle_zip, run, arch="mini_xception", unlabelled=pool, unlabelled_threshold=threshold))
        with open(run / "log.csv") as f:
            rows = list(csv.DictReader(f))
        assert [float(r["unlabelled_sure"]) for r in rows] == [sure, sure]
    (tmp_path / "empty").mkdir()
    for folder, why in ((tmp_path / "nope", "does not exist"), (tmp_path / "empty", "holds no images")):
        with pytest.raises(UsageError, match=f"--unlabelled: .* {why}"):
            main(train_args(kaggle_zip, tmp_path / "bad", unlabelled=folder))


def test_consistency_targets_are_the_networks_sure_answers_on_real_faces(fer_zip):
    """On real PublicTest faces, a trained network's weak-view answers are its plain answers for
    nearly every face, the sure share falls as the threshold rises, and unsure faces add no loss."""
    import zipfile

    import numpy as np

    from facemotion.datasets.fer2013 import decode_image
    from facemotion.preprocess import normalize
    from facemotion.training.consistency import Consistency

    from conftest import ROOT

    model = model_from_checkpoint(ROOT / "models" / "ferplus_resnet_s.pt")[0].train()  # as in training
    with zipfile.ZipFile(fer_zip) as zf:
        names = [n for n in zf.namelist() if "/PublicTest_" in n][::40][:64]
        faces = torch.from_numpy(np.stack([decode_image(zf.read(n), n) for n in names])).unsqueeze(1)
    with torch.no_grad():
        plain = model(normalize(faces)).argmax(1)
    rates = []
    for threshold in (0.5, 0.8, 0.95):
        c = Consistency(faces, threshold=threshold)
        gen = torch.Generator().manual_seed(0)
        idx = torch.randint(len(faces), (len(faces),), generator=torch.Generator().manual_seed(0))
        strong, answer, sure = c.views(model, len(faces), gen)
        assert strong.shape == (len(faces), 1, 48, 48)
        assert (answer == plain[idx]).float().mean() >= 0.8
        rates.append(c.take_sure_rate())
        assert c.loss(torch.zeros(len(faces), 8), answer, torch.zeros(len(faces))) == 0
    assert 1 > rates[0] > rates[1] > rates[2] > 0


def test_the_weak_pass_leaves_batchnorm_running_statistics_alone(fer_zip):
    """The consistency targets' pass normalises by its batch (train mode) without moving the
    running statistics evaluation uses; the joint pass moves them as any training step does."""
    import zipfile

    import numpy as np

    from facemotion.datasets.fer2013 import decode_image
    from facemotion.training.consistency import Consistency

    model = create_model("mini_xception").train()
    with zipfile.ZipFile(fer_zip) as zf:
        names = [n for n in zf.namelist() if "/PublicTest_" in n][:16]
        faces = torch.from_numpy(np.stack([decode_image(zf.read(n), n) for n in names])).unsqueeze(1)
    stats = lambda: [b.clone() for n, b in model.named_buffers() if "running" in n]  # noqa: E731
    before = stats()
    strong, _, _ = Consistency(faces).views(model, 16, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(before, stats()))
    model(strong)
    assert not all(torch.equal(a, b) for a, b in zip(before, stats()))


def test_balance_groups_gives_every_group_the_same_mix_of_emotions(kaggle_zip, tmp_path):
    """--balance-groups (reweighing): under the weights each group has the training split's own
    mix of labels, the weights sum to the faces they cover, faces the file does not name weigh 1,
    a face's weight scales its whole loss, and a malformed file is refused in one line naming it
    and its first bad row."""
    import argparse

    import numpy as np

    from facemotion.errors import DataError, UsageError
    from facemotion.training.engine import _loss
    from facemotion.training.groups import read_groups, reweigh

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 600)
    groups = {f"f{i}": ("a" if (labels[i] == 3) ^ (rng.random() < 0.3) else "b") for i in range(500)}
    w, summary = reweigh([f"f{i}" for i in range(600)], labels, groups)
    assert summary["matched"] == 500 and (w[500:] == 1).all()
    assert abs(w[:500].sum() - 500) < 1e-3
    mix = {}
    for g in ("a", "b"):
        m = np.array([groups[f"f{i}"] == g for i in range(500)])
        mix[g] = np.bincount(labels[:500][m], weights=w[:500][m], minlength=7) / w[:500][m].sum()
    overall = np.bincount(labels[:500], minlength=7) / 500
    assert np.allclose(mix["a"], overall, atol=1e-6) and np.allclose(mix["b"], overall, atol=1e-6)

    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(4, 7, generator=g), torch.softmax(torch.randn(4, 7, generator=g), 1)
    args = argparse.Namespace(kd_alpha=0.5, kd_temp=4.0)
    twice_first = _loss(logits, y, None, args, None, None, torch.tensor([2.0, 1, 1, 0]))
    assert torch.allclose(twice_first, _loss(logits[[0, 0, 1, 2]], y[[0, 0, 1, 2]], None, args, None))

    # a whole run: p_female read as groups, the training faces named by their sources
    good = tmp_path / "gender.csv"
    rows = [f"train/{c}/Training_{k}.jpg,{0.9 if k % 2 else 0.1},train"
            for k, c in enumerate(c for c in ("angry", "happy", "surprise", "neutral") for _ in range(3))]
    good.write_text("source,p_female,split\n" + "\n".join(rows) + "\n")
    assert set(read_groups(good).values()) == {"female", "male"}
    assert main(_args(kaggle_zip, tmp_path / "run", epochs=1, balance_groups=good))["epochs_run"] == 1
    for text, why in (("source,age\nx,3\n", "needs a 'source' column"),
                      ("source,p_female\nx,0.2\ny,1.7\n", "line 3: p_female '1.7' is not a probability"),
                      ("source,group\nx,\n", "line 2: an empty source or group")):
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(DataError, match=why) as e:
            read_groups(bad)
        assert str(bad) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UsageError, match="does not exist"):
        read_groups(tmp_path / "nope.csv")
    other = tmp_path / "other.csv"
    other.write_text("source,group\nsomeone/else.jpg,a\n")
    with pytest.raises(DataError, match="none of the training faces"):
        main(_args(kaggle_zip, tmp_path / "run2", epochs=1, balance_groups=other))


def test_outputs_that_cannot_be_written_are_refused_before_the_work(kaggle_zip, tiny_checkpoint, tmp_path, capsys):
    """-o / --to where nothing can be written fail at once, in one line (evaluate scored every face
    and then lost the result)."""
    from facemotion.cli import main as cli

    blocker = tmp_path / "afile"
    blocker.write_text("x")
    cases = [(["evaluate", str(tiny_checkpoint), "--data", str(kaggle_zip), "-o", str(blocker / "rep")],
              f"error: -o {blocker / 'rep'}: {blocker} is a file, not a folder"),
             (["export", str(tiny_checkpoint), "--to", str(blocker / "m.onnx")],
              f"error: --to {blocker / 'm.onnx'}: {blocker} is a file, not a folder")]
    for argv, line in cases:
        assert cli(argv) == 2  # a bad option's value: a path no output can be at
        err = capsys.readouterr().err
        assert err == line + "\n", err


def test_a_fer_plus_network_fine_tunes_on_a_folder_with_its_eight_emotions(tmp_path):
    """`train --data FOLDER --init <a FER+ checkpoint>` (the default's models/*.pt, fine-tuned on
    your own crops) runs with the checkpoint's eight emotions, contempt/ its own class: it was
    refused, the folder's seven not fitting the network's eight."""
    import cv2

    from facemotion.labels import EMOTIONS, FERPLUS_EMOTIONS
    from facemotion.training.checkpoint import atomic_torch_save, describe
    from facemotion.training.data import load_train_val

    model = create_model("mini_xception", num_classes=8)
    ck8 = tmp_path / "ferplus.pt"
    atomic_torch_save({**describe(model, labels=list(FERPLUS_EMOTIONS)), "model_state": model.state_dict()}, ck8)
    data = tmp_path / "faces"
    faces = faces_like(40)
    for i, folder in enumerate(("happy", "contempt", "Disgust", "neutral") * 10):
        (data / folder).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(data / folder / f"{i}.png"), faces[i])
    train, val = load_train_val(_args(data, tmp_path / "run", init=ck8))
    assert train.label_names == val.label_names == FERPLUS_EMOTIONS
    counts = dict(zip(FERPLUS_EMOTIONS, train.class_counts() + val.class_counts()))
    assert counts["contempt"] == counts["disgust"] == counts["happy"] == 10 and counts["angry"] == 0
    assert load_train_val(_args(data, tmp_path / "run"))[0].label_names == EMOTIONS  # no --init: FER2013's seven
    summary = main(_args(data, tmp_path / "run", init=ck8, epochs=1))
    assert summary["epochs_run"] == 1 and load_checkpoint(tmp_path / "run" / "last.pt")["labels"] == list(FERPLUS_EMOTIONS)


def test_a_teacher_of_another_label_set_is_folded_or_refused_in_one_line(kaggle_zip, tmp_path):
    """A teacher of FER+'s eight teaches a run of FER2013's seven with its contempt added to
    disgust (online and offline); a teacher of seven cannot teach eight: one line, not the loss's
    tensor-size traceback."""
    from facemotion.errors import FacemotionError
    from facemotion.labels import FERPLUS_EMOTIONS
    from facemotion.training.checkpoint import atomic_torch_save, describe
    from facemotion.training.distill import fit_targets

    p = torch.tensor([[0.1, 0.2, 0.0, 0.3, 0.0, 0.0, 0.1, 0.3]])
    assert torch.allclose(fit_targets(p, 7, "t"), torch.tensor([[0.1, 0.5, 0.0, 0.3, 0.0, 0.0, 0.1]]))
    with pytest.raises(FacemotionError, match="^t: gives 7 emotions, the run learns 8; a teacher of FER2013's seven"):
        fit_targets(p[:, :7], 8, "t")
    eight = create_model("mini_xception", num_classes=8)
    ck8 = tmp_path / "eight.pt"
    atomic_torch_save({**describe(eight, labels=list(FERPLUS_EMOTIONS)), "model_state": eight.state_dict()}, ck8)
    for offline in (False, True):
        extra = {"kd_offline": True} if offline else {}
        summary = main(_args(kaggle_zip, tmp_path / f"kd{offline}", epochs=1, teacher=ck8, **extra))
        assert summary["epochs_run"] == 1
    # online, the loss's softmax at --kd-temp of the folded teacher is the offline target: folded at that T
    from facemotion.training.distill import FoldedTeacher

    z = torch.tensor([[2.0, -1.0, 0.5, 3.0, 0.0, 1.0, -2.0, 1.5]])
    online = torch.softmax(FoldedTeacher(lambda x: z, "t", temp=4.0)(None) / 4.0, 1)
    assert torch.allclose(online, fit_targets(torch.softmax(z / 4.0, 1), 7, "t"), atol=1e-6)


def _face_folder(root, n_per_class: int = 10, seed: int = 0):
    import cv2

    faces = faces_like(4 * n_per_class, seed)
    for i, folder in enumerate(("happy", "sad", "angry", "neutral") * n_per_class):
        (root / folder).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / folder / f"{i}.png"), faces[i])
    return root


def test_what_fixes_a_runs_faces_is_checked(kaggle_zip, tmp_path, capsys):
    """The held-out faces never train: --extra-data or --unlabelled that is --data is refused, and
    extra faces that are validation faces (pixel for pixel) are left out; an empty validation part
    is refused; --resume with another --seed, --val-fraction or --limit is refused; --limit draws
    from --data alone, --extra-data's faces added whole."""
    import shutil

    from facemotion.errors import FacemotionError
    from facemotion.errors import UsageError as Usage
    from facemotion.training.data import load_train_val

    data = _face_folder(tmp_path / "faces")
    for extra in ({"extra_data": data}, {"unlabelled": data}):
        with pytest.raises(Usage, match="is --data"):
            load_train_val(_args(data, tmp_path / "run", **extra))
    train, val = load_train_val(_args(data, tmp_path / "run"))
    some = tmp_path / "some"  # a folder holding two validation faces among others
    shutil.copytree(_face_folder(tmp_path / "other", seed=5), some)
    shutil.copy(data / str(val.sources[0]), some / "happy" / "from_val_0.png")  # sources: within the folder
    shutil.copy(data / str(val.sources[1]), some / "sad" / "from_val_1.png")
    train2, _ = load_train_val(_args(data, tmp_path / "run", extra_data=some))
    assert train2.val_copies == 2 and len(train2) == len(train) + 40
    train3, _ = load_train_val(_args(kaggle_zip, tmp_path / "run", limit=3, extra_data=some))
    assert len(train3) == 3 + 42 and train3.from_extra.sum() == 42  # the limit is --data's alone
    capsys.readouterr()
    everything, _ = load_train_val(_args(kaggle_zip, tmp_path / "run", limit=100_000))  # more than there are: said
    assert f"--limit 100000: --data has {len(everything):,} training faces, all of them used" in capsys.readouterr().err
    with pytest.raises(FacemotionError, match=r"no validation faces .*--val-fraction 0.01 of its \d+ faces"):
        main(_args(data, tmp_path / "tiny", val_fraction=0.01))
    main(_args(data, tmp_path / "r", epochs=1, seed=1))
    for changed in ({"seed": 2}, {"val_fraction": 0.3}, {"limit": 20}):
        with pytest.raises(Usage, match=f"--resume: .* is a run with --{next(iter(changed)).replace('_', '-')} "):
            main(_args(data, tmp_path / "r", epochs=2, resume=True, **{"seed": 1, **changed}))


def test_eval_tta_checkpoints_say_their_views(kaggle_zip, tmp_path):
    main(_args(kaggle_zip, tmp_path / "run", epochs=1, eval_tta=True))
    assert load_checkpoint(tmp_path / "run" / "best.pt")["tta"] == "flip"  # what its val metrics were measured with


@pytest.mark.parametrize("option, value, needs", [
    ("kd_alpha", 0.3, "a teacher (--teacher or --teacher-targets)"), ("kd_temp", 2.0, "a teacher"),
    ("kd_offline", True, "--teacher"), ("unlabelled_weight", 3.0, "--unlabelled FOLDER"),
    ("unlabelled_threshold", 0.5, "--unlabelled FOLDER"), ("corrupt_mix", 0.9, "--corrupt P"),
    ("momentum", 0.5, "--opt sgd")])
def test_an_option_tuning_a_part_of_the_run_that_is_off_is_refused(kaggle_zip, tmp_path, option, value, needs):
    """Each trained as if it were not given (the same loss as a plain run), where its siblings
    (--kd-skip-extra without a teacher, --prune without --init) are refused: now they are too."""
    from facemotion.errors import UsageError

    flag = "--" + option.replace("_", "-")
    with pytest.raises(UsageError, match=rf"^{flag}: tunes what {re.escape(needs)}.* turns on, which this run does not "
                                         "use; give that too, or leave it out$"):
        main(_args(kaggle_zip, tmp_path / "x", **{option: value}))
    assert not (tmp_path / "x" / "log.csv").exists()
    (tmp_path / "run").mkdir()  # refused before --overwrite empties a run's folder
    (tmp_path / "run" / "last.pt").write_bytes(b"a run")
    with pytest.raises(UsageError):
        main(_args(kaggle_zip, tmp_path / "run", overwrite=True, **{option: value}))
    assert (tmp_path / "run" / "last.pt").read_bytes() == b"a run"
