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
