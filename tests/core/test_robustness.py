"""The corruption suite: deterministic, shape- and type-preserving, damage growing with severity,
and the report's arithmetic (mean corrupted accuracy, worst corruption, collapsing emotions)."""

from __future__ import annotations

import numpy as np
import pytest

from facemotion import robustness as rb
from facemotion.errors import UsageError
from facemotion.labels import EMOTIONS

from conftest import faces_like

ALL = list(rb.CORRUPTIONS)


@pytest.fixture(scope="module")
def faces():
    return faces_like(24, seed=3)


@pytest.fixture(scope="module")
def real_faces(fer_zip):
    """64 PublicTest faces (a stratified subset), enough to average over per-face draws."""
    from facemotion.datasets import load_splits

    s = load_splits(fer_zip, ["val"])["val"]
    idx = rb.stratified_subset(s.labels, 64, seed=0)
    return s.images[idx]


def test_the_registry_covers_the_suite():
    assert set(rb.FAMILIES) == {c.family for c in rb.CORRUPTIONS.values()}
    assert len(ALL) == 16 and all(len(c.levels) == 3 for c in rb.CORRUPTIONS.values())
    assert {"lighting", "blur", "noise", "compression", "resolution", "rotation", "jitter", "occlusion"} == set(rb.FAMILIES)
    suite = rb.suite()
    assert [s["name"] for s in suite] == ALL and suite[0]["severities"] == {"1": 1.5, "2": 2.2, "3": 3.0}
    assert rb.suite("blur", "3") == [
        {"name": "gaussian_blur", "family": "blur", "description": "out of focus", "unit": "sigma (px)",
         "severities": {"3": 1.5}},
        {"name": "motion_blur", "family": "blur", "description": "moving face or camera", "unit": "length (px)",
         "severities": {"3": 9}}]


@pytest.mark.parametrize("name", ALL)
def test_each_corruption_is_deterministic_and_keeps_uint8_48x48(name, faces):
    for s in rb.SEVERITIES:
        a = rb.corrupt(faces, name, s, seed=7)
        assert a.shape == faces.shape and a.dtype == np.uint8
        assert np.array_equal(a, rb.corrupt(faces.copy(), name, s, seed=7))  # same crops, same result
        assert not np.array_equal(a, faces), f"{name} {s} changed nothing"
    one = rb.corrupt(faces[0], name, 2, seed=7)  # a single crop stays a single crop
    assert one.shape == (48, 48) and one.dtype == np.uint8
    assert np.array_equal(faces, faces_like(24, seed=3))  # the input is never written to
    assert rb.corrupt(faces[:0], name, 1).shape == (0, 48, 48)


def test_the_seed_and_only_the_seed_changes_the_random_draws(faces):
    for name in ("gaussian_noise", "rotation", "shift", "zoom", "side_light", "hand", "motion_blur", "lower_face"):
        assert not np.array_equal(rb.corrupt(faces, name, 2, seed=0), rb.corrupt(faces, name, 2, seed=1)), name
    # one condition's draws depend on (seed, name, severity) alone, not on what ran before it
    a = rb.corrupt(faces, "gaussian_noise", 2, seed=0)
    rb.corrupt(faces, "rotation", 3, seed=0)
    assert np.array_equal(a, rb.corrupt(faces, "gaussian_noise", 2, seed=0))


@pytest.mark.parametrize("name", ALL)
def test_damage_grows_with_severity_on_real_faces(name, real_faces):
    x = real_faces.astype(np.int16)
    dist = [np.abs(rb.corrupt(real_faces, name, s, seed=0).astype(np.int16) - x).mean() for s in rb.SEVERITIES]
    assert 0 < dist[0] < dist[1] < dist[2], (name, dist)


def test_known_values(faces):
    x = faces.astype(float)
    assert np.array_equal(rb.corrupt(faces, "brightness", 1), np.clip(x + 40, 0, 255).astype(np.uint8))
    low = rb.corrupt(faces, "contrast", 3).astype(float)
    assert np.allclose(low.mean((1, 2)), x.mean((1, 2)), atol=1.0) and (low.std((1, 2)) < x.std((1, 2)) * 0.3).all()
    masked = rb.corrupt(faces, "lower_face", 2)  # the bottom third is one flat value per face
    assert (masked[:, 32:, :].std((1, 2)) == 0).all() and np.array_equal(masked[:, :32], faces[:, :32])
    band = rb.corrupt(faces, "eye_band", 1)  # 6 rows over the eyes (row 17.5 of 48), dark
    assert (band[:, 14:20].max((1, 2)) < 46).all()
    assert np.array_equal(band[:, 20:], faces[:, 20:]) and np.array_equal(band[:, :14], faces[:, :14])
    # the face at 12 px keeps no detail finer than 4 px: 2 x 2 blocks barely differ
    small = rb.corrupt(faces, "low_resolution", 3).astype(float)
    assert np.abs(np.diff(small, axis=2)).mean() < np.abs(np.diff(x, axis=2)).mean()


