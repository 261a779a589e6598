"""Evaluation: the ensemble subset is chosen on PublicTest, and only the chosen members are
ever run on the reported split."""

import numpy as np
import pytest

from facemotion.datasets import load_splits
from facemotion.training import evaluate


def _member(y, p_correct, rng):
    """Softmax-like outputs that put most mass on the true class for a fraction p_correct."""
    n = len(y)
    guess = np.where(rng.random(n) < p_correct, y, rng.integers(0, 7, n))
    p = rng.random((n, 7)) * 0.2
    p[np.arange(n), guess] += 1.0
    return p / p.sum(1, keepdims=True)


def test_choose_ensemble_drops_the_weak_member():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 3000)
    probs = {"a": _member(y, 0.7, rng), "b": _member(y, 0.7, rng), "c": _member(y, 0.7, rng),
             "weak": _member(y, 0.1, rng)}
    assert sorted(evaluate.choose_ensemble(probs, y, min_size=3)) == ["a", "b", "c"]
    # never fewer members than asked for, and all of them when there is no choice
    assert len(evaluate.choose_ensemble(probs, y, min_size=4)) == 4
    assert len(evaluate.choose_ensemble({"a": probs["a"], "weak": probs["weak"]}, y, min_size=3)) == 2
    # a size budget: the best subset that fits, even if a weak member has to come in
    sizes = {"a": 1, "b": 1, "c": 10, "weak": 1}
    assert sorted(evaluate.choose_ensemble(probs, y, min_size=3, sizes=sizes, max_size=5)) == ["a", "b", "weak"]
    with pytest.raises(evaluate.FacemotionError, match="of the 4 given models fits 2 parameters"):
        evaluate.choose_ensemble(probs, y, min_size=3, sizes=sizes, max_size=2)


def test_evaluate_choose_ensemble_reads_the_test_split_only_for_chosen_members(kaggle_zip, monkeypatch):
    d = load_splits(kaggle_zip, ("val", "test"))
    y_val = d["val"].labels
    onehot = np.eye(7)[y_val] * 5.0
    calls = []

    def fake_logits(model_ref, images, tta="none", batch_size=512):
        split = "val" if np.array_equal(images, d["val"].images) else "test"
        calls.append((model_ref, split))
        if model_ref == "bad":  # always wrong on val
            return np.roll(onehot, 1, axis=1)
        return onehot + (0.1 if model_ref == "good1" else 0.0)

    monkeypatch.setattr(evaluate, "model_logits", fake_logits)
    r = evaluate.evaluate_models(["good1", "bad", "good2"], kaggle_zip, "test", choose_ensemble_min=2)
    assert r["models"] == ["good1", "good2"] and r["ensemble_candidates"] == ["good1", "bad", "good2"]
    assert r["ensemble_chosen_on"] == "val"
    assert ("bad", "test") not in calls and {("good1", "test"), ("good2", "test")} <= set(calls)
    assert "members chosen on val from 3 models" in evaluate.format_report(r)


def test_options_that_cannot_apply_are_refused_before_scoring(tmp_path, kaggle_zip, tiny_checkpoint, capsys):
    """A folder of photos is scored whole (--split and --limit picked nothing there); an ensemble
    of more members than models named cannot be chosen."""
    import shutil

    import facemotion
    from facemotion.cli import main

    (tmp_path / "photos" / "happy").mkdir(parents=True)
    shutil.copy(facemotion.SAMPLE_IMAGE, tmp_path / "photos" / "happy" / "a.jpg")
    for option in (["--split", "val"], ["--limit", "5"]):
        assert main(["evaluate", "fer2013_mini_xception", "--data", str(tmp_path / "photos"), *option]) == 2
        assert f"error: {option[0]}: not for a folder of photos" in capsys.readouterr().err
    assert main(["evaluate", str(tiny_checkpoint), str(tiny_checkpoint), "--data", str(kaggle_zip),
                 "--choose-ensemble", "3"]) == 2
    assert "--choose-ensemble 3: more than the 2 models named" in capsys.readouterr().err