def test_apply_at_the_identity_changes_nothing(faces):
    rng = np.random.default_rng(0)
    for name in ("gamma_dark", "brightness", "contrast", "side_light", "gaussian_noise", "rotation", "shift",
                 "zoom", "lower_face"):
        c = rb.CORRUPTIONS[name]
        assert np.array_equal(rb.apply(faces, name, rb.interpolate(c, 0), rng), faces), name
    for name in ALL:  # whole severities are the suite's levels
        c = rb.CORRUPTIONS[name]
        assert [rb.interpolate(c, s) for s in rb.SEVERITIES] == pytest.approx(list(c.levels)), name


def test_random_corruptions_for_training(faces):
    out = rb.random_corruptions(faces, np.random.default_rng(5), p=1.0)
    assert out.shape == faces.shape and out.dtype == np.uint8
    assert np.array_equal(out, rb.random_corruptions(faces, np.random.default_rng(5), p=1.0))
    assert np.array_equal(rb.random_corruptions(faces, np.random.default_rng(5), p=0.0), faces)
    changed = (out != faces).any((1, 2)).mean()
    assert changed > 0.8
    only = rb.random_corruptions(faces, np.random.default_rng(1), p=1.0, corruptions="occlusion",
                                 severity_range=(2, 3))
    assert (only != faces).any((1, 2)).all()


def test_names_and_severities_are_checked():
    assert rb.names("blur,jpeg") == ["gaussian_blur", "motion_blur", "jpeg"]
    assert rb.names(["jpeg", "gaussian_blur"]) == ["gaussian_blur", "jpeg"]  # the registry's order
    assert rb.severities("3,1") == [1, 3] and rb.severities(2) == [2]
    with pytest.raises(UsageError, match="corruptions: unknown corruption 'fog'; known: gamma_dark"):
        rb.names("jpeg,fog")
    with pytest.raises(UsageError, match="severities: expected some of 1, 2, 3, got '4'"):
        rb.severities("1,4")
    with pytest.raises(UsageError, match="severity: must be one of 1, 2, 3, got 0"):
        rb.corrupt(faces_like(1), "jpeg", 0)
    with pytest.raises(UsageError, match="corruption: unknown 'blur'"):
        rb.corrupt(faces_like(1), "blur", 1)
    with pytest.raises(UsageError, match="images: expected N x S x S uint8"):
        rb.corrupt(np.zeros((2, 48, 48), np.float32), "jpeg", 1)


def test_stratified_subset():
    labels = np.repeat(np.arange(7), [50, 5, 60, 90, 60, 40, 60])
    idx = rb.stratified_subset(labels, 73, seed=1)
    assert len(idx) == 73 and np.array_equal(idx, np.sort(idx)) and len(set(idx)) == 73
    assert np.array_equal(idx, rb.stratified_subset(labels, 73, seed=1))
    assert not np.array_equal(idx, rb.stratified_subset(labels, 73, seed=2))
    counts = np.bincount(labels[idx], minlength=7)
    assert np.abs(counts - np.bincount(labels) * 73 / len(labels)).max() < 1
    assert np.array_equal(rb.stratified_subset(labels, 10_000), np.arange(len(labels)))


def test_summary_arithmetic_and_collapses():
    y = np.repeat(np.arange(7), 10)
    clean = y.copy()
    clean[::10] = (y[::10] + 1) % 7  # 90% correct, every class alike
    preds = {"clean": clean}
    for s in (1, 2, 3):
        preds["jpeg", s] = clean
        wrong = clean.copy()
        wrong[y == 3] = 4  # happy becomes sad under blur
        preds["gaussian_blur", s] = wrong
    r = rb.summarize(y, preds, seed=4)
    assert r["clean"]["accuracy"] == pytest.approx(0.9)
    assert r["corruptions"]["jpeg"]["accuracy"] == pytest.approx(0.9)
    blur = 0.9 - 9 / 70
    assert r["corruptions"]["gaussian_blur"]["accuracy"] == pytest.approx(blur)
    assert r["mean_corrupted_accuracy"] == pytest.approx((0.9 + blur) / 2)
    assert r["families"] == {"blur": pytest.approx(blur), "compression": pytest.approx(0.9)}
    assert r["worst"] == {"corruption": "gaussian_blur", "accuracy": pytest.approx(blur)}
    assert r["worst_condition"]["corruption"] == "gaussian_blur"
    assert r["corruptions"]["gaussian_blur"]["recall"]["happy"] == 0
    assert r["corruptions"]["gaussian_blur"]["severities"]["2"]["value"] == 1.0
    (c,) = r["collapses"]
    assert (c["corruption"], c["emotion"], c["taken_by"], c["recall"]) == ("gaussian_blur", "happy", "sad", 0)
    text = rb.format_report("m", r)
    assert "happy (10) under gaussian_blur 90% -> 0% (as sad)" in text and "mean corrupted  83.6%" in text


def test_a_collapse_names_what_its_own_faces_became_and_needs_enough_of_them():
    """"Read as" is the most common wrong answer among the collapsing emotion's own faces (it was
    the emotion whose share grew most over all faces, the same for every collapse under one
    corruption); an emotion with fewer than COLLAPSE_FACES faces is not judged, and is named."""
    y = np.r_[np.repeat([0, 2, 3, 4, 5, 6], 20), [1, 1, 1]]  # ... and only 3 disgust faces
    clean = y.copy()
    masked = y.copy()
    masked[y == 2] = np.r_[[5] * 12, [4] * 4, [2] * 4]  # fear read as surprise, mostly
    masked[y == 3] = 6  # happy read as neutral: neutral's share grows the most over all faces
    masked[y == 1] = 3  # disgust's 3 faces all wrong: too few to call
    preds = {"clean": clean, **{("eye_band", s): masked for s in (1, 2, 3)}}
    r = rb.summarize(y, preds)
    got = {c["emotion"]: (c["taken_by"], c["faces"]) for c in r["collapses"]}
    assert got == {"fear": ("surprise", 20), "happy": ("neutral", 20)}
    assert "not judged for collapse (under 10 faces): disgust 3" in rb.format_report("m", r)


def test_the_report_runs_every_predictor_on_the_same_corrupted_crops(faces):
    seen = {"a": [], "b": []}

    def predictor(key, fn):
        def predict(x):
            seen[key].append(x.copy())
            return np.eye(7)[fn(x)]
        return predict

    labels = np.arange(len(faces)) % 7
    by_brightness = lambda x: (x.reshape(len(x), -1).mean(1) // 37).astype(int) % 7  # noqa: E731
    reports = rb.robustness_report({"a": predictor("a", by_brightness), "b": predictor("b", lambda x: labels)},
                                   faces, labels, corruptions="lighting,jpeg", levels=[1, 3], progress=False)
    assert len(seen["a"]) == 1 + 6 * 2 and all(np.array_equal(p, q) for p, q in zip(seen["a"], seen["b"]))
    assert reports["b"]["clean"]["accuracy"] == 1 and reports["b"]["mean_corrupted_accuracy"] == 1
    assert list(reports["a"]["corruptions"]) == ["gamma_dark", "gamma_bright", "brightness", "contrast",
                                                 "side_light", "jpeg"]
    assert set(reports["a"]["corruptions"]["jpeg"]["severities"]) == {"1", "3"}
    # the same seed gives the same report; a subset of corruptions gives the same numbers for them
    again = rb.robustness_report({"a": predictor("a", by_brightness)}, faces, labels, corruptions="jpeg",
                                 levels=[1, 3], progress=False)
    assert again["a"]["corruptions"]["jpeg"] == reports["a"]["corruptions"]["jpeg"]
    with pytest.raises(UsageError, match=r"bad: predict gave shape \(24, 3\)"):
        rb.robustness_report({"bad": lambda x: np.zeros((len(x), 3))}, faces, labels, progress=False)
    assert set(reports["a"]["clean"]["recall"]) == set(EMOTIONS)


def test_predictions_block_by_block_equal_one_run(faces):
    labels = np.arange(len(faces)) % 7
    predict = {"m": lambda x: np.eye(7)[(x.reshape(len(x), -1).mean(1) // 9).astype(int) % 7]}
    kw = dict(corruptions="noise,jitter,hand", levels=[2], seed=3, progress=False)
    whole = rb.condition_predictions(predict, faces, **kw)["m"]
    blocks = [rb.condition_predictions(predict, faces, subset=b, **kw)["m"] for b in np.array_split(np.arange(24), 3)]
    assert all(np.array_equal(whole[c], np.concatenate([b[c] for b in blocks])) for c in whole)
    assert rb.summarize(labels, whole, 3) == rb.robustness_report(predict, faces, labels, **kw)["m"]