def test_what_is_undefined_is_said_not_zero(kaggle_zip, tmp_path, monkeypatch):
    """Classes no face shows have no recall or F1 (they read as 0%, as a class missed every time);
    a rerun removes the figures it does not draw, and its report comes last; a file --skip-bad
    leaves out is counted; an archive of <emotion>/ folders only is told to be unpacked."""
    import json
    import zipfile

    monkeypatch.setattr(evaluate, "model_logits", lambda m, images, tta="none", batch_size=512:
                        np.tile(np.log(np.full(7, 0.02) + np.eye(7)[3] * 0.86), (len(images), 1)))
    out = tmp_path / "out"
    r = evaluate.evaluate_models(["m"], kaggle_zip, "test", calibrate=True, out=out)
    assert r["per_class"]["sad"] == {"precision": None, "recall": None, "f1": None, "support": 0}
    assert r["per_class"]["happy"]["recall"] == 1.0 and r["per_class"]["angry"]["precision"] is None
    text = evaluate.format_report(r)
    assert [line.split() for line in text.splitlines() if line.startswith("sad")] == [["sad", "-", "-", "-", "0"]]
    assert {p.name for p in out.iterdir()} == {"report.json", "confusion.png", "reliability.png"}
    # the same folder, a report whose probabilities do not cover its labels: no reliability figure
    monkeypatch.setattr(evaluate, "_note_what_is_not_scored", lambda report, ev, m, labels: ["contempt"])
    evaluate.evaluate_models(["m"], kaggle_zip, "test", out=out)
    assert {p.name for p in out.iterdir()} == {"report.json", "confusion.png"}
    assert json.loads((out / "report.json").read_text())["n"] == r["n"]

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(kaggle_zip) as src, zipfile.ZipFile(bad, "w") as dst:
        for m in src.namelist():
            dst.writestr(m, src.read(m))
        dst.writestr("test/happy/PrivateTest_999.jpg", b"not a jpeg")
    monkeypatch.undo()
    monkeypatch.setattr(evaluate, "model_logits", lambda m, images, tta="none", batch_size=512:
                        np.zeros((len(images), 7)))
    r = evaluate.evaluate_models(["m"], bad, "test", skip_bad=True, protocol=False)
    assert len(r["skipped"]) == 1 and "PrivateTest_999.jpg" in r["skipped"][0]
    assert "1 unreadable file skipped (--skip-bad), not scored" in evaluate.format_report(r)

    folders = tmp_path / "folders.zip"
    with zipfile.ZipFile(folders, "w") as zf:
        zf.writestr("happy/a.jpg", zipfile.ZipFile(kaggle_zip).read("train/happy/Training_5.jpg"))
    with pytest.raises(evaluate.DataError, match="no test part .* unpack it and give the folder"):
        evaluate.evaluate_models(["m"], folders, "test")


def test_a_seven_label_model_on_ferplus_eight_gives_no_likelihood():
    """Its contempt column is 0: a likelihood, ECE or temperature over the eight measured that 0
    (clipped to 1e-12, 27.6 nats a contempt face), not the model."""
    class Split:
        skipped = []

    report = {"nll": 1.0, "ece": 0.1}
    lacking = evaluate._note_what_is_not_scored(report, Split(), evaluate.EMOTIONS, evaluate.FERPLUS_EMOTIONS)
    assert lacking == ["contempt"] and report["nll"] is None and report["ece"] is None
    assert "no NLL, ECE or temperature" in report["calibration_skipped"]


def test_an_archive_of_whole_photos_is_refused_as_faces(tmp_path, capsys):
    """Each image of a dataset is read as one face: a zip of whole photos is refused in one line,
    as train and quantize refuse it, not scored."""
    import zipfile

    import facemotion
    from facemotion.cli import main

    with zipfile.ZipFile(tmp_path / "photos.zip", "w") as zf:
        for split in ("train", "test"):
            for emotion in ("happy", "sad"):
                for i in range(2):
                    zf.write(facemotion.SAMPLE_IMAGE, f"{split}/{emotion}/{i}.jpg")
    assert main(["evaluate", "fer2013_mini_xception", "--data", str(tmp_path / "photos.zip"), "--split", "train"]) == 1
    assert "whole photos, not face crops" in capsys.readouterr().err
